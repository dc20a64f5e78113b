// What an intercepted connection checks on every request inside it: that
// the names agree (domain fronting), and how the request is judged and named.
#include "libcommon/proxy/interception.h"

#include <catch2/catch.hpp>

namespace {

using lens::proxy::InterceptionSession;
using lens::proxy::ProxyRequest;

ProxyRequest inside(const std::string& head, std::uint16_t port = 443) {
  auto r = lens::proxy::parseTransparentRequest(head, port);
  REQUIRE(r);
  return *r;
}

}  // namespace

TEST_CASE("the Host of a request inside must name the connection's host and port",
          "[proxy][mitm]") {
  InterceptionSession s("API.Example.Test.", 443, lens::decision::Door::kConnect);
  CHECK(s.host() == "api.example.test");
  CHECK_FALSE(s.disagreement(inside("GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n")));
  CHECK_FALSE(s.disagreement(inside("GET / HTTP/1.1\r\nHost: API.EXAMPLE.TEST:443\r\n\r\n")));
  auto other = s.disagreement(inside("GET / HTTP/1.1\r\nHost: b.example.test\r\n\r\n"));
  REQUIRE(other);
  CHECK(other->find("b.example.test:443") != std::string::npos);
  CHECK(s.disagreement(inside("GET / HTTP/1.1\r\nHost: api.example.test:8443\r\n\r\n")));

  InterceptionSession odd("api.example.test", 8443, lens::decision::Door::kConnect);
  CHECK_FALSE(
      odd.disagreement(inside("GET / HTTP/1.1\r\nHost: api.example.test:8443\r\n\r\n", 8443)));
  CHECK(odd.disagreement(inside("GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n", 8443)) ==
        std::nullopt);
}

TEST_CASE("requests inside are judged with the outer door, method and path", "[proxy][mitm]") {
  InterceptionSession s("api.example.test", 443, lens::decision::Door::kTransparentTls);
  const ProxyRequest r =
      inside("POST /repos/x/issues?token=abc HTTP/1.1\r\nHost: api.example.test\r\n\r\n");
  const lens::decision::Request e = s.engineRequest(r);
  CHECK(e.door == lens::decision::Door::kTransparentTls);
  CHECK(e.host == "api.example.test");
  CHECK(e.port == 443);
  CHECK(e.method == "POST");
  CHECK(e.path == "/repos/x/issues?token=abc");
  // The audit action drops the query (it may carry secrets) and :443.
  CHECK(s.action(r) == "POST https://api.example.test/repos/x/issues");
  InterceptionSession v6("2001:db8::1", 8443, lens::decision::Door::kConnect);
  CHECK(v6.action(inside("GET /a HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n", 8443)) ==
        "GET https://[2001:db8::1]:8443/a");
  CHECK(s.tunnelRequest().method.empty());
}
