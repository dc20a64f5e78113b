#include "libcommon/http/framing.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "libcommon/util/invariant.h"
#include "libcommon/util/strings.h"

namespace lens::http {

namespace {

constexpr std::size_t kMaxSizeLine = 4096;
constexpr std::size_t kMaxTrailers = 64 * 1024;
constexpr std::size_t kMaxSizeDigits = 15;

Error malformed(std::string_view what) {
  return makeError(ErrorCode::kInvalidInput, "malformed chunked body: " + std::string(what));
}

// A CR that does not end its line, or a NUL (RFC 9110 section 5.5: reject
// or replace; a proxy that relays lines byte for byte must reject).
bool hasBareCrOrNul(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

Result<std::size_t> ChunkedScanner::feed(std::string_view data, std::string* decoded,
                                         std::string* trailers) {
  std::size_t i = 0;
  auto fail = [this](std::string_view what) {
    state_ = State::kError;
    return malformed(what);
  };
  while (i < data.size() && state_ != State::kDone) {
    if (state_ == State::kError) return malformed("after an earlier error");
    if (state_ == State::kData) {
      const std::size_t take =
          static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size() - i));
      if (decoded != nullptr) decoded->append(data.substr(i, take));
      i += take;
      remaining_ -= take;
      if (remaining_ == 0) state_ = State::kDataCr;
      continue;
    }
    const char c = data[i++];
    const State was = state_;
    switch (state_) {
      case State::kSize: {
        const int v = util::hexDigitValue(c);
        if (v >= 0) {
          if (++digits_ > kMaxSizeDigits) return fail("chunk size too large");
          size_ = size_ * 16 + static_cast<std::uint64_t>(v);
          break;
        }
        if (digits_ == 0) return fail("chunk size is not a hex number");
        if (c == ' ' || c == '\t') {
          state_ = State::kSizeSpace;
        } else if (c == ';') {
          state_ = State::kExtension;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else {
          return fail("invalid character after the chunk size");
        }
        break;
      }
      case State::kSizeSpace:
        if (c == ';') {
          state_ = State::kExtension;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c != ' ' && c != '\t') {
          return fail("invalid character after the chunk size");
        }
        break;
      case State::kExtension:
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == '\n' || (static_cast<unsigned char>(c) < 0x20 && c != '\t')) {
          return fail("control character in a chunk extension");
        }
        break;
      case State::kSizeLf:
        if (c != '\n') return fail("chunk size line does not end with CRLF");
        if (size_ == 0) {
          state_ = State::kTrailerStart;
        } else {
          remaining_ = size_;
          state_ = State::kData;
        }
        size_ = 0;
        digits_ = 0;
        lineBytes_ = 0;
        continue;  // lineBytes_ was reset
      case State::kDataCr:
        if (c != '\r') return fail("chunk data is not followed by CRLF");
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') return fail("chunk data is not followed by CRLF");
        state_ = State::kSize;
        break;
      case State::kTrailerStart:
        if (c == '\r') {
          state_ = State::kFinalLf;
        } else if (c == '\n' || c == ' ' || c == '\t') {
          return fail("malformed trailer line");
        } else {
          state_ = State::kTrailerLine;
        }
        break;
      case State::kTrailerLine:
        if (c == '\r')
          state_ = State::kTrailerLf;
        else if (c == '\n')
          return fail("trailer line does not end with CRLF");
        break;
      case State::kTrailerLf:
        if (c != '\n') return fail("trailer line does not end with CRLF");
        state_ = State::kTrailerStart;
        break;
      case State::kFinalLf:
        if (c != '\n') return fail("the last chunk is not followed by CRLF");
        state_ = State::kDone;
        break;
      case State::kData:
      case State::kDone:
      case State::kError:
        break;
    }
    if (trailers != nullptr && (was == State::kTrailerLine || was == State::kTrailerLf ||
                                (was == State::kTrailerStart && state_ == State::kTrailerLine)))
      trailers->push_back(c);
    if (state_ == State::kSize || state_ == State::kSizeSpace || state_ == State::kExtension ||
        state_ == State::kSizeLf) {
      if (++lineBytes_ > kMaxSizeLine) return fail("chunk size line too long");
    } else if (state_ == State::kTrailerLine || state_ == State::kTrailerLf ||
               state_ == State::kTrailerStart || state_ == State::kFinalLf) {
      if (++trailerBytes_ > kMaxTrailers) return fail("trailer section too long");
    }
  }
  return i;
}

Result<std::size_t> BodyTracker::feed(std::string_view data) {
  switch (framing_) {
    case Framing::kNone:
      return std::size_t{0};
    case Framing::kUntilClose:
      return data.size();
    case Framing::kLength: {
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size()));
      remaining_ -= take;
      return take;
    }
    case Framing::kChunked:
      return chunked_.feed(data);
  }
  return std::size_t{0};
}

