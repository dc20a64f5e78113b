#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "libcommon/http/framing.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/util/result.h"

namespace lens::proxy {

// What a client asks the explicit proxy for.
enum class RequestKind : std::uint8_t {
  kConnect,  // CONNECT host:port: a tunnel
  kForward,  // METHOD http://host[:port]/path: one request to relay
};

// A request head the proxy accepted: the target split into host, port and
// origin-form target, the framing of the body that follows.
struct ProxyRequest {
  RequestKind kind = RequestKind::kConnect;
  http::RawRequest head;     // as received; body empty
  std::string host;          // as sent (case kept), an IPv6 literal without brackets
  std::uint16_t port = 0;    // CONNECT: as sent; forward: as sent or 80
  std::string originTarget;  // forward only: path and query, "/" when the URL has none
  http::Framing body = http::Framing::kNone;  // never kUntilClose
  std::uint64_t contentLength = 0;            // with Framing::kLength
  bool keepAlive = false;                     // the client may send another request afterwards

  // "host:port" with an IPv6 literal in brackets.
  [[nodiscard]] std::string authority() const;
};

struct RequestLimits {
  std::size_t maxHeaderCount = 100;
};

// Parses one request head (request line, header fields, the empty line)
// that a client sent the explicit proxy, and checks it strictly. Refused
// (ErrorCode::kInvalidInput, answered 400): a request line other than
// "METHOD SP TARGET SP HTTP/1.x"; CR, LF or other control bytes in the
// target; a relative target or an absolute one other than http:// (an
// https:// URL must come through CONNECT); user information in the URL;
// a CONNECT target without a port; invalid header names; obsolete line
// folding; more than one Content-Length; Content-Length together with
// Transfer-Encoding; a Transfer-Encoding whose last coding is not chunked.
// More than limits.maxHeaderCount fields is ErrorCode::kLimit (431). The
// size of the head is bounded by the caller, which reads it.
//
// Error messages never quote the target or header values (they may carry
// credentials).
[[nodiscard]] Result<ProxyRequest> parseProxyRequest(std::string_view head,
                                                     const RequestLimits& limits = {});

// Parses a request head that arrived on a redirected connection
// (lens-tproxy): checked like parseProxyRequest, but the target is in origin
// form ("/path?query"; anything else is refused) and the destination is the
// Host header's: its port when it has one, else `defaultPort` (the port the
// client connected to). The result is a kForward request. Refused with
// ErrorCode::kDenied: a CONNECT; ErrorCode::kNotFound: no (or an empty)
// Host header; ErrorCode::kInvalidInput: the rest.
[[nodiscard]] Result<ProxyRequest> parseTransparentRequest(std::string_view head,
                                                           std::uint16_t defaultPort,
                                                           const RequestLimits& limits = {});

// The head of a forward request as the origin gets it: the request line in
// origin form, Host first and set to the URL's authority (port omitted when
// `defaultPort`: 80, 443 inside TLS), every Proxy-* field
// (Proxy-Authorization, Proxy-Connection, ...) and the hop-by-hop fields
// (http::stripHopByHop; Connection and Upgrade kept for an upgrade) removed,
// the other fields in order, CRLF line ends.
// `hostField`: the Host value to send instead of the request's host (a
// forward bridge's upstreamHostHeader); empty: the request's.
[[nodiscard]] std::string originFormHead(const ProxyRequest& request,
                                         std::uint16_t defaultPort = 80,
                                         std::string_view hostField = {});

// An Upgrade field value naming only "websocket" (the one upgrade the
// proxies relay: its handshake was judged as a request), and whether a
// request carries one.
[[nodiscard]] bool isWebSocketUpgrade(std::string_view upgradeValue);
[[nodiscard]] bool upgradesToWebSocket(const ProxyRequest& request);

}  // namespace lens::proxy
