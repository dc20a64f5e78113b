#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/http/framing.h"
#include "libcommon/util/result.h"

namespace lens::proxy {

// An HTTP/2 stream is judged, injected, re-signed and relayed by the same
// pipeline as an HTTP/1.1 request inside an intercepted connection
// (DESIGN.md 5a): the stream's request is written as the HTTP/1.1 message
// that pipeline reads, and the HTTP/1.1 answer it writes (the origin's
// response, or the proxy's own refusal) is read back into HTTP/2 frames.
// Both directions are framed here, by the proxy, never by the client's
// bytes: the request body goes with the Content-Length the stream declared
// (which nghttp2 holds the DATA to) or chunked, the response is parsed as
// strictly as any origin response.

struct H2Field {
  std::string name;  // lower case (HTTP/2 field names are)
  std::string value;
};

// Connection management of HTTP/1.1 that HTTP/2 has no place for (RFC 9113
// section 8.2.2): connection, keep-alive, proxy-connection,
// transfer-encoding, upgrade, te. `lowerName` in lower case.
[[nodiscard]] bool isConnectionSpecific(std::string_view lowerName);

// "Name: value" lines (CRLF or LF; no folding) into lower-case fields,
// the connection-specific ones left out; up to an empty line.
[[nodiscard]] Status parseFieldLines(std::string_view lines, std::vector<H2Field>& out);

// The request of one stream, as HTTP/1.1.
struct H1Request {
  std::string head;  // request line, Host first, the fields, framing, empty line
  std::string method;
  bool chunked = false;  // the body follows chunked (no content-length was declared)
  // RFC 8441: an extended CONNECT for a WebSocket, written as the HTTP/1.1
  // handshake (GET, Upgrade: websocket, a fresh Sec-WebSocket-Key); after
  // the answer's 101 the stream's DATA are the socket's bytes both ways.
  bool webSocket = false;
};

// Writes a stream's request (its fields as nghttp2 accepted them: valid
// names and values, no connection-specific fields, pseudo-fields first) as
// an HTTP/1.1 head. `endStream`: the HEADERS frame ended the stream (no
// body). Refused (ErrorCode::kInvalidInput, the stream gets 400): a
// missing or repeated :method, :scheme or :path, a :scheme other than
// https, no :authority and no host, a host that disagrees with :authority,
// a plain CONNECT, an extended CONNECT (RFC 8441) for a :protocol other
// than websocket, :protocol without CONNECT, an unknown pseudo-field, a `te`
// other than "trailers", a Transfer-Encoding field. An extended CONNECT for
// websocket becomes the HTTP/1.1 WebSocket handshake of RFC 6455 (its
// Sec-WebSocket-Key made here; a key or length the client sent is
// dropped). Cookie crumbs are joined with "; " (RFC 9113
// section 8.2.3). A `te: trailers` field is dropped (hop-by-hop; the
// pipeline would drop it anyway).
[[nodiscard]] Result<H1Request> h1RequestFromH2(const std::vector<H2Field>& fields, bool endStream);

// Reads the HTTP/1.1 response the pipeline writes for one stream, as it
// arrives, into what the HTTP/2 stream sends: interim responses, the
// final head, body bytes, trailers, the end.
class H1ResponseReader {
 public:
  // What decode() found; the caller takes it from the members below.
  enum class Event : std::uint8_t {
    kNeedMore,  // nothing whole yet
    kInterim,   // a 1xx (other than 101): status() and fields()
    kHead,      // the final response head: status() and fields(); whole when ended()
    kData,      // body bytes: data()
    kTrailers,  // the chunked body's trailer fields: fields(); the answer is whole
    kEnd,       // the response is whole
  };

  // `method`: of the request (a HEAD response has no body). `webSocket`:
  // the request was an extended CONNECT (H1Request::webSocket): a 101 is
  // its success, read as a 200 head whose body is the socket's bytes until
  // the close (Sec-WebSocket-Accept left out, RFC 8441 section 5); another
  // 2xx is an error (the origin did not switch protocols).
  explicit H1ResponseReader(std::string method, bool webSocket = false)
      : method_(std::move(method)), webSocket_(webSocket) {}

  // Takes what it can from the front of `in` (erasing it) and says what it
  // found; call again until kNeedMore. `eof`: nothing more will come (a
  // body delimited by the close ends there). A malformed response, a 101
  // (but to a WebSocket), or bytes past the response's end are errors (ErrorCode::kInvalidInput).
  [[nodiscard]] Result<Event> decode(std::string& in, bool eof);

  [[nodiscard]] int status() const { return status_; }
  [[nodiscard]] const std::vector<H2Field>& fields() const { return fields_; }
  [[nodiscard]] std::string& data() { return data_; }
  [[nodiscard]] bool ended() const { return phase_ == Phase::kEnded; }
  [[nodiscard]] bool headSeen() const { return phase_ != Phase::kHead; }
  // The final head declared a length (content-length is passed on).
  [[nodiscard]] http::Framing framing() const { return framing_; }

 private:
  enum class Phase : std::uint8_t { kHead, kBody, kEnded };
  [[nodiscard]] Result<Event> decodeHead(std::string& in);

  std::string method_;
  bool webSocket_ = false;
  Phase phase_ = Phase::kHead;
  int status_ = 0;
  std::vector<H2Field> fields_;
  std::string data_;
  http::Framing framing_ = http::Framing::kNone;
  std::uint64_t remaining_ = 0;
  http::ChunkedScanner chunked_;
  std::string trailers_;  // raw trailer lines of a chunked body
};

}  // namespace lens::proxy
