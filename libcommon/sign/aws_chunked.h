#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "libcommon/http/raw_request.h"
#include "libcommon/sign/sigv4.h"
#include "libcommon/util/result.h"

// aws-chunked bodies signed chunk by chunk (x-amz-content-sha256:
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD), as Amazon S3 documents them:
//
//   chunk = hex(size) ";chunk-signature=" signature CRLF data CRLF
//
// ending with a chunk of size 0. The seed signature is the request's own
// (header) signature; each chunk's signature is an HMAC over
//
//   AWS4-HMAC-SHA256-PAYLOAD \n amz-date \n scope \n previous signature \n
//   SHA-256("") \n SHA-256(data)
//
// so the chunks are chained to the request and to each other.
namespace lens::sign {

inline constexpr std::string_view kChunkAlgorithm = "AWS4-HMAC-SHA256-PAYLOAD";
inline constexpr std::string_view kAwsChunkedEncoding = "aws-chunked";
inline constexpr std::string_view kDecodedLengthHeader = "x-amz-decoded-content-length";

// The string to sign of one chunk.
std::string chunkStringToSign(const SigningContext& ctx, std::string_view previousSignature,
                              std::string_view chunkData);

// Signs the chunks of one body in order: the first with the seed signature
// as the previous one, then each with the signature of the chunk before.
// Holds the signing key (wiped on destruction), never the secret key.
class ChunkSigner {
 public:
  ChunkSigner(const SigningContext& ctx, std::string seedSignature);

  // The signature of the next chunk (the final empty chunk last).
  std::string next(std::string_view chunkData);
  [[nodiscard]] const std::string& previousSignature() const { return previous_; }

 private:
  SigningKey key_;
  std::string amzDate_;
  std::string scope_;
  std::string previous_;
};

// The encoded length of a payload of `payloadSize` bytes cut into chunks of
// `chunkSize` bytes (the last one shorter), final empty chunk included.
std::uint64_t awsChunkedLength(std::uint64_t payloadSize, std::size_t chunkSize);

// Appends one signed chunk; `sizeText` is the chunk size in hex as it is to
// be written (a re-signed chunk keeps the client's spelling, so the body
// keeps its length).
void appendChunk(std::string& out, std::string_view sizeText, std::string_view signature,
                 std::string_view data);

// Prepares `request` (its body the decoded payload) for a streaming
// signature: Content-Encoding gets aws-chunked (first, before any encoding
// the request already has), x-amz-decoded-content-length the payload size,
// Content-Length the encoded size. Sign the result with
// PayloadMode::kStreaming, then replace its body with encodeAwsChunked().
// Refuses a request with Transfer-Encoding or a chunk size of 0.
[[nodiscard]] Status prepareStreamingRequest(http::RawRequest& request, std::size_t chunkSize);

// The whole aws-chunked encoding of `payload` (lower-case hex sizes).
std::string encodeAwsChunked(std::string_view payload, std::size_t chunkSize, ChunkSigner& signer);

// One chunk of an aws-chunked body as it was received.
struct AwsChunk {
  std::uint64_t index = 0;    // 0 for the first chunk
  std::string_view sizeText;  // the hex digits as received
  std::string_view signature;
  std::string_view data;  // empty for the final chunk
  [[nodiscard]] bool final() const { return data.empty(); }
};

struct AwsChunkedLimits {
  // The largest chunk accepted. S3 clients send 8 KiB to a few MiB.
  std::size_t maxChunkBytes = 16 * 1024 * 1024;
  // The decoded length the request announces (x-amz-decoded-content-length):
  // more data, or less when the body ends, is an error.
  std::optional<std::uint64_t> decodedLength;
};

// Reads an aws-chunked body as it arrives, in pieces of any size, and hands
// each complete chunk to a callback. Holds at most one chunk (bounded by
// maxChunkBytes) and one chunk-size line, never the whole body.
//
// The grammar is strict: the size is 1 to 16 hex digits, the only extension
// is chunk-signature= with 64 lower-case hex digits, lines end with CRLF,
// nothing may follow the final chunk. Errors are ErrorCode::kInvalidInput
// (kLimit for a chunk over the limit) and name the chunk and the body
// offset where the problem is.
class AwsChunkedDecoder {
 public:
  using ChunkHandler = std::function<Status(const AwsChunk&)>;

  AwsChunkedDecoder(AwsChunkedLimits limits, ChunkHandler handler);

  // Consumes `input`; stops at the first error (and fails again if called
  // after one), or with the error the handler returns.
  [[nodiscard]] Status feed(std::string_view input);
  // The body has ended: fails unless the final chunk was read (and the
  // decoded length announced was met).
  [[nodiscard]] Status finish() const;

  [[nodiscard]] bool complete() const { return state_ == State::kDone; }
  [[nodiscard]] std::uint64_t decodedBytes() const { return decodedBytes_; }

 private:
  enum class State { kSizeLine, kData, kDataEnd, kDone, kFailed };

  Status fail(ErrorCode code, const std::string& what);
  Status endSizeLine();
  Status endChunk();

  AwsChunkedLimits limits_;
  ChunkHandler handler_;
  State state_ = State::kSizeLine;
  std::string line_;  // the size line read so far
  std::string data_;  // the chunk's data read so far
  std::string sizeText_;
  std::string signature_;
  std::uint64_t chunkSize_ = 0;
  std::uint64_t chunkIndex_ = 0;
  std::uint64_t offset_ = 0;  // body bytes consumed
  std::uint64_t decodedBytes_ = 0;
};

// Re-signs an aws-chunked body chunk by chunk: each chunk the client signed
// (with whatever key) is written again with its data and size spelling
// unchanged and a signature chained from a new seed, so the body keeps its
// length (and the request its Content-Length).
class AwsChunkedResigner {
 public:
  AwsChunkedResigner(ChunkSigner signer, AwsChunkedLimits limits);
  AwsChunkedResigner(const AwsChunkedResigner&) = delete;
  AwsChunkedResigner& operator=(const AwsChunkedResigner&) = delete;

  // Consumes `input`; appends every chunk it completes, re-signed, to `out`.
  [[nodiscard]] Status feed(std::string_view input, std::string& out);
  [[nodiscard]] Status finish() const { return decoder_.finish(); }
  [[nodiscard]] bool complete() const { return decoder_.complete(); }

 private:
  ChunkSigner signer_;
  std::string* out_ = nullptr;
  AwsChunkedDecoder decoder_;
};

}  // namespace lens::sign
