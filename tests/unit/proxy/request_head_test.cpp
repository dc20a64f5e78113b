#include "libcommon/proxy/request_head.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

using lens::ErrorCode;
using lens::http::Framing;
using lens::proxy::originFormHead;
using lens::proxy::parseProxyRequest;
using lens::proxy::ProxyRequest;
using lens::proxy::RequestKind;
using lens::proxy::RequestLimits;

namespace {

ProxyRequest parseOk(std::string_view text) {
  auto parsed = parseProxyRequest(text);
  INFO("parse error: " << (parsed ? std::string() : parsed.error().message));
  REQUIRE(parsed.ok());
  return std::move(parsed).value();
}

// The message of a refused head, checked to be a 400-class refusal.
std::string refused(std::string_view text, ErrorCode code = ErrorCode::kInvalidInput) {
  auto parsed = parseProxyRequest(text);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == code);
  return parsed.error().message;
}

}  // namespace

TEST_CASE("CONNECT host:port is a tunnel request", "[proxy][request_head]") {
  const ProxyRequest r =
      parseOk("CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n");
  CHECK(r.kind == RequestKind::kConnect);
  CHECK(r.host == "api.example.com");
  CHECK(r.port == 443);
  CHECK(r.authority() == "api.example.com:443");
  CHECK(r.keepAlive);
  CHECK(r.body == Framing::kNone);
}

TEST_CASE("CONNECT to a bracketed IPv6 literal", "[proxy][request_head]") {
  const ProxyRequest r = parseOk("CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n\r\n");
  CHECK(r.host == "2001:db8::1");
  CHECK(r.port == 8443);
  CHECK(r.authority() == "[2001:db8::1]:8443");
}

TEST_CASE("CONNECT refusals", "[proxy][request_head]") {
  CHECK(refused("CONNECT example.com HTTP/1.1\r\n\r\n") == "line 1: CONNECT needs host:port");
  CHECK_THAT(refused("CONNECT example.com:0 HTTP/1.1\r\n\r\n"), Catch::Contains("invalid host"));
  CHECK_THAT(refused("CONNECT example.com:99999 HTTP/1.1\r\n\r\n"),
             Catch::Contains("invalid host"));
  CHECK_THAT(refused("CONNECT 2001:db8::1:443 HTTP/1.1\r\n\r\n"),
             Catch::Contains("must be in brackets"));
  CHECK_THAT(refused("CONNECT user@example.com:443 HTTP/1.1\r\n\r\n"),
             Catch::Contains("user information"));
}

