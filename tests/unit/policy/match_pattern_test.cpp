#include "libcommon/policy/match_pattern.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

using lens::ErrorCode;
using lens::net::IpAddress;
using lens::policy::MatchPattern;
using lens::policy::normalizeHost;
using Kind = MatchPattern::Kind;

namespace {

MatchPattern pattern(std::string_view text) {
  auto parsed = MatchPattern::parse(text);
  INFO("pattern: " << text);
  INFO("error: " << (parsed ? std::string() : parsed.error().message));
  REQUIRE(parsed.ok());
  return parsed.value();
}

// The message of a rejected pattern; fails the test when it parses.
std::string rejection(std::string_view text) {
  auto parsed = MatchPattern::parse(text);
  INFO("pattern: " << text);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == ErrorCode::kInvalidPolicy);
  return parsed.error().message;
}

IpAddress addr(std::string_view text) {
  auto parsed = IpAddress::parse(text);
  INFO("address: " << text);
  REQUIRE(parsed.has_value());
  return *parsed;
}

// The pattern's prefix as text ("10.0.0.0/8").
std::string prefixOf(const MatchPattern& p) {
  REQUIRE(p.kind() == Kind::kCidr);
  return p.cidr().toString();
}

// The pattern's port, or -1 when it has none.
int portOf(const MatchPattern& p) { return p.port() ? int{*p.port()} : -1; }

// Matches a host the way the engine does: normalised first.
bool hostMatches(const MatchPattern& p, std::string_view host) {
  return p.matchesHost(normalizeHost(host));
}

}  // namespace

// ---- grammar: each form parses to the right kind -------------------------

TEST_CASE("match \"*\" parses as any host, any port", "[match]") {
  const MatchPattern p = pattern("*");
  CHECK(p.kind() == Kind::kAny);
  CHECK(p.isHostPattern());
  CHECK(portOf(p) == -1);
  CHECK(p.text() == "*");
}

TEST_CASE("match with a plain name parses as an exact host", "[match]") {
  const MatchPattern p = pattern("api.example.com");
  CHECK(p.kind() == Kind::kExact);
  CHECK(p.isHostPattern());
  CHECK(p.host() == "api.example.com");
  CHECK(portOf(p) == -1);

  const MatchPattern single = pattern("intranet");
  CHECK(single.kind() == Kind::kExact);
  CHECK(single.host() == "intranet");
}

TEST_CASE("match \"*.domain\" parses as a suffix pattern keyed by the apex", "[match]") {
  const MatchPattern p = pattern("*.example.com");
  CHECK(p.kind() == Kind::kSuffix);
  CHECK(p.host() == "example.com");
  CHECK(portOf(p) == -1);
}

TEST_CASE("match with a '*' inside the name parses as a mid-label wildcard", "[match]") {
  const MatchPattern p = pattern("bedrock-runtime.*.amazonaws.com");
  CHECK(p.kind() == Kind::kMidWildcard);
  CHECK(p.host() == "bedrock-runtime.");
  CHECK(p.suffix() == ".amazonaws.com");

  const MatchPattern inLabel = pattern("api-*.example.com");
  CHECK(inLabel.kind() == Kind::kMidWildcard);
  CHECK(inLabel.host() == "api-");
  CHECK(inLabel.suffix() == ".example.com");

  const MatchPattern trailing = pattern("example.*");
  CHECK(trailing.kind() == Kind::kMidWildcard);
  CHECK(trailing.host() == "example.");
  CHECK(trailing.suffix().empty());
}

TEST_CASE("match with an IPv4 address parses as a /32 prefix", "[match]") {
  const MatchPattern p = pattern("10.0.0.5");
  CHECK(p.kind() == Kind::kCidr);
  CHECK_FALSE(p.isHostPattern());
  CHECK(prefixOf(p) == "10.0.0.5/32");
  CHECK(portOf(p) == -1);
}

TEST_CASE("match with an IPv6 address parses as a /128 prefix", "[match]") {
  const MatchPattern p = pattern("2001:db8::1");
  CHECK(p.kind() == Kind::kCidr);
  CHECK(prefixOf(p) == "2001:db8::1/128");
  CHECK(portOf(p) == -1);
}

