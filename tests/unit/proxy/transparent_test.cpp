#include "libcommon/proxy/transparent.h"

#include <catch2/catch.hpp>

#include "libcommon/proxy/request_head.h"

using lens::ErrorCode;
using lens::net::SocketAddress;
using lens::proxy::looksLikeHttp;
using lens::proxy::parseTransparentRequest;
using lens::proxy::sameEndpoint;

TEST_CASE("looksLikeHttp: a method token and a space", "[proxy][transparent]") {
  CHECK(looksLikeHttp("GET /") == true);
  CHECK(looksLikeHttp("PROPFIND /") == true);
  CHECK(looksLikeHttp("OPTIONS * HTTP/1.1") == true);
  CHECK_FALSE(looksLikeHttp("").has_value());
  CHECK_FALSE(looksLikeHttp("GE").has_value());
  CHECK_FALSE(looksLikeHttp("DELETE").has_value());
  CHECK(looksLikeHttp("get /") == false);           // methods are case-sensitive
  CHECK(looksLikeHttp("GO /") == false);            // too short to be one
  CHECK(looksLikeHttp("PRI * HTTP/2.0") == false);  // HTTP/2 prior knowledge goes raw
  CHECK(looksLikeHttp("SSH-2.0-OpenSSH") == false);
  CHECK(looksLikeHttp("\x16\x03\x01") == false);
  CHECK(looksLikeHttp("ABCDEFGHIJKLMNOPQRSTUVWXYZ ") == false);
}

TEST_CASE("sameEndpoint: the redirect-loop check", "[proxy][transparent]") {
  const auto a = [](const char* text) { return *SocketAddress::parse(text); };
  CHECK(sameEndpoint(a("127.0.0.1:3129"), a("127.0.0.1:3129")));
  CHECK(sameEndpoint(a("10.0.0.1:3129"), a("0.0.0.0:3129")));
  CHECK(sameEndpoint(a("[::1]:3129"), a("[::1]:3129")));
  CHECK_FALSE(sameEndpoint(a("127.0.0.1:3128"), a("127.0.0.1:3129")));
  CHECK_FALSE(sameEndpoint(a("10.0.0.1:3129"), a("127.0.0.1:3129")));
  CHECK_FALSE(sameEndpoint(a("127.0.0.1:3129"), a("[::1]:3129")));
}

TEST_CASE("tlsAlertRecord: a fatal alert record", "[proxy][transparent]") {
  CHECK(lens::proxy::tlsAlertRecord(lens::proxy::TlsAlert::kAccessDenied) ==
        std::string("\x15\x03\x03\x00\x02\x02\x31", 7));
}

TEST_CASE("parseTransparentRequest: destination from Host", "[proxy][transparent]") {
  auto r = parseTransparentRequest(
      "GET /a/b?c=1 HTTP/1.1\r\nHost: Example.com\r\nAccept: */*\r\n\r\n", 8080);
  REQUIRE(r.ok());
  CHECK(r->kind == lens::proxy::RequestKind::kForward);
  CHECK(r->host == "Example.com");
  CHECK(r->port == 8080);  // the original destination's port
  CHECK(r->originTarget == "/a/b?c=1");
  CHECK(r->keepAlive);
  r = parseTransparentRequest("GET / HTTP/1.1\r\nHost: example.com:81\r\nConnection: close\r\n\r\n",
                              80);
  REQUIRE(r.ok());
  CHECK(r->port == 81);
  CHECK_FALSE(r->keepAlive);
  r = parseTransparentRequest("GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n", 80);
  REQUIRE(r.ok());
  CHECK(r->host == "2001:db8::1");
  r = parseTransparentRequest("POST /u HTTP/1.1\r\nHost: e.com\r\nContent-Length: 5\r\n\r\n", 80);
  REQUIRE(r.ok());
  CHECK(r->contentLength == 5);
  CHECK(lens::proxy::originFormHead(*r).rfind("POST /u HTTP/1.1\r\nHost: e.com\r\n", 0) == 0);
}

TEST_CASE("parseTransparentRequest: refusals", "[proxy][transparent]") {
  CHECK(parseTransparentRequest("GET / HTTP/1.1\r\n\r\n", 80).error().code == ErrorCode::kNotFound);
  CHECK(parseTransparentRequest("GET / HTTP/1.1\r\nHost: \r\n\r\n", 80).error().code ==
        ErrorCode::kNotFound);
  CHECK(parseTransparentRequest("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 80).error().code ==
        ErrorCode::kDenied);
  for (const char* bad :
       {"GET http://e.com/ HTTP/1.1\r\nHost: e.com\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.com\r\nHost: b.com\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: user@e.com\r\n\r\n", "GET / HTTP/1.1\r\nHost: e.com:0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: e.com:99999\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: e.com\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /a b HTTP/1.1\r\nHost: e.com\r\n\r\n"}) {
    INFO(bad);
    auto r = parseTransparentRequest(bad, 80);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kInvalidInput);
  }
}
