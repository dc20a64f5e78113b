#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "libcommon/util/result.h"

namespace lens::http {

// How the body of an HTTP/1.1 message is delimited (RFC 9112 section 6).
enum class Framing : std::uint8_t {
  kNone,        // no body
  kLength,      // Content-Length bytes
  kChunked,     // chunked transfer coding, up to the last chunk and trailers
  kUntilClose,  // responses only: everything until the server closes
};

// Finds the end of a chunked body in a stream of bytes, without decoding it
// (the bytes are relayed as they are). Strict: chunk-size lines, the CRLF
// after each chunk's data and the trailer lines must end with CRLF; sizes
// are hex with at most 15 digits; a size line (extensions included) is at
// most 4 KiB and the trailer section at most 64 KiB. A proxy that is lenient
// here would find a different end than the origin: request smuggling.
class ChunkedScanner {
 public:
  // Scans the next bytes of the body; returns how many of them belong to it
  // (fewer than data.size() only when the body ends inside `data`).
  // ErrorCode::kInvalidInput on malformed framing; the scanner is then stuck.
  // With `decoded`, the chunks' data is appended to it; with `trailers`,
  // the trailer lines (each ending with CRLF, the final empty line not).
  [[nodiscard]] Result<std::size_t> feed(std::string_view data, std::string* decoded = nullptr,
                                         std::string* trailers = nullptr);
  [[nodiscard]] bool done() const { return state_ == State::kDone; }

 private:
  enum class State : std::uint8_t {
    kSize,          // hex digits of a chunk size
    kSizeSpace,     // spaces after the size, before ';' or CR
    kExtension,     // chunk extension, up to CR
    kSizeLf,        // the LF after the size line's CR
    kData,          // chunk data
    kDataCr,        // the CR after chunk data
    kDataLf,        // the LF after chunk data
    kTrailerStart,  // the start of a trailer line (or the final CRLF)
    kTrailerLine,   // inside a trailer line, up to CR
    kTrailerLf,     // the LF after a trailer line's CR
    kFinalLf,       // the LF of the final empty line
    kDone,
    kError,
  };
  State state_ = State::kSize;
  std::uint64_t size_ = 0;       // current chunk's size
  std::uint64_t remaining_ = 0;  // data bytes left in the current chunk
  std::size_t digits_ = 0;
  std::size_t lineBytes_ = 0;  // bytes of the current size line
  std::size_t trailerBytes_ = 0;
};

// Counts down a body of known length, or scans a chunked one.
class BodyTracker {
 public:
  BodyTracker() = default;
  BodyTracker(Framing framing, std::uint64_t length) : framing_(framing), remaining_(length) {}

  // How many bytes of `data` belong to the body (all of them for kUntilClose).
  [[nodiscard]] Result<std::size_t> feed(std::string_view data);
  // Counts `n` bytes of a kLength or kUntilClose body that went through
  // unseen (spliced); at most remaining() of a kLength body.
  void skip(std::uint64_t n);
  // Bytes a kLength body still has (0 for the other framings).
  [[nodiscard]] std::uint64_t remaining() const {
    return framing_ == Framing::kLength ? remaining_ : 0;
  }
  // True once the whole body went through (never for kUntilClose).
  [[nodiscard]] bool done() const;
  [[nodiscard]] Framing framing() const { return framing_; }

 private:
  Framing framing_ = Framing::kNone;
  std::uint64_t remaining_ = 0;
  ChunkedScanner chunked_;
};

// The head of a response, as a proxy needs it to relay the body.
struct ResponseHead {
  int status = 0;
  std::string version;  // "HTTP/1.1" or "HTTP/1.0"
  Framing framing = Framing::kUntilClose;
  std::uint64_t contentLength = 0;
  bool close = false;  // the server closes the connection after this response
  // A Sec-WebSocket-Extensions field: a 101 negotiated a WebSocket extension.
  bool webSocketExtensions = false;
};

// Parses a response head (status line, header fields, empty line; where
// it ends is found with findHeadEnd() of raw_request.h) and
// decides its body's framing for a request with method `requestMethod`
// (RFC 9112 section 6.3): none for HEAD, 1xx, 204 and 304; chunked when
// Transfer-Encoding ends with chunked, until close for another
// Transfer-Encoding; Content-Length; else until close. Malformed heads,
// conflicting or repeated Content-Length, obsolete line folding, a CR that
// does not end a line and a NUL (RFC 9110 section 5.5) are
// ErrorCode::kInvalidInput. Lines end with CRLF or a bare LF.
[[nodiscard]] Result<ResponseHead> parseResponseHead(std::string_view head,
                                                     std::string_view requestMethod);

}  // namespace lens::http