TEST_CASE("match with an IPv4 CIDR parses as a prefix", "[match]") {
  const MatchPattern p = pattern("10.0.0.0/8");
  CHECK(p.kind() == Kind::kCidr);
  CHECK(prefixOf(p) == "10.0.0.0/8");
  CHECK(portOf(p) == -1);
}

TEST_CASE("match with an IPv6 CIDR parses as a prefix", "[match]") {
  const MatchPattern p = pattern("2001:db8::/32");
  CHECK(p.kind() == Kind::kCidr);
  CHECK(prefixOf(p) == "2001:db8::/32");
  CHECK(portOf(p) == -1);
}

TEST_CASE("match host:port parses the host pattern and the port", "[match]") {
  const MatchPattern exact = pattern("db.internal:5432");
  CHECK(exact.kind() == Kind::kExact);
  CHECK(exact.host() == "db.internal");
  CHECK(portOf(exact) == 5432);

  const MatchPattern suffix = pattern("*.example.com:443");
  CHECK(suffix.kind() == Kind::kSuffix);
  CHECK(suffix.host() == "example.com");
  CHECK(portOf(suffix) == 443);

  const MatchPattern any = pattern("*:8080");
  CHECK(any.kind() == Kind::kAny);
  CHECK(portOf(any) == 8080);

  CHECK(portOf(pattern("x.example.com:1")) == 1);
  CHECK(portOf(pattern("x.example.com:65535")) == 65535);
}

TEST_CASE("match ip:port parses as a single-address prefix with a port", "[match]") {
  const MatchPattern p = pattern("10.0.0.5:5432");
  CHECK(p.kind() == Kind::kCidr);
  CHECK(prefixOf(p) == "10.0.0.5/32");
  CHECK(portOf(p) == 5432);
}

TEST_CASE("match cidr:port parses as a prefix with a port", "[match]") {
  const MatchPattern p = pattern("10.0.0.0/24:5432");
  CHECK(p.kind() == Kind::kCidr);
  CHECK(prefixOf(p) == "10.0.0.0/24");
  CHECK(portOf(p) == 5432);
}

TEST_CASE("match [v6]:port parses as a /128 prefix with a port", "[match]") {
  const MatchPattern p = pattern("[2001:db8::1]:443");
  CHECK(p.kind() == Kind::kCidr);
  CHECK(prefixOf(p) == "2001:db8::1/128");
  CHECK(portOf(p) == 443);

  const MatchPattern upper = pattern("[2001:DB8::A]:443");
  CHECK(prefixOf(upper) == "2001:db8::a/128");
}

TEST_CASE("match [v6cidr]:port parses as an IPv6 prefix with a port", "[match]") {
  const MatchPattern p = pattern("[2001:db8::/32]:5432");
  CHECK(p.kind() == Kind::kCidr);
  CHECK(prefixOf(p) == "2001:db8::/32");
  CHECK(portOf(p) == 5432);
}

TEST_CASE("match [IPv4-mapped v6]:port is normalised to the IPv4 address", "[match]") {
  // Bracketed IPv6 text that carries an IPv4-mapped address is still IPv6
  // text; it is normalised to the IPv4 prefix it names (reference 1.10).
  const MatchPattern p = pattern("[::ffff:10.0.0.5]:5432");
  CHECK(p.kind() == Kind::kCidr);
  CHECK(prefixOf(p) == "10.0.0.5/32");
  CHECK(portOf(p) == 5432);
  CHECK(p.matchesAddress(addr("10.0.0.5")));

  const MatchPattern prefix = pattern("[::ffff:10.0.0.0/104]:5432");
  CHECK(prefixOf(prefix) == "10.0.0.0/8");
}

// ---- grammar: rejections -------------------------------------------------

TEST_CASE("match rejects port 0", "[match]") {
  CHECK(rejection("api.example.com:0") == "port 0 is not a valid port in \"api.example.com:0\"");
  CHECK(rejection("10.0.0.0/8:0") == "port 0 is not a valid port in \"10.0.0.0/8:0\"");
  CHECK(rejection("[2001:db8::1]:0") == "port 0 is not a valid port in \"[2001:db8::1]:0\"");
}

