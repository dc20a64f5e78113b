#include "libcommon/sign/aws_chunked.h"

#include <algorithm>
#include <utility>

#include "libcommon/util/hash.h"
#include "libcommon/util/strings.h"

namespace lens::sign {

namespace {

constexpr std::string_view kSignatureExtension = ";chunk-signature=";
constexpr std::size_t kSignatureHexDigits = 64;
constexpr std::size_t kMaxSizeDigits = 16;
// hex size, extension, signature and the CR: anything longer is not a
// chunk-size line.
constexpr std::size_t kMaxSizeLine =
    kMaxSizeDigits + kSignatureExtension.size() + kSignatureHexDigits + 1;
constexpr std::string_view kCrLf = "\r\n";

// SHA-256 of the empty string: the "previous chunk's trailer" every chunk's
// string to sign carries.
constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string toHex(std::uint64_t value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), kHex[value & 0xf]);
    value >>= 4;
  } while (value != 0);
  return out;
}

std::uint64_t encodedChunkLength(std::uint64_t dataSize) {
  return toHex(dataSize).size() + kSignatureExtension.size() + kSignatureHexDigits + kCrLf.size() +
         dataSize + kCrLf.size();
}

std::string buildChunkStringToSign(std::string_view amzDate, std::string_view scope,
                                   std::string_view previousSignature, std::string_view chunkData) {
  std::string out(kChunkAlgorithm);
  out.append("\n").append(amzDate);
  out.append("\n").append(scope);
  out.append("\n").append(previousSignature);
  out.append("\n").append(kEmptySha256);
  out.append("\n").append(util::sha256Hex(chunkData));
  return out;
}

}  // namespace

std::string chunkStringToSign(const SigningContext& ctx, std::string_view previousSignature,
                              std::string_view chunkData) {
  return buildChunkStringToSign(formatAmzDate(ctx.timestamp), credentialScope(ctx),
                                previousSignature, chunkData);
}

ChunkSigner::ChunkSigner(const SigningContext& ctx, std::string seedSignature)
    : key_(deriveSigningKey(ctx)),
      amzDate_(formatAmzDate(ctx.timestamp)),
      scope_(credentialScope(ctx)),
      previous_(std::move(seedSignature)) {}

std::string ChunkSigner::next(std::string_view chunkData) {
  previous_ = signature(key_, buildChunkStringToSign(amzDate_, scope_, previous_, chunkData));
  return previous_;
}

std::uint64_t awsChunkedLength(std::uint64_t payloadSize, std::size_t chunkSize) {
  const std::uint64_t full = payloadSize / chunkSize;
  const std::uint64_t rest = payloadSize % chunkSize;
  std::uint64_t length = full * encodedChunkLength(chunkSize) + encodedChunkLength(0);
  if (rest != 0) length += encodedChunkLength(rest);
  return length;
}

void appendChunk(std::string& out, std::string_view sizeText, std::string_view signature,
                 std::string_view data) {
  out.append(sizeText).append(kSignatureExtension).append(signature).append(kCrLf);
  out.append(data).append(kCrLf);
}

Status prepareStreamingRequest(http::RawRequest& request, std::size_t chunkSize) {
  if (chunkSize == 0) return makeError(ErrorCode::kInvalidArgument, "chunk size is 0");
  if (request.countHeader("transfer-encoding") != 0) {
    return makeError(ErrorCode::kInvalidInput,
                     "an aws-chunked body needs a Content-Length, but the request has "
                     "Transfer-Encoding");
  }
  std::string encoding(kAwsChunkedEncoding);
  for (const http::HeaderField& field : request.headers) {
    if (!util::iequals(field.name, "content-encoding")) continue;
    const std::string value = field.value();
    if (!value.empty()) encoding.append(",").append(value);
  }
  request.removeHeaders("content-encoding");
  request.removeHeaders(kDecodedLengthHeader);
  request.removeHeaders("content-length");
  request.addHeader("Content-Encoding", encoding);
  request.addHeader(std::string(kDecodedLengthHeader), std::to_string(request.body.size()));
  request.addHeader("Content-Length",
                    std::to_string(awsChunkedLength(request.body.size(), chunkSize)));
  return Ok{};
}

std::string encodeAwsChunked(std::string_view payload, std::size_t chunkSize, ChunkSigner& signer) {
  std::string out;
  out.reserve(awsChunkedLength(payload.size(), chunkSize));
  for (std::size_t pos = 0; pos < payload.size(); pos += chunkSize) {
    const std::string_view data = payload.substr(pos, chunkSize);
    appendChunk(out, toHex(data.size()), signer.next(data), data);
  }
  appendChunk(out, "0", signer.next({}), {});
  return out;
}

AwsChunkedDecoder::AwsChunkedDecoder(AwsChunkedLimits limits, ChunkHandler handler)
    : limits_(limits), handler_(std::move(handler)) {}

Status AwsChunkedDecoder::fail(ErrorCode code, const std::string& what) {
  state_ = State::kFailed;
  return makeError(code, "aws-chunked body, chunk " + std::to_string(chunkIndex_ + 1) +
                             " (body byte " + std::to_string(offset_) + "): " + what);
}

