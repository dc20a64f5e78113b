#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "libcommon/http/framing.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/util/result.h"

namespace lens::http {

// Reads a request body a proxy must see whole before anything of it goes
// on (body rules, original-behaviour 5.8): bounded, never truncated. A
// chunked body is de-chunked (trailers dropped), so that the request is
// forwarded with a Content-Length (reframe()).
//
// Refused by start(): a Content-Encoding other than identity, a multipart
// body (kDenied: the proxy cannot read them); a Content-Length over the
// limit (kLimit). By feed(): a chunked body whose data passes the limit, or
// whose framing passes twice the limit plus 128 KiB (chunk-size lines and
// trailers; kLimit); malformed chunked framing (kInvalidInput).
class BodyReader {
 public:
  [[nodiscard]] static Result<BodyReader> start(const RawRequest& head, Framing framing,
                                                std::uint64_t contentLength, std::size_t limit);

  // Takes body bytes from the front of `data`; returns how many belong to
  // the body (all of them until it ends).
  [[nodiscard]] Result<std::size_t> feed(std::string_view data);
  [[nodiscard]] bool done() const;
  // The body, decoded; whole once done().
  [[nodiscard]] std::string& body() { return body_; }

 private:
  BodyReader(Framing framing, std::uint64_t length, std::size_t limit)
      : framing_(framing), remaining_(length), limit_(limit) {}

  Framing framing_ = Framing::kNone;
  std::uint64_t remaining_ = 0;  // kLength
  std::size_t limit_ = 0;
  std::uint64_t framed_ = 0;  // kChunked: bytes taken, framing included
  ChunkedScanner chunked_;
  std::string body_;
};

// A request whose body was read whole: sent with `Content-Length: length`,
// without Transfer-Encoding or Expect (the proxy answered 100-continue
// itself).
void reframe(RawRequest& head, std::size_t length);

// The request asks for 100 (Continue) before it sends its body.
[[nodiscard]] bool expectsContinue(const RawRequest& head);

}  // namespace lens::http
