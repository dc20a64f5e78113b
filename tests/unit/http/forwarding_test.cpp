#include "libcommon/http/forwarding.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "libcommon/http/framing.h"

using lens::http::forwardInterim;
using lens::http::forwardResponseHead;
using lens::http::parseResponseHead;
using lens::http::stripHopByHop;

namespace {

constexpr bool kKeepAlive = true;
constexpr bool kClose = false;
constexpr bool kHttp10 = true;
constexpr bool kHttp11 = false;

// The head as forwarded, after parseResponseHead accepted it (a GET's answer).
std::string forward(std::string_view raw, bool keepAlive, bool http10Client,
                    std::string_view method = "GET") {
  auto head = parseResponseHead(raw, method);
  REQUIRE(head.ok());
  return forwardResponseHead(raw, *head, keepAlive, http10Client);
}

}  // namespace

TEST_CASE("forwarded response: the proxy's own version, the origin's reason",
          "[http][forwarding]") {
  CHECK(forward("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", kClose, kHttp11) ==
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
  CHECK(forward("HTTP/1.1 404 Not  Found here\r\nContent-Length: 0\r\n\r\n", kKeepAlive, kHttp11) ==
        "HTTP/1.1 404 Not  Found here\r\nContent-Length: 0\r\n\r\n");
  // No reason phrase: the SP before it is still written (RFC 9112 section 4).
  CHECK(forward("HTTP/1.0 204\r\n\r\n", kKeepAlive, kHttp11) == "HTTP/1.1 204 \r\n\r\n");
  CHECK(forward("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", kKeepAlive, kHttp11) ==
        "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n");
  // obs-text in the reason goes on byte for byte.
  CHECK(forward("HTTP/1.1 200 D\xc3\xa9j\xc3\xa0 vu\r\nContent-Length: 0\r\n\r\n", kKeepAlive,
                kHttp11) == "HTTP/1.1 200 D\xc3\xa9j\xc3\xa0 vu\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("forwarded response: fields Connection names are removed", "[http][forwarding]") {
  SECTION("a comma list, any case, optional whitespace") {
    CHECK(forward("HTTP/1.1 200 OK\r\n"
                  "Connection: X-Hop ,x-other,\t, keep-alive\r\n"
                  "x-hop: 1\r\n"
                  "Date: today\r\n"
                  "X-OTHER: 2\r\n"
                  "X-Hop-Not: 3\r\n"
                  "Content-Length: 0\r\n\r\n",
                  kKeepAlive, kHttp11) ==
          "HTTP/1.1 200 OK\r\nDate: today\r\nX-Hop-Not: 3\r\nContent-Length: 0\r\n\r\n");
  }
  SECTION("several Connection fields, read together, before or after the fields they name") {
    CHECK(forward("HTTP/1.1 200 OK\r\n"
                  "A: 1\r\n"
                  "connection: a\r\n"
                  "B: 2\r\n"
                  "CONNECTION: b, close\r\n"
                  "C: 3\r\n"
                  "Content-Length: 0\r\n\r\n",
                  kClose, kHttp11) ==
          "HTTP/1.1 200 OK\r\nC: 3\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  }
  SECTION("every field of a repeated name") {
    CHECK(forward("HTTP/1.1 200 OK\r\nConnection: X\r\nX: 1\r\nY: 2\r\nx: 3\r\n"
                  "Content-Length: 0\r\n\r\n",
                  kKeepAlive, kHttp11) == "HTTP/1.1 200 OK\r\nY: 2\r\nContent-Length: 0\r\n\r\n");
  }
  SECTION("an empty Connection field and one that names nothing present") {
    CHECK(forward("HTTP/1.1 200 OK\r\nConnection:\r\nConnection: absent\r\nY: 2\r\n"
                  "Content-Length: 0\r\n\r\n",
                  kKeepAlive, kHttp11) == "HTTP/1.1 200 OK\r\nY: 2\r\nContent-Length: 0\r\n\r\n");
  }
}

TEST_CASE("forwarded response: the fixed hop-by-hop fields are removed", "[http][forwarding]") {
  CHECK(forward("HTTP/1.1 200 OK\r\n"
                "Keep-Alive: timeout=5, max=100\r\n"
                "Proxy-Connection: keep-alive\r\n"
                "TE: trailers\r\n"
                "Trailer: Expires\r\n"
                "Upgrade: h2c\r\n"
                "Server: origin\r\n"
                "Content-Length: 0\r\n\r\n",
                kKeepAlive,
                kHttp11) == "HTTP/1.1 200 OK\r\nServer: origin\r\nContent-Length: 0\r\n\r\n");
  // Close is a reserved name: the proxy's own "Connection: close" would name it.
  CHECK(forward("HTTP/1.1 200 OK\r\nclose: 1\r\nContent-Length: 0\r\n\r\n", kClose, kHttp11) ==
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  CHECK(forward("HTTP/1.1 200 OK\r\nClose: 1\r\nContent-Length: 0\r\n\r\n", kKeepAlive, kHttp11) ==
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  // Keep-Alive goes even when Connection does not name it.
  CHECK(forward("HTTP/1.0 200 OK\r\nkeep-alive: timeout=5\r\nContent-Length: 0\r\n\r\n", kClose,
                kHttp10) == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

TEST_CASE("forwarded response: Connection says what the proxy does", "[http][forwarding]") {
  const std::string_view keepAliveOrigin =
      "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
      "Content-Length: 2\r\n\r\n";
  const std::string_view closingOrigin =
      "HTTP/1.0 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n";
  for (std::string_view origin : {keepAliveOrigin, closingOrigin}) {
    INFO(origin);
    // An HTTP/1.0 client keeps the connection only when told so.
    CHECK(forward(origin, kKeepAlive, kHttp10) ==
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
    CHECK(forward(origin, kClose, kHttp10) ==
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
    CHECK(forward(origin, kClose, kHttp11) ==
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
    // HTTP/1.1 persists by default: nothing to say.
    CHECK(forward(origin, kKeepAlive, kHttp11) == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
  }
}

TEST_CASE("forwarded response: never two Connection fields", "[http][forwarding]") {
  const std::string out = forward(
      "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close, keep-alive\r\n"
      "Content-Length: 0\r\n\r\n",
      kKeepAlive, kHttp10);
  CHECK(out == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
  // Connection naming itself changes nothing.
  CHECK(forward("HTTP/1.1 200 OK\r\nConnection: connection\r\nContent-Length: 0\r\n\r\n", kClose,
                kHttp11) == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

TEST_CASE("forwarded response: the other fields keep their order and bytes", "[http][forwarding]") {
  const std::string_view fields =
      "Server: origin/1.0\r\n"
      "Set-Cookie: a=1\r\n"
      "x-lower:no-space\r\n"
      "Set-Cookie: b=2;  Path=/\r\n"
      "Cache-Control:  no-cache \t\r\n"
      "Content-Type: text/plain\r\n"
      "Content-Length: 12\r\n";
  const std::string raw = "HTTP/1.1 200 OK\r\n" + std::string(fields) + "\r\n";
  CHECK(forward(raw, kKeepAlive, kHttp11) == raw);
  CHECK(forward(raw, kKeepAlive, kHttp10) ==
        "HTTP/1.1 200 OK\r\n" + std::string(fields) + "Connection: keep-alive\r\n\r\n");
}

TEST_CASE("forwarded response: framing fields are never removed", "[http][forwarding]") {
  SECTION("Transfer-Encoding and Content-Length as received") {
    const std::string_view chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
    CHECK(forward(chunked, kKeepAlive, kHttp11) == chunked);
    const std::string_view both =
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\ntransfer-encoding: chunked\r\n\r\n";
    CHECK(forward(both, kKeepAlive, kHttp11) == both);
  }
  SECTION("even when Connection names them") {
    CHECK(forward("HTTP/1.1 200 OK\r\nConnection: Content-Length, Transfer-Encoding, X\r\n"
                  "Content-Length: 5\r\nX: 1\r\n\r\n",
                  kKeepAlive, kHttp11) == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    CHECK(forward("HTTP/1.1 200 OK\r\nConnection: transfer-encoding\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n",
                  kKeepAlive, kHttp11) == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  }
}

TEST_CASE("forwarded response: a body that ends at close is announced so", "[http][forwarding]") {
  // Whatever the caller passed: the client cannot find the end otherwise.
  CHECK(forward("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", kKeepAlive, kHttp10) ==
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
  CHECK(forward("HTTP/1.0 200 OK\r\nServer: x\r\n\r\n", kKeepAlive, kHttp11) ==
        "HTTP/1.1 200 OK\r\nServer: x\r\nConnection: close\r\n\r\n");
  // No body at all (HEAD, 304): keep-alive as asked.
  CHECK(forward("HTTP/1.0 200 OK\r\nServer: x\r\n\r\n", kKeepAlive, kHttp10, "HEAD") ==
        "HTTP/1.1 200 OK\r\nServer: x\r\nConnection: keep-alive\r\n\r\n");
  CHECK(forward("HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n", kKeepAlive, kHttp11) ==
        "HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n");
}

TEST_CASE("forwarded response: interim responses", "[http][forwarding]") {
  // The final response manages the connection; an interim one says nothing.
  CHECK(forward("HTTP/1.1 100 Continue\r\n\r\n", kClose, kHttp11) ==
        "HTTP/1.1 100 Continue\r\n\r\n");
  CHECK(forward("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n"
                "Connection: x\r\nX: 1\r\n\r\n",
                kKeepAlive,
                kHttp11) == "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n");
  // Never to an HTTP/1.0 client (RFC 9110 section 15.2).
  for (int status : {100, 102, 103, 199}) {
    INFO(status);
    CHECK(forwardInterim(status, kHttp11));
    CHECK_FALSE(forwardInterim(status, kHttp10));
  }
  // 101 is an upgrade, not an interim response to relay; the rest are final.
  CHECK_FALSE(forwardInterim(101, kHttp11));
  CHECK_FALSE(forwardInterim(200, kHttp11));
  CHECK_FALSE(forwardInterim(99, kHttp11));
}

TEST_CASE("forwarded response: line ends and what follows the head", "[http][forwarding]") {
  // Bare LF line ends (parseResponseHead reads them) go out as CRLF.
  CHECK(forward("HTTP/1.0 200 OK\nKeep-Alive: 1\nA: b\nContent-Length: 1\n\n", kClose, kHttp10) ==
        "HTTP/1.1 200 OK\r\nA: b\r\nContent-Length: 1\r\nConnection: close\r\n\r\n");
  // The body's first bytes, if the caller's slice holds them, are not part of the head.
  const std::string_view raw = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nX: 1\r\n\r\n";
  auto head = parseResponseHead(raw, "GET");
  REQUIRE(head.ok());
  CHECK(forwardResponseHead(raw, *head, kKeepAlive, kHttp11) ==
        "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n");
}

TEST_CASE("hop-by-hop fields of a request head", "[http][forwarding]") {
  const std::string_view fields =
      "Host: origin.test\r\n"
      "Connection: Upgrade, X-Hop\r\n"
      "Upgrade: websocket\r\n"
      "X-Hop: 1\r\n"
      "TE: trailers\r\n"
      "Keep-Alive: 300\r\n"
      "Sec-WebSocket-Key: abc\r\n"
      "\r\n";
  SECTION("all of them go") {
    CHECK(stripHopByHop(fields, false) == "Host: origin.test\r\nSec-WebSocket-Key: abc\r\n");
  }
  SECTION("an upgrade keeps Connection and Upgrade as received") {
    CHECK(stripHopByHop(fields, true) ==
          "Host: origin.test\r\nConnection: Upgrade, X-Hop\r\nUpgrade: websocket\r\n"
          "Sec-WebSocket-Key: abc\r\n");
  }
  SECTION("Host is never removed") {
    CHECK(stripHopByHop("Connection: host\r\nHost: a.test\r\n", false) == "Host: a.test\r\n");
  }
  SECTION("a folded field goes or stays whole") {
    CHECK(stripHopByHop("Connection: a,\r\n b\r\nA: 1\r\n  more\r\nB: 2\r\n C: 3\r\nD: 4\r\n",
                        false) == "D: 4\r\n");
    CHECK(stripHopByHop("A: 1\r\n\tmore\r\n", false) == "A: 1\r\n\tmore\r\n");
  }
  SECTION("the section ends at its empty line; nothing in, nothing out") {
    CHECK(stripHopByHop("A: 1\n\nB: 2\n", false) == "A: 1\r\n");
    CHECK(stripHopByHop("", false).empty());
    CHECK(stripHopByHop("\r\n", false).empty());
  }
}