TEST_CASE("match rejects port 65536", "[match]") {
  CHECK(rejection("api.example.com:65536") ==
        "invalid port \"65536\" in \"api.example.com:65536\" (expected 1-65535)");
  CHECK(rejection("[2001:db8::1]:65536") ==
        "invalid port \"65536\" in \"[2001:db8::1]:65536\" (expected 1-65535)");
}

TEST_CASE("match rejects a port that is not a number", "[match]") {
  CHECK(rejection("api.example.com:abc") ==
        "invalid port \"abc\" in \"api.example.com:abc\" (expected 1-65535)");
  CHECK(rejection("api.example.com:") ==
        "invalid port \"\" in \"api.example.com:\" (expected 1-65535)");
  CHECK(rejection("api.example.com:0443") ==
        "invalid port \"0443\" in \"api.example.com:0443\" (expected 1-65535)");
  CHECK(rejection("api.example.com:-1") ==
        "invalid port \"-1\" in \"api.example.com:-1\" (expected 1-65535)");
}

TEST_CASE("match rejects an unbracketed IPv6 prefix with a port", "[match]") {
  CHECK(rejection("2001:db8::/32:443") ==
        "ambiguous match \"2001:db8::/32:443\": an IPv6 address with a port must be written "
        "[address]:port");
}

TEST_CASE("match rejects an unbracketed IPv6 address with a port", "[match]") {
  CHECK(rejection("fe80::1:2:3:4:5:6:7:443") ==
        "ambiguous match \"fe80::1:2:3:4:5:6:7:443\": an IPv6 address with a port must be "
        "written [address]:port");
}

TEST_CASE("match rejects bracketed forms without a port or without IPv6 inside", "[match]") {
  CHECK(rejection("[2001:db8::1]") == "invalid match \"[2001:db8::1]\": expected [address]:port");
  CHECK(rejection("[10.0.0.1]:443") ==
        "invalid match \"[10.0.0.1]:443\": expected an IPv6 address or prefix inside [ ]");
  CHECK(rejection("[db.internal]:443") ==
        "invalid match \"[db.internal]:443\": expected an IPv6 address or prefix inside [ ]");
}

TEST_CASE("match rejects a URL and says so", "[match]") {
  CHECK(rejection("https://x.com") ==
        "invalid match \"https://x.com\": expected a host, address or prefix, not a URL");
  CHECK(rejection("http://x.com:8080/path") ==
        "invalid match \"http://x.com:8080/path\": expected a host, address or prefix, not a URL");
  CHECK(rejection("x.com/path") ==
        "invalid match \"x.com/path\": expected a host, address or prefix, not a URL");
}

TEST_CASE("match rejects an empty pattern", "[match]") {
  CHECK(rejection("") == "empty match pattern");
  CHECK(rejection(":443") == "invalid match \":443\": empty host");
}

TEST_CASE("match rejects two stars", "[match]") {
  CHECK(rejection("*.*.example.com") ==
        "invalid match \"*.*.example.com\": at most one '*' is allowed");
  CHECK(rejection("a*b*.example.com") ==
        "invalid match \"a*b*.example.com\": at most one '*' is allowed");
  CHECK(rejection("**.example.com") ==
        "invalid match \"**.example.com\": at most one '*' is allowed");
}

TEST_CASE("match rejects empty labels", "[match]") {
  CHECK(rejection("a..example.com") == "invalid match \"a..example.com\": empty label");
  CHECK(rejection(".example.com") == "invalid match \".example.com\": empty label");
  CHECK(rejection("example.com..") == "invalid match \"example.com..\": empty label");
  CHECK(rejection("*..example.com") == "invalid match \"*..example.com\": empty label");
}

TEST_CASE("match rejects characters that cannot appear in a host", "[match]") {
  CHECK(rejection("exa mple.com") ==
        "invalid match \"exa mple.com\": character ' ' is not allowed in a host");
  CHECK(rejection("user@example.com") ==
        "invalid match \"user@example.com\": character '@' is not allowed in a host");
}