TEST_CASE("absolute-form request: host, port and origin-form target", "[proxy][request_head]") {
  SECTION("default port, path and query") {
    const ProxyRequest r =
        parseOk("GET http://Example.com/a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    CHECK(r.kind == RequestKind::kForward);
    CHECK(r.host == "Example.com");
    CHECK(r.port == 80);
    CHECK(r.originTarget == "/a/b?x=1&y=2");
  }
  SECTION("explicit port, no path") {
    const ProxyRequest r = parseOk("GET http://example.com:8080 HTTP/1.1\r\n\r\n");
    CHECK(r.port == 8080);
    CHECK(r.originTarget == "/");
  }
  SECTION("a query without a path") {
    CHECK(parseOk("GET http://example.com?q=1 HTTP/1.1\r\n\r\n").originTarget == "/?q=1");
  }
  SECTION("the scheme is case-insensitive; a fragment is dropped") {
    const ProxyRequest r = parseOk("GET HTTP://example.com/p#frag HTTP/1.1\r\n\r\n");
    CHECK(r.originTarget == "/p");
  }
  SECTION("IPv6 literal") {
    const ProxyRequest r = parseOk("GET http://[::ffff:127.0.0.1]/ HTTP/1.1\r\n\r\n");
    CHECK(r.host == "::ffff:127.0.0.1");
    CHECK(r.port == 80);
  }
  SECTION("a numeric host is kept as sent, for the safety floor to judge") {
    CHECK(parseOk("GET http://2130706433/ HTTP/1.1\r\n\r\n").host == "2130706433");
    CHECK(parseOk("GET http://0x7f.1/ HTTP/1.1\r\n\r\n").host == "0x7f.1");
  }
}

TEST_CASE("the 400 cases of the request line", "[proxy][request_head]") {
  CHECK(refused("GET /relative HTTP/1.1\r\n\r\n") ==
        "line 1: the request target must be an absolute http:// URL");
  CHECK(refused("GET https://example.com/ HTTP/1.1\r\n\r\n") ==
        "line 1: an https:// URL must be reached through CONNECT");
  CHECK(refused("GET ftp://example.com/ HTTP/1.1\r\n\r\n") ==
        "line 1: the request target must be an absolute http:// URL");
  CHECK(refused("GET http:///path HTTP/1.1\r\n\r\n") == "line 1: the URL has no host");
  CHECK_THAT(refused("GET http://user:pw@example.com/ HTTP/1.1\r\n\r\n"),
             Catch::Contains("user information"));
  CHECK_THAT(refused("GET http://exa%6dple.com/ HTTP/1.1\r\n\r\n"),
             Catch::Contains("invalid host"));
  SECTION("malformed request lines") {
    const std::string malformed =
        "line 1: malformed request line, expected METHOD SP TARGET SP HTTP-VERSION";
    CHECK(refused("GET http://example.com/a b HTTP/1.1\r\n\r\n") == malformed);
    CHECK(refused("GET  http://example.com/ HTTP/1.1\r\n\r\n") == malformed);
    CHECK(refused("GET http://example.com/\r\n\r\n") == malformed);
    CHECK(refused("GARBAGE\r\n\r\n") == malformed);
    CHECK_THAT(refused("GET http://example.com/ HTTP/2.0\r\n\r\n"),
               Catch::Contains("unsupported HTTP version"));
    CHECK_THAT(refused("G(T http://example.com/ HTTP/1.1\r\n\r\n"),
               Catch::Contains("invalid character in method"));
  }
  SECTION("CR or LF inside the target") {
    CHECK_THAT(refused("GET http://example.com/a\rb HTTP/1.1\r\n\r\n"),
               Catch::Contains("carriage return"));
    CHECK_THAT(refused("GET http://example.com/\x01 HTTP/1.1\r\n\r\n"),
               Catch::Contains("control character"));
  }
}

TEST_CASE("the 400 cases of the header section", "[proxy][request_head]") {
  const std::string line = "POST http://example.com/ HTTP/1.1\r\n";
  CHECK(refused(line + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n") ==
        "more than one Content-Length");
  CHECK_THAT(refused(line + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"),
             Catch::Contains("Content-Length differs"));
  CHECK_THAT(refused(line + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
             Catch::Contains("together with Transfer-Encoding"));
  CHECK_THAT(refused(line + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
             Catch::Contains("together with Transfer-Encoding"));
  CHECK_THAT(refused(line + "Content-Length: 5, 5\r\n\r\n"),
             Catch::Contains("not a decimal number"));
  CHECK_THAT(refused(line + "Transfer-Encoding: gzip\r\n\r\n"),
             Catch::Contains("does not end with chunked"));
  CHECK(refused(line + "X-A: one\r\n  two\r\n\r\n") == "obsolete line folding in a header field");
  CHECK_THAT(refused(line + "Bad Name: x\r\n\r\n"), Catch::Contains("whitespace in header name"));
  CHECK_THAT(refused(line + "Bad(Name: x\r\n\r\n"),
             Catch::Contains("invalid character in header name"));
  CHECK_THAT(refused(line + ": x\r\n\r\n"), Catch::Contains("empty header name"));
  CHECK_THAT(refused("POST http://example.com/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
             Catch::Contains("HTTP/1.0"));
}

TEST_CASE("refusal messages never repeat the target or header values", "[proxy][request_head]") {
  const std::string secret = "s3cr3t-token";
  for (const std::string& text :
       {"GET /" + secret + " HTTP/1.1\r\n\r\n",
        "GET http://user:" + secret + "@example.com/ HTTP/1.1\r\n\r\n",
        "GET http://example.com/ HTTP/1.1\r\nContent-Length: " + secret + "\r\n\r\n",
        "GET http://example.com/ HTTP/1.1\r\nX-Token: a\r\n " + secret + "\r\n\r\n"}) {
    CHECK_THAT(refused(text), !Catch::Contains(secret));
  }
}

TEST_CASE("too many header fields is a limit (431)", "[proxy][request_head]") {
  std::string text = "GET http://example.com/ HTTP/1.1\r\n";
  for (int i = 0; i < 5; ++i) text += "X-" + std::to_string(i) + ": v\r\n";
  text += "\r\n";
  RequestLimits limits;
  limits.maxHeaderCount = 4;
  auto parsed = parseProxyRequest(text, limits);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == ErrorCode::kLimit);
}

TEST_CASE("body framing and keep-alive", "[proxy][request_head]") {
  const ProxyRequest length = parseOk("POST http://e.com/ HTTP/1.1\r\nContent-Length: 12\r\n\r\n");
  CHECK(length.body == Framing::kLength);
  CHECK(length.contentLength == 12);
  CHECK(parseOk("POST http://e.com/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n").body == Framing::kNone);
  CHECK(parseOk("POST http://e.com/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").body ==
        Framing::kChunked);
  CHECK_FALSE(
      parseOk("GET http://e.com/ HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n").keepAlive);
  CHECK_FALSE(parseOk("GET http://e.com/ HTTP/1.1\r\nProxy-Connection: close\r\n\r\n").keepAlive);
  CHECK(parseOk("GET http://e.com/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keepAlive);
  CHECK_FALSE(parseOk("GET http://e.com/ HTTP/1.0\r\n\r\n").keepAlive);
  CHECK(parseOk("GET http://e.com/ HTTP/1.1\r\n\r\n").keepAlive);
}

TEST_CASE("origin form: Host set first, Proxy-* removed, the rest kept in order",
          "[proxy][request_head]") {
  const ProxyRequest r = parseOk(
      "GET http://Example.com/p?q=1 HTTP/1.1\r\nUser-Agent: t\r\nHost: evil.example\r\n"
      "Proxy-Authorization: Basic abc\r\nproxy-connection: keep-alive\r\nAccept:*/*\r\n\r\n");
  CHECK(originFormHead(r) ==
        "GET /p?q=1 HTTP/1.1\r\nHost: Example.com\r\nUser-Agent: t\r\nAccept:*/*\r\n\r\n");
  CHECK(originFormHead(parseOk("GET http://e.com:8080/ HTTP/1.1\r\n\r\n")) ==
        "GET / HTTP/1.1\r\nHost: e.com:8080\r\n\r\n");
  CHECK(originFormHead(parseOk("HEAD http://[2001:db8::5]:81/x HTTP/1.0\r\n\r\n")) ==
        "HEAD /x HTTP/1.0\r\nHost: [2001:db8::5]:81\r\n\r\n");
  SECTION("bare LF line ends come out as CRLF") {
    CHECK(originFormHead(parseOk("GET http://e.com/ HTTP/1.1\nA: b\n\n")) ==
          "GET / HTTP/1.1\r\nHost: e.com\r\nA: b\r\n\r\n");
  }
}

TEST_CASE("only a WebSocket upgrade reaches the origin", "[proxy][request]") {
  using lens::proxy::isWebSocketUpgrade;
  CHECK(isWebSocketUpgrade("websocket"));
  CHECK(isWebSocketUpgrade("WebSocket"));
  CHECK_FALSE(isWebSocketUpgrade("h2c"));
  CHECK_FALSE(isWebSocketUpgrade("websocket, h2c"));
  CHECK_FALSE(isWebSocketUpgrade(""));
  const auto ws = parseOk(
      "GET http://e.com/ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: k\r\n\r\n");
  CHECK(lens::proxy::upgradesToWebSocket(ws));
  CHECK(originFormHead(ws) ==
        "GET /ws HTTP/1.1\r\nHost: e.com\r\nConnection: Upgrade\r\nUpgrade: "
        "websocket\r\nSec-WebSocket-Key: k\r\n\r\n");
  // h2c would carry HTTP/2 streams past the judge: the origin never sees the offer.
  const auto h2c = parseOk(
      "GET http://e.com/ HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
      "HTTP2-Settings: AAMAAABkAAQAAP__\r\nAccept: */*\r\n\r\n");
  CHECK_FALSE(lens::proxy::upgradesToWebSocket(h2c));
  CHECK(originFormHead(h2c) == "GET / HTTP/1.1\r\nHost: e.com\r\nAccept: */*\r\n\r\n");
  // Hop-by-hop fields of the client's connection stay behind.
  CHECK(originFormHead(
            parseOk("GET http://e.com/ HTTP/1.1\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\n"
                    "Keep-Alive: timeout=5\r\nTE: trailers\r\nX-B: 2\r\n\r\n")) ==
        "GET / HTTP/1.1\r\nHost: e.com\r\nX-B: 2\r\n\r\n");
}