Status AwsChunkedDecoder::endSizeLine() {
  // line_ holds the line and its CR; the LF has been consumed.
  if (line_.empty() || line_.back() != '\r') {
    return fail(ErrorCode::kInvalidInput, "chunk-size line ends with a bare LF (CRLF required)");
  }
  std::string_view line(line_);
  line.remove_suffix(1);
  if (line.find('\r') != std::string_view::npos) {
    return fail(ErrorCode::kInvalidInput, "carriage return inside the chunk-size line");
  }
  const std::size_t semicolon = line.find(';');
  if (semicolon == std::string_view::npos) {
    return fail(ErrorCode::kInvalidInput, "chunk size not followed by ;chunk-signature=");
  }
  const std::string_view size = line.substr(0, semicolon);
  if (size.empty() || size.size() > kMaxSizeDigits ||
      !std::all_of(size.begin(), size.end(), [](char c) { return util::hexDigitValue(c) >= 0; })) {
    return fail(ErrorCode::kInvalidInput, "chunk size is not 1 to 16 hex digits");
  }
  const std::string_view extension = line.substr(semicolon);
  if (!extension.starts_with(kSignatureExtension)) {
    return fail(ErrorCode::kInvalidInput,
                "the chunk extension is not chunk-signature= (the only one aws-chunked has)");
  }
  const std::string_view signature = extension.substr(kSignatureExtension.size());
  if (signature.size() != kSignatureHexDigits || !util::isLowerHex(signature)) {
    return fail(ErrorCode::kInvalidInput, "chunk-signature is not 64 lower-case hex digits");
  }
  std::uint64_t value = 0;
  for (char c : size) value = value * 16 + static_cast<std::uint64_t>(util::hexDigitValue(c));
  if (value > limits_.maxChunkBytes) {
    return fail(ErrorCode::kLimit, "chunk of " + std::to_string(value) +
                                       " bytes exceeds the limit of " +
                                       std::to_string(limits_.maxChunkBytes) + " bytes");
  }
  if (limits_.decodedLength && decodedBytes_ + value > *limits_.decodedLength) {
    return fail(ErrorCode::kInvalidInput, "the chunks hold more than the " +
                                              std::to_string(*limits_.decodedLength) +
                                              " bytes of x-amz-decoded-content-length");
  }
  sizeText_ = std::string(size);
  signature_ = std::string(signature);
  chunkSize_ = value;
  data_.clear();
  data_.reserve(static_cast<std::size_t>(value));
  line_.clear();
  state_ = value == 0 ? State::kDataEnd : State::kData;
  return Ok{};
}

Status AwsChunkedDecoder::endChunk() {
  decodedBytes_ += chunkSize_;
  const bool final = chunkSize_ == 0;
  if (final && limits_.decodedLength && decodedBytes_ != *limits_.decodedLength) {
    return fail(ErrorCode::kInvalidInput, "the chunks hold " + std::to_string(decodedBytes_) +
                                              " bytes but x-amz-decoded-content-length is " +
                                              std::to_string(*limits_.decodedLength));
  }
  const AwsChunk chunk{chunkIndex_, sizeText_, signature_, data_};
  if (auto ok = handler_(chunk); !ok) {
    state_ = State::kFailed;
    return ok;
  }
  line_.clear();
  state_ = final ? State::kDone : State::kSizeLine;
  if (!final) ++chunkIndex_;
  return Ok{};
}

Status AwsChunkedDecoder::feed(std::string_view input) {
  std::size_t pos = 0;
  while (pos < input.size()) {
    switch (state_) {
      case State::kFailed:
        return makeError(ErrorCode::kInvalidInput, "aws-chunked body: already failed");
      case State::kDone:
        // How much follows is not known yet (the rest may still be on its
        // way), so the message does not count it.
        return fail(ErrorCode::kInvalidInput, "data after the final chunk");
      case State::kSizeLine: {
        const char c = input[pos];
        if (c == '\n') {
          ++pos;
          ++offset_;
          if (auto ok = endSizeLine(); !ok) return ok;
          break;
        }
        if (line_.size() >= kMaxSizeLine) {
          return fail(ErrorCode::kInvalidInput,
                      "chunk-size line longer than " + std::to_string(kMaxSizeLine) + " bytes");
        }
        line_.push_back(c);
        ++pos;
        ++offset_;
        break;
      }
      case State::kData: {
        const std::size_t take = static_cast<std::size_t>(
            std::min<std::uint64_t>(chunkSize_ - data_.size(), input.size() - pos));
        data_.append(input.substr(pos, take));
        pos += take;
        offset_ += take;
        if (data_.size() == chunkSize_) state_ = State::kDataEnd;
        break;
      }
      case State::kDataEnd: {
        // line_ collects the CRLF after the data.
        const char expected = kCrLf[line_.size()];
        if (input[pos] != expected) {
          return fail(ErrorCode::kInvalidInput,
                      chunkSize_ == 0
                          ? "the final chunk is not followed by CRLF"
                          : "chunk data not followed by CRLF (the chunk is longer than its "
                            "size says)");
        }
        line_.push_back(input[pos]);
        ++pos;
        ++offset_;
        if (line_.size() == kCrLf.size()) {
          if (auto ok = endChunk(); !ok) return ok;
        }
        break;
      }
    }
  }
  return Ok{};
}

Status AwsChunkedDecoder::finish() const {
  switch (state_) {
    case State::kDone:
      return Ok{};
    case State::kFailed:
      return makeError(ErrorCode::kInvalidInput, "aws-chunked body: already failed");
    default:
      return makeError(ErrorCode::kInvalidInput, "aws-chunked body ends inside chunk " +
                                                     std::to_string(chunkIndex_ + 1) + " (after " +
                                                     std::to_string(offset_) +
                                                     " bytes), before the final chunk");
  }
}

AwsChunkedResigner::AwsChunkedResigner(ChunkSigner signer, AwsChunkedLimits limits)
    : signer_(std::move(signer)), decoder_(limits, [this](const AwsChunk& chunk) -> Status {
        appendChunk(*out_, chunk.sizeText, signer_.next(chunk.data), chunk.data);
        return Ok{};
      }) {}

Status AwsChunkedResigner::feed(std::string_view input, std::string& out) {
  out_ = &out;
  Status status = decoder_.feed(input);
  out_ = nullptr;
  return status;
}

}  // namespace lens::sign