// ---- matching ------------------------------------------------------------

TEST_CASE("match host patterns ignore case and a trailing dot", "[match]") {
  const MatchPattern p = pattern("API.Example.COM.");
  CHECK(p.kind() == Kind::kExact);
  CHECK(p.host() == "api.example.com");
  CHECK(hostMatches(p, "api.example.com"));
  CHECK(hostMatches(p, "API.EXAMPLE.COM"));
  CHECK(hostMatches(p, "Api.Example.Com."));
  CHECK_FALSE(hostMatches(p, "www.api.example.com"));
  CHECK_FALSE(hostMatches(p, "api.example.co"));

  const MatchPattern suffix = pattern("*.EXAMPLE.com");
  CHECK(hostMatches(suffix, "WWW.Example.COM."));

  const MatchPattern withPort = pattern("DB.Internal.:5432");
  CHECK(withPort.host() == "db.internal");
  CHECK(hostMatches(withPort, "db.internal."));

  CHECK(normalizeHost("WwW.Example.COM.") == "www.example.com");
  CHECK(normalizeHost("example.com") == "example.com");
}

TEST_CASE("match \"*.example.com\" covers the apex and every subdomain depth", "[match]") {
  const MatchPattern p = pattern("*.example.com");
  CHECK(hostMatches(p, "example.com"));
  CHECK(hostMatches(p, "a.example.com"));
  CHECK(hostMatches(p, "a.b.c.d.example.com"));
  CHECK_FALSE(hostMatches(p, "badexample.com"));
  CHECK_FALSE(hostMatches(p, "a.badexample.com"));
  CHECK_FALSE(hostMatches(p, "example.com.evil.net"));
  CHECK_FALSE(hostMatches(p, "example.co"));
  CHECK_FALSE(hostMatches(p, "com"));
  CHECK_FALSE(hostMatches(p, ""));
}

TEST_CASE("match mid-label wildcard needs prefix, at least one character, suffix", "[match]") {
  const MatchPattern p = pattern("bedrock-runtime.*.amazonaws.com");
  CHECK(hostMatches(p, "bedrock-runtime.us-east-1.amazonaws.com"));
  CHECK(hostMatches(p, "bedrock-runtime.x.amazonaws.com"));
  CHECK(
      hostMatches(p, "bedrock-runtime.fips.us-east-1.amazonaws.com"));  // the middle may hold dots
  CHECK(hostMatches(p, "Bedrock-Runtime.EU-West-1.AmazonAWS.com."));
  // The dot after '*' belongs to the suffix.
  CHECK_FALSE(hostMatches(p, "bedrock-runtime.us-east-1amazonaws.com"));
  // Nothing (or only the dots) between prefix and suffix.
  CHECK_FALSE(hostMatches(p, "bedrock-runtime.amazonaws.com"));
  CHECK_FALSE(hostMatches(p, "bedrock-runtime..amazonaws.com"));
  CHECK_FALSE(hostMatches(p, "bedrock-runtimeamazonaws.com"));
  CHECK_FALSE(hostMatches(p, "xbedrock-runtime.us-east-1.amazonaws.com"));
  CHECK_FALSE(hostMatches(p, "bedrock.us-east-1.amazonaws.com"));
  CHECK_FALSE(hostMatches(p, "bedrock-runtime.us-east-1.amazonaws.com.evil.net"));

  const MatchPattern inLabel = pattern("api-*.example.com");
  CHECK(hostMatches(inLabel, "api-v2.example.com"));
  CHECK_FALSE(hostMatches(inLabel, "api-.example.com"));
  CHECK_FALSE(hostMatches(inLabel, "api.example.com"));
}

