#pragma once

#include <string>
#include <string_view>

#include "libcommon/http/framing.h"

namespace lens::http {

// What a proxy changes in a message head it forwards (RFC 9110 section
// 7.6.1, RFC 9112 section 2.3): it speaks its own HTTP version and manages
// its own connections, so the hop-by-hop fields of the sender's connection
// stay behind. Everything else goes on as received.

// The header field lines of `headFields` (the lines after the start line, up
// to the first empty line or the end; each ending with CRLF or a bare LF)
// without the hop-by-hop ones, in order, each ending with CRLF; no empty
// line is added. Removed: Connection, every field a Connection field names
// (comma-separated list, names compared case-insensitively, several
// Connection fields read together), Keep-Alive, Proxy-Connection, TE,
// Trailer and Upgrade; and a field named Close, a name RFC 9110 section
// 16.3.2.1 reserves because the "close" option of a Connection field (the
// proxy's own, say) would name it.
//
// Never removed, even when Connection names them: Content-Length,
// Transfer-Encoding and Host. The proxy relays the body by the framing it
// read; a sender that could strip the framing fields would make the next hop
// read the body differently (response splitting, request smuggling).
//
// With `keepUpgrade` (a request with Upgrade that the proxy lets through,
// RFC 9110 section 7.8), the Connection and Upgrade fields stay as received
// so that the next hop sees the upgrade; the other hop-by-hop fields still
// go, the caller adds no Connection field of its own.
//
// Kept lines are copied byte for byte, except that their line end becomes
// CRLF; `headFields` is meant to be what a parser accepted (parseResponseHead,
// parseRawRequestHead), which has no bare CR. An obsolete fold (a line
// starting with SP or HTAB; parseResponseHead and the proxy's request parser
// refuse them) stays with the field it continues, kept or removed with it.
[[nodiscard]] std::string stripHopByHop(std::string_view headFields, bool keepUpgrade);

// The response head `raw` as the proxy forwards it to its client. `raw` is a
// head that parseResponseHead() accepted and `head` what it returned (so
// `raw` has no obsolete line folding, bare CR or NUL).
//
//   - The status line becomes "HTTP/1.1 <code> <reason as the origin sent
//     it>" (RFC 9112 section 2.3: a proxy sends its own version).
//   - The header fields are those stripHopByHop(fields, false) keeps.
//   - Then the proxy's own connection management, for a final response
//     (status >= 200): "Connection: close" when !keepAlive; "Connection:
//     keep-alive" when keepAlive and the client speaks HTTP/1.0 (without it
//     an HTTP/1.0 client takes the connection to close after the response);
//     nothing for a keep-alive HTTP/1.1 client, for which persistence is the
//     default. A response whose body ends when the connection closes
//     (Framing::kUntilClose) always gets "Connection: close": nothing else
//     would be true. An interim response (1xx) gets no Connection field: the
//     final response says what happens to the connection.
//   - The empty line.
//
// `keepAlive` is what the proxy will do with the client connection after
// this response. Whatever is in `raw` after its empty line is ignored.
//
// Not for 101 Switching Protocols: an upgrade is relayed byte for byte by
// the caller and the connection becomes a tunnel.
//
// The body is relayed as received, so its framing must suit the client: an
// HTTP/1.0 client cannot read a chunked body. It gets none as long as the
// request reaches the origin as HTTP/1.0 (RFC 9112 section 6.1: no
// Transfer-Encoding in a response to an HTTP/1.0 request); a response that
// breaks that rule is the caller's to refuse (502), this function does not
// look at it.
[[nodiscard]] std::string forwardResponseHead(std::string_view raw, const ResponseHead& head,
                                              bool keepAlive, bool http10Client);

// Whether an interim response (1xx other than 101) with this status goes to
// the client: not to an HTTP/1.0 client, which cannot read one (RFC 9110
// section 15.2); always to an HTTP/1.1 client (a proxy forwards every 1xx it
// did not ask for itself). False for a status that is not interim, and for
// 101, which the caller handles as an upgrade. The caller reads and drops an
// interim response it does not forward, then waits for the final one.
[[nodiscard]] bool forwardInterim(int status, bool http10Client);

}  // namespace lens::http