void BodyTracker::skip(std::uint64_t n) {
  LENS_INVARIANT(
      framing_ == Framing::kUntilClose || (framing_ == Framing::kLength && n <= remaining_),
      "only a body whose end is a length or the close can be passed on unseen");
  if (framing_ == Framing::kLength) remaining_ -= n;
}

bool BodyTracker::done() const {
  switch (framing_) {
    case Framing::kNone:
      return true;
    case Framing::kUntilClose:
      return false;
    case Framing::kLength:
      return remaining_ == 0;
    case Framing::kChunked:
      return chunked_.done();
  }
  return true;
}

Result<ResponseHead> parseResponseHead(std::string_view head, std::string_view requestMethod) {
  auto bad = [](std::string what) {
    return makeError(ErrorCode::kInvalidInput, "malformed response: " + what);
  };
  ResponseHead out;
  std::size_t eol = head.find('\n');
  if (hasBareCrOrNul(head.substr(0, eol))) return bad("CR or NUL in the status line");
  std::string_view line = trimmed(head.substr(0, eol));
  // HTTP/1.x SP 3DIGIT [SP reason]
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || (line[7] != '0' && line[7] != '1') ||
      line[8] != ' ') {
    return bad("status line");
  }
  out.version = std::string(line.substr(0, 8));
  const auto code = util::parseDecimal(line.substr(9, 3), 999);
  if (!code || *code < 100 || (line.size() > 12 && line[12] != ' ')) return bad("status code");
  out.status = static_cast<int>(*code);

  std::optional<std::uint64_t> length;
  std::string codings;
  bool keepAlive = false;
  bool lengthError = false;
  std::size_t pos = eol == std::string_view::npos ? head.size() : eol + 1;
  while (pos < head.size()) {
    eol = head.find('\n', pos);
    std::string_view field =
        head.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? head.size() : eol + 1;
    if (hasBareCrOrNul(field)) return bad("CR or NUL in a header line");
    if (!field.empty() && field.back() == '\r') field.remove_suffix(1);
    if (field.empty()) break;
    if (field.front() == ' ' || field.front() == '\t') return bad("obsolete line folding");
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return bad("header line");
    const std::string_view name = field.substr(0, colon);
    if (name.find_first_of(" \t") != std::string_view::npos)
      return bad("whitespace in a header name");
    const std::string_view value = trimmed(field.substr(colon + 1));
    if (util::iequals(name, "content-length")) {
      const auto n = util::parseDecimal(value, std::numeric_limits<long>::max());
      if (!n || (length && *length != *n)) lengthError = true;
      if (n) length = *n;
    } else if (util::iequals(name, "transfer-encoding")) {
      if (!codings.empty()) codings += ',';
      codings += value;
    } else if (util::iequals(name, "connection")) {
      for (std::string_view item : util::split(value, ',')) {
        if (util::iequals(trimmed(item), "close")) out.close = true;
        if (util::iequals(trimmed(item), "keep-alive")) keepAlive = true;
      }
    } else if (util::iequals(name, "sec-websocket-extensions")) {
      out.webSocketExtensions = true;
    }
  }
  if (out.version == "HTTP/1.0" && !keepAlive) out.close = true;

  if (requestMethod == "HEAD" || out.status < 200 || out.status == 204 || out.status == 304) {
    out.framing = Framing::kNone;
    return out;
  }
  if (!codings.empty()) {
    const auto items = util::split(codings, ',');
    out.framing =
        util::iequals(trimmed(items.back()), "chunked") ? Framing::kChunked : Framing::kUntilClose;
    if (out.framing == Framing::kUntilClose) out.close = true;
    return out;
  }
  if (lengthError) return bad("invalid or conflicting Content-Length");
  if (length) {
    out.framing = *length == 0 ? Framing::kNone : Framing::kLength;
    out.contentLength = *length;
    return out;
  }
  out.framing = Framing::kUntilClose;
  out.close = true;
  return out;
}

}  // namespace lens::http