TEST_CASE("match \"*\" matches any non-empty host and any address", "[match]") {
  const MatchPattern p = pattern("*");
  CHECK(hostMatches(p, "example.com"));
  CHECK(hostMatches(p, "x"));
  CHECK(hostMatches(p, "10.0.0.1"));
  CHECK_FALSE(p.matchesHost(""));
  CHECK(p.matchesAddress(addr("10.0.0.1")));
  CHECK(p.matchesAddress(addr("2001:db8::1")));
  CHECK(p.matchesAddress(addr("::ffff:192.0.2.1")));
  CHECK(p.matchesPort(1));
  CHECK(p.matchesPort(65535));
}

TEST_CASE("match host patterns never match an address, prefixes never match a name", "[match]") {
  CHECK_FALSE(pattern("api.example.com").matchesAddress(addr("10.0.0.1")));
  CHECK_FALSE(pattern("*.example.com").matchesAddress(addr("10.0.0.1")));
  CHECK_FALSE(pattern("bedrock-runtime.*.amazonaws.com").matchesAddress(addr("10.0.0.1")));
  CHECK_FALSE(pattern("10.0.0.0/8").matchesHost("10.0.0.1"));
  CHECK_FALSE(pattern("10.0.0.1").matchesHost("10.0.0.1"));
}

TEST_CASE("match IPv4 prefixes judge IPv4-mapped IPv6 addresses by their IPv4", "[match]") {
  const MatchPattern p = pattern("10.0.0.0/8");
  CHECK(p.matchesAddress(addr("10.1.2.3")));
  CHECK(p.matchesAddress(addr("::ffff:10.1.2.3")));
  CHECK_FALSE(p.matchesAddress(addr("11.0.0.1")));
  CHECK_FALSE(p.matchesAddress(addr("::ffff:11.0.0.1")));
  CHECK_FALSE(p.matchesAddress(addr("2001:db8::1")));

  // A mapped prefix is an IPv4 prefix in disguise.
  const MatchPattern mapped = pattern("::ffff:10.0.0.0/104");
  CHECK(prefixOf(mapped) == "10.0.0.0/8");
  CHECK(mapped.matchesAddress(addr("10.9.9.9")));
  CHECK(mapped.matchesAddress(addr("::ffff:10.9.9.9")));

  const MatchPattern single = pattern("192.0.2.7:443");
  CHECK(single.matchesAddress(addr("::ffff:192.0.2.7")));
  CHECK_FALSE(single.matchesAddress(addr("::ffff:192.0.2.8")));
}

TEST_CASE("match IPv6 prefixes match IPv6 addresses bit for bit", "[match]") {
  const MatchPattern p = pattern("2001:db8::/32");
  CHECK(p.matchesAddress(addr("2001:db8::1")));
  CHECK(p.matchesAddress(addr("2001:db8:ffff::1")));
  CHECK_FALSE(p.matchesAddress(addr("2001:db9::1")));
  CHECK_FALSE(p.matchesAddress(addr("10.0.0.1")));

  const MatchPattern bracketed = pattern("[2001:db8:1::/48]:443");
  CHECK(bracketed.matchesAddress(addr("2001:db8:1:2::3")));
  CHECK_FALSE(bracketed.matchesAddress(addr("2001:db8:2::3")));
}

TEST_CASE("match a pattern without a port matches every port, with one only that port", "[match]") {
  const MatchPattern portless = pattern("api.example.com");
  CHECK(portless.matchesPort(443));
  CHECK(portless.matchesPort(80));
  CHECK(portless.matchesPort(8443));

  const MatchPattern withPort = pattern("api.example.com:8443");
  CHECK(withPort.matchesPort(8443));
  CHECK_FALSE(withPort.matchesPort(443));
  CHECK_FALSE(withPort.matchesPort(80));
}

TEST_CASE("numeric-looking hosts that are not IP addresses are refused", "[match]") {
  for (const char* text :
       {"127.1", "0x7f.0.0.1", "2130706433", "508.0.0.1", "433", "10.0.0.1.2:443"}) {
    CAPTURE(text);
    auto p = lens::policy::MatchPattern::parse(text);
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().message.find("not a valid IP address") != std::string::npos);
  }
  CHECK(lens::policy::MatchPattern::parse("v1.example.com").ok());
  CHECK(lens::policy::MatchPattern::parse("host-1.internal:5432").ok());
}
