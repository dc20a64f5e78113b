#include "libcommon/proxy/upstream_url.h"

#include <catch2/catch.hpp>

#include <string>

using lens::ErrorCode;
using lens::proxy::parseUpstreamProxy;
using lens::proxy::UpstreamProxy;

namespace {

UpstreamProxy parseOk(const std::string& url) {
  auto parsed = parseUpstreamProxy(url);
  INFO("error: " << (parsed ? std::string() : parsed.error().message));
  REQUIRE(parsed.ok());
  return std::move(parsed).value();
}

std::string refused(const std::string& url) {
  auto parsed = parseUpstreamProxy(url);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == ErrorCode::kInvalidPolicy);
  return parsed.error().message;
}

}  // namespace

TEST_CASE("upstream proxy URL: scheme, host and the default port 3128", "[proxy][upstream_url]") {
  const UpstreamProxy plain = parseOk("http://proxy.lens.internal");
  CHECK_FALSE(plain.tls);
  CHECK(plain.host == "proxy.lens.internal");
  CHECK(plain.port == 3128);
  CHECK(plain.authorization.empty());
  CHECK(plain.redacted() == "http://proxy.lens.internal:3128");

  const UpstreamProxy tls = parseOk("HTTPS://10.0.0.5:8443/");
  CHECK(tls.tls);
  CHECK(tls.host == "10.0.0.5");
  CHECK(tls.port == 8443);

  const UpstreamProxy v6 = parseOk("http://[fd00::1]:3129");
  CHECK(v6.host == "fd00::1");
  CHECK(v6.redacted() == "http://[fd00::1]:3129");
}

TEST_CASE("upstream proxy URL: user information becomes Proxy-Authorization Basic",
          "[proxy][upstream_url]") {
  // base64("alice:s3cret") and base64("a b:p@ss:word")
  CHECK(parseOk("http://alice:s3cret@proxy:3128").authorization == "Basic YWxpY2U6czNjcmV0");
  CHECK(parseOk("http://a%20b:p%40ss:word@proxy").authorization == "Basic YSBiOnBAc3M6d29yZA==");
  CHECK(parseOk("http://token@proxy").authorization == "Basic dG9rZW46");
  const UpstreamProxy p = parseOk("https://alice:s3cret@proxy.example:9443");
  CHECK(p.redacted() == "https://proxy.example:9443");
}

TEST_CASE("upstream proxy URL: refusals never repeat the credentials", "[proxy][upstream_url]") {
  CHECK(refused("socks5://proxy:1080") == "proxyUpstream: must start with http:// or https://");
  CHECK(refused("proxy:3128") == "proxyUpstream: must start with http:// or https://");
  CHECK(refused("http://proxy:3128/path") ==
        "proxyUpstream: must not have a path, query or fragment");
  CHECK(refused("http://") == "proxyUpstream: no host");
  CHECK(refused("http://alice:s3cret@") == "proxyUpstream: no host");
  CHECK(refused("http://:pw@proxy") == "proxyUpstream: empty user name before '@'");
  CHECK(refused("http://alice:s3cr%zzet@proxy") ==
        "proxyUpstream: bad percent-escape in the user information");
  CHECK_THAT(refused("http://alice:s3cret@proxy:99999"),
             Catch::Contains("port") && !Catch::Contains("s3cret"));
  CHECK_THAT(refused("http://fd00::1:3128"), Catch::Contains("brackets"));
}
