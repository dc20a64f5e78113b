#include "libcommon/decision/engine.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/policy/match_pattern.h"
#include "libcommon/policy/policy_parser.h"

using lens::decision::CredentialRef;
using lens::decision::Decision;
using lens::decision::Door;
using lens::decision::Engine;
using lens::decision::Request;
using lens::decision::Table;
using lens::net::IpAddress;
using lens::policy::InjectionType;
using lens::policy::PolicyDocument;
using lens::policy::Verdict;

namespace {

std::shared_ptr<const PolicyDocument> parse(std::string_view json) {
  const lens::policy::ParseOutcome outcome = lens::policy::parsePolicy(json);
  std::string errors;
  for (const auto& e : outcome.errors) errors += e.format() + "\n";
  INFO(errors);
  REQUIRE(outcome.ok());
  return outcome.policy;
}

Engine engineFor(std::string_view json) { return Engine(parse(json)); }

// A policy with only egress.http rules (a JSON array) and the given defaults.
std::string httpPolicy(std::string_view rules, std::string_view defaultVerdict = "deny",
                       std::string_view defaultTransport = "direct") {
  return R"({"network": {"defaultVerdict": ")" + std::string(defaultVerdict) +
         R"(", "defaultTransport": ")" + std::string(defaultTransport) +
         R"(", "egress": {"http": )" + std::string(rules) + "}}}";
}

IpAddress addr(std::string_view text) {
  auto parsed = IpAddress::parse(text);
  INFO("address: " << text);
  REQUIRE(parsed.has_value());
  return *parsed;
}

Request request(Door door, std::string host, std::uint16_t port = 0) {
  Request r;
  r.door = door;
  r.host = std::move(host);
  r.port = port;
  return r;
}

Request connect(std::string host, std::uint16_t port = 0) {
  return request(Door::kConnect, std::move(host), port);
}
Request dns(std::string host) { return request(Door::kDns, std::move(host)); }

// A request whose method and path are visible (forward door unless told).
Request http(std::string host, std::string method, std::string path, Door door = Door::kForward) {
  Request r = request(door, std::move(host));
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

Request withAddress(Request r, std::string_view address) {
  r.address = addr(address);
  return r;
}

Request withCallers(Request r, std::vector<std::string> chain) {
  r.callerChain = std::move(chain);
  return r;
}

// "allow upstream http[1] policy-allow": verdict, transport, deciding rule
// (or "default"), reason. One string keeps failures readable.
std::string summary(const Decision& d) {
  std::string rule = "default";
  if (d.rule)
    rule = std::string(toString(d.rule->table)) + "[" + std::to_string(d.rule->index) + "]";
  return std::string(lens::policy::toString(d.verdict)) + " " +
         std::string(lens::policy::toString(d.transport)) + " " + rule + " " +
         std::string(d.reason);
}

// Verdict, rule and reason without the transport.
std::string outcome(const Decision& d) {
  std::string rule = "default";
  if (d.rule)
    rule = std::string(toString(d.rule->table)) + "[" + std::to_string(d.rule->index) + "]";
  return std::string(lens::policy::toString(d.verdict)) + " " + rule + " " + std::string(d.reason);
}

// The credential ids of a decision, in order.
std::vector<std::string> credentialIds(const Decision& d) {
  std::vector<std::string> ids;
  for (const CredentialRef& c : d.credentials) ids.push_back(c.id);
  return ids;
}

using Ids = std::vector<std::string>;

}  // namespace

// ---- first match, defaults ------------------------------------------------

TEST_CASE("engine first match wins: a deny carve-out before a wildcard allow", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "secret.example.com", "verdict": "deny", "transport": "direct"},
    {"match": "*.example.com", "verdict": "allow", "transport": "upstream"}])"));
  CHECK(summary(engine.decide(connect("secret.example.com"))) == "deny direct http[0] policy-deny");
  CHECK(summary(engine.decide(connect("api.example.com"))) ==
        "allow upstream http[1] policy-allow");
  CHECK(summary(engine.decide(connect("example.com"))) == "allow upstream http[1] policy-allow");
  const Decision d = engine.decide(connect("secret.example.com"));
  REQUIRE(d.rule.has_value());
  CHECK(d.rule->match == "secret.example.com");
  CHECK_FALSE(d.allowed());
}

TEST_CASE("engine first match wins: a wildcard allow before a later deny shadows it", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "*.example.com", "verdict": "allow", "transport": "upstream"},
    {"match": "secret.example.com", "verdict": "deny", "transport": "direct"}])"));
  CHECK(summary(engine.decide(connect("secret.example.com"))) ==
        "allow upstream http[0] policy-allow");
  const Decision d = engine.decide(connect("secret.example.com"));
  REQUIRE(d.rule.has_value());
  CHECK(d.rule->match == "*.example.com");
  CHECK(d.allowed());
}

TEST_CASE("engine applies the default verdict and transport when no rule matches", "[engine]") {
  const std::string rules =
      R"([{"match": "api.example.com", "verdict": "allow", "transport": "direct"}])";
  SECTION("default deny") {
    const Engine engine = engineFor(httpPolicy(rules, "deny", "direct"));
    const Decision d = engine.decide(connect("other.example.com"));
    CHECK(summary(d) == "deny direct default policy-deny");
    CHECK_FALSE(d.intercept);
    CHECK(d.credentials.empty());
  }
  SECTION("default allow") {
    const Engine engine = engineFor(httpPolicy(rules, "allow", "upstream"));
    const Decision d = engine.decide(connect("other.example.com"));
    CHECK(summary(d) == "allow upstream default policy-allow");
    CHECK_FALSE(d.intercept);
  }
  SECTION("default ask") {
    const Engine engine = engineFor(httpPolicy(rules, "ask", "upstream"));
    CHECK(summary(engine.decide(connect("other.example.com"))) ==
          "ask upstream default policy-ask");
  }
  SECTION("an empty rule list") {
    const Engine engine = engineFor(httpPolicy("[]", "allow", "direct"));
    CHECK(summary(engine.decide(connect("anything.example"))) ==
          "allow direct default policy-allow");
    CHECK(summary(engine.decide(http("anything.example", "GET", "/"))) ==
          "allow direct default policy-allow");
  }
}

TEST_CASE("engine a rule's ask verdict is reported as policy-ask", "[engine]") {
  const Engine engine = engineFor(
      httpPolicy(R"([{"match": "new.example.com", "verdict": "ask", "transport": "upstream"}])"));
  CHECK(summary(engine.decide(connect("new.example.com"))) == "ask upstream http[0] policy-ask");
}

TEST_CASE("engine matches hosts case-insensitively and ignores a trailing dot", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "API.Example.com", "verdict": "allow", "transport": "direct"}])"));
  CHECK(outcome(engine.decide(connect("api.example.com"))) == "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(connect("API.EXAMPLE.COM."))) == "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(dns("Api.Example.Com."))) == "allow http[0] policy-allow");
}

TEST_CASE("engine refuses a request with neither host nor address", "[engine]") {
  const Engine engine =
      engineFor(httpPolicy(R"([{"match": "*", "verdict": "allow", "transport": "direct"}])"));
  CHECK(outcome(engine.decide(connect(""))) == "deny default invalid-request");
}

// ---- ports and schemes ----------------------------------------------------

TEST_CASE("engine a host:port rule matches only that port", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "api.example.com:8443", "verdict": "allow", "transport": "direct"}])"));
  CHECK(outcome(engine.decide(connect("api.example.com", 8443))) == "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(connect("api.example.com", 443))) == "deny default policy-deny");
  CHECK(outcome(engine.decide(connect("api.example.com"))) == "deny default policy-deny");
  CHECK(outcome(engine.decide(request(Door::kForward, "api.example.com", 8443))) ==
        "allow http[0] policy-allow");
}

TEST_CASE("engine a missing port is 443 on TLS doors and 80 on plain HTTP doors", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "tls.example.com:443", "verdict": "allow", "transport": "direct"},
    {"match": "plain.example.com:80", "verdict": "allow", "transport": "direct"}])"));
  CHECK(outcome(engine.decide(request(Door::kConnect, "tls.example.com"))) ==
        "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(request(Door::kTransparentTls, "tls.example.com"))) ==
        "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(request(Door::kForward, "tls.example.com"))) ==
        "deny default policy-deny");
  CHECK(outcome(engine.decide(request(Door::kTransparentHttp, "tls.example.com"))) ==
        "deny default policy-deny");

  CHECK(outcome(engine.decide(request(Door::kForward, "plain.example.com"))) ==
        "allow http[1] policy-allow");
  CHECK(outcome(engine.decide(request(Door::kTransparentHttp, "plain.example.com"))) ==
        "allow http[1] policy-allow");
  CHECK(outcome(engine.decide(request(Door::kConnect, "plain.example.com"))) ==
        "deny default policy-deny");
  CHECK(outcome(engine.decide(request(Door::kTransparentTls, "plain.example.com"))) ==
        "deny default policy-deny");
}

TEST_CASE("engine a scheme filter restricts a rule to its scheme", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "plain.example.com", "scheme": "http", "verdict": "allow", "transport": "direct"},
    {"match": "tls.example.com", "scheme": "https", "verdict": "allow", "transport": "direct"}])"));
  CHECK(outcome(engine.decide(connect("plain.example.com"))) == "deny default policy-deny");
  CHECK(outcome(engine.decide(request(Door::kTransparentTls, "plain.example.com"))) ==
        "deny default policy-deny");
  CHECK(outcome(engine.decide(http("plain.example.com", "GET", "/"))) ==
        "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(request(Door::kTransparentHttp, "plain.example.com"))) ==
        "allow http[0] policy-allow");

  CHECK(outcome(engine.decide(connect("tls.example.com"))) == "allow http[1] policy-allow");
  CHECK(outcome(engine.decide(http("tls.example.com", "GET", "/"))) == "deny default policy-deny");
}

TEST_CASE("engine finds rules of every pattern form through its indexes, in rule order",
          "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "example.*", "verdict": "deny", "transport": "direct"},
    {"match": "*api.example.com", "verdict": "allow", "transport": "direct"},
    {"match": "edge-*", "verdict": "ask", "transport": "direct"},
    {"match": "bedrock-runtime.*.amazonaws.com", "verdict": "allow", "transport": "upstream"},
    {"match": "*.amazonaws.com", "verdict": "deny", "transport": "direct"},
    {"match": "s3.amazonaws.com", "verdict": "allow", "transport": "direct"},
    {"match": "*", "verdict": "ask", "transport": "upstream"}])"));
  CHECK(outcome(engine.decide(connect("example.org"))) == "deny http[0] policy-deny");
  CHECK(outcome(engine.decide(connect("example.co.uk"))) == "deny http[0] policy-deny");
  CHECK(outcome(engine.decide(connect("myapi.example.com"))) == "allow http[1] policy-allow");
  CHECK(outcome(engine.decide(connect("x.api.example.com"))) == "allow http[1] policy-allow");
  CHECK(outcome(engine.decide(connect("api.example.com"))) == "ask http[6] policy-ask");
  CHECK(outcome(engine.decide(connect("edge-1"))) == "ask http[2] policy-ask");
  CHECK(outcome(engine.decide(connect("edge-1.example.net"))) == "ask http[2] policy-ask");
  CHECK(outcome(engine.decide(connect("bedrock-runtime.us-east-1.amazonaws.com"))) ==
        "allow http[3] policy-allow");
  CHECK(outcome(engine.decide(connect("bedrock-runtime.amazonaws.com"))) ==
        "deny http[4] policy-deny");
  CHECK(outcome(engine.decide(connect("s3.amazonaws.com"))) == "deny http[4] policy-deny");
  CHECK(outcome(engine.decide(connect("other.example.net"))) == "ask http[6] policy-ask");
  Request byAddress = request(Door::kConnect, "");
  byAddress.address = addr("192.0.2.1");
  CHECK(outcome(engine.decide(byAddress)) == "ask http[6] policy-ask");
}

// ---- addresses ------------------------------------------------------------

TEST_CASE("engine CIDR rules match an IP literal host", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "10.0.0.0/8", "verdict": "allow", "transport": "direct"},
    {"match": "[2001:db8::/32]:443", "verdict": "allow", "transport": "direct"}])"));
  CHECK(outcome(engine.decide(connect("10.1.2.3"))) == "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(connect("11.1.2.3"))) == "deny default policy-deny");
  CHECK(outcome(engine.decide(connect("::ffff:10.1.2.3"))) == "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(connect("[2001:db8::5]"))) == "allow http[1] policy-allow");
  CHECK(outcome(engine.decide(connect("2001:db8::5", 443))) == "allow http[1] policy-allow");
  CHECK(outcome(engine.decide(connect("[2001:db8::5]", 8443))) == "deny default policy-deny");
  CHECK(outcome(engine.decide(connect("[2001:db9::5]"))) == "deny default policy-deny");
}

TEST_CASE("engine CIDR rules match the resolved address of a named host", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "10.0.0.0/8", "verdict": "deny", "transport": "direct"},
    {"match": "*", "verdict": "allow", "transport": "direct"}])"));
  CHECK(outcome(engine.decide(withAddress(connect("internal.example"), "10.9.8.7"))) ==
        "deny http[0] policy-deny");
  CHECK(outcome(engine.decide(withAddress(connect("internal.example"), "::ffff:10.9.8.7"))) ==
        "deny http[0] policy-deny");
  CHECK(outcome(engine.decide(withAddress(connect("public.example"), "192.0.2.1"))) ==
        "allow http[1] policy-allow");
  CHECK(outcome(engine.decide(connect("public.example"))) == "allow http[1] policy-allow");

  // A request that only has an address (transparent door before SNI).
  Request byAddress = request(Door::kTransparentTls, "");
  byAddress.address = addr("10.1.1.1");
  CHECK(outcome(engine.decide(byAddress)) == "deny http[0] policy-deny");
  byAddress.address = addr("192.0.2.9");
  CHECK(outcome(engine.decide(byAddress)) == "allow http[1] policy-allow");
}

// ---- egress.tcp, raw-tcp, udp -----------------------------------------------

TEST_CASE("engine egress.tcp decides before egress.http on connect", "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "upstream",
    "egress": {
      "http": [{"match": "db.internal", "verdict": "allow", "transport": "upstream"}],
      "tcp": [{"match": "db.internal:443", "verdict": "deny"}]}}})");
  CHECK(summary(engine.decide(connect("db.internal"))) == "deny direct tcp[0] policy-deny");
  CHECK(summary(engine.decide(connect("db.internal", 443))) == "deny direct tcp[0] policy-deny");
  // Another port: the tcp rule does not match and egress.http decides.
  CHECK(summary(engine.decide(connect("db.internal", 8443))) ==
        "allow upstream http[0] policy-allow");
}

TEST_CASE("engine egress.tcp matches are never intercepted", "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "upstream",
    "egress": {
      "http": [{"match": "api.example.com", "verdict": "allow", "transport": "upstream", "tlsTerminate": true,
                "rules": [{"method": "GET", "path": "/v1/**"}]}],
      "tcp": [{"match": "api.example.com:443", "verdict": "allow"},
              {"match": "10.0.0.0/8:5432", "verdict": "allow"}]}},
    "credentials": [{"id": "tok", "injections": [
      {"injectionType": "header", "domain": "api.example.com", "header": "Authorization", "value": "Bearer x"}]}]})");
  const Decision d = engine.decide(connect("api.example.com"));
  CHECK(summary(d) == "allow direct tcp[0] policy-allow");
  CHECK_FALSE(d.intercept);
  CHECK(d.credentials.empty());

  // The same rule judges a forward request to port 443: no rules list applies.
  Request forward = http("api.example.com", "DELETE", "/admin");
  forward.port = 443;
  const Decision f = engine.decide(forward);
  CHECK(summary(f) == "allow direct tcp[0] policy-allow");
  CHECK_FALSE(f.intercept);

  CHECK(summary(engine.decide(withAddress(connect("pg.internal", 5432), "10.2.3.4"))) ==
        "allow direct tcp[1] policy-allow");
}

TEST_CASE("engine egress.tcp also judges the forward door on port 80", "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "allow", "defaultTransport": "direct",
    "egress": {"tcp": [{"match": "legacy.example.com:80", "verdict": "deny"}]}}})");
  CHECK(outcome(engine.decide(http("legacy.example.com", "GET", "/"))) ==
        "deny tcp[0] policy-deny");
  CHECK(outcome(engine.decide(connect("legacy.example.com"))) == "allow default policy-allow");
}

TEST_CASE("engine raw-tcp door uses egress.tcp then the default verdict, never egress.http",
          "[engine]") {
  const std::string tables = R"("egress": {
      "http": [{"match": "*", "verdict": "allow", "transport": "upstream"}],
      "tcp": [{"match": "git.example.com:22", "verdict": "allow"},
              {"match": "10.0.0.0/8:5432", "verdict": "ask"},
              {"match": "*.blocked.example:22", "verdict": "deny"}]})";
  SECTION("default deny") {
    const Engine engine =
        engineFor(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "upstream", )" +
                  tables + "}}");
    const Decision d = engine.decide(request(Door::kRawTcp, "git.example.com", 22));
    CHECK(summary(d) == "allow direct tcp[0] policy-allow");
    CHECK_FALSE(d.intercept);
    Request byAddress = request(Door::kRawTcp, "", 5432);
    byAddress.address = addr("10.20.30.40");
    CHECK(summary(engine.decide(byAddress)) == "ask direct tcp[1] policy-ask");
    CHECK(summary(engine.decide(request(Door::kRawTcp, "x.blocked.example", 22))) ==
          "deny direct tcp[2] policy-deny");
    // The http "*" allow does not open raw TCP.
    CHECK(summary(engine.decide(request(Door::kRawTcp, "git.example.com", 2222))) ==
          "deny direct default unknown-protocol");
    byAddress.port = 5433;
    CHECK(summary(engine.decide(byAddress)) == "deny direct default unknown-protocol");
  }
  SECTION(
      "default allow: an unrecognised protocol is asked for, never let through by the default") {
    const Engine engine =
        engineFor(R"({"network": {"defaultVerdict": "allow", "defaultTransport": "upstream", )" +
                  tables + "}}");
    CHECK(summary(engine.decide(request(Door::kRawTcp, "other.example.com", 2222))) ==
          "ask direct default unknown-protocol");
    CHECK(summary(engine.decide(request(Door::kRawTcp, "x.blocked.example", 22))) ==
          "deny direct tcp[2] policy-deny");
  }
}

TEST_CASE("engine udp door denies without a rule even when the default is allow", "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "allow", "defaultTransport": "direct",
    "egress": {
      "http": [{"match": "*", "verdict": "allow", "transport": "direct"}],
      "tcp": [{"match": "vpn.example.com:4500", "verdict": "allow"}]}}})");
  Request r = request(Door::kUdp, "vpn.example.com", 4500);
  CHECK(outcome(engine.decide(r)) == "deny default policy-deny");
  r.host.clear();
  r.address = addr("192.0.2.10");
  CHECK(outcome(engine.decide(r)) == "deny default policy-deny");
}

TEST_CASE("engine udp door allows what an egress.udp rule allows", "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "upstream",
    "egress": {"udp": [
      {"match": "vpn.example.com:4500", "verdict": "allow"},
      {"match": "192.0.2.0/24:123", "verdict": "allow"},
      {"match": "*.example.com:4500", "verdict": "deny"}]}}})");
  const Decision d = engine.decide(request(Door::kUdp, "vpn.example.com", 4500));
  CHECK(summary(d) == "allow direct udp[0] policy-allow");
  CHECK_FALSE(d.intercept);

  Request ntp = request(Door::kUdp, "", 123);
  ntp.address = addr("192.0.2.77");
  CHECK(summary(engine.decide(ntp)) == "allow direct udp[1] policy-allow");
  ntp.port = 124;
  CHECK(outcome(engine.decide(ntp)) == "deny default policy-deny");

  CHECK(outcome(engine.decide(request(Door::kUdp, "other.example.com", 4500))) ==
        "deny udp[2] policy-deny");
  CHECK(outcome(engine.decide(request(Door::kUdp, "vpn.example.com", 4501))) ==
        "deny default policy-deny");
  // udp rules say nothing about TCP.
  CHECK(outcome(engine.decide(request(Door::kRawTcp, "vpn.example.com", 4500))) ==
        "deny default unknown-protocol");
}

// ---- dns --------------------------------------------------------------------

TEST_CASE("engine dns resolves a name an egress.http rule allows", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "api.example.com:8443", "scheme": "http", "verdict": "allow", "transport": "upstream"},
    {"match": "*.cdn.example", "verdict": "allow", "transport": "direct"}])"));
  // Ports and schemes do not matter for a name.
  CHECK(summary(engine.decide(dns("api.example.com"))) == "allow upstream http[0] policy-allow");
  CHECK(summary(engine.decide(dns("img.cdn.example"))) == "allow direct http[1] policy-allow");
  CHECK(outcome(engine.decide(dns("other.example.com"))) == "deny default dns-denied");
}

TEST_CASE("engine dns resolves a name an egress.tcp hostname rule allows", "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct",
    "egress": {"tcp": [{"match": "db.internal:5432", "verdict": "allow"}]}}})");
  CHECK(outcome(engine.decide(dns("db.internal"))) == "allow tcp[0] policy-allow");
  CHECK(outcome(engine.decide(dns("other.internal"))) == "deny default dns-denied");
}

TEST_CASE("engine dns resolves a name an egress.udp hostname rule allows", "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct",
    "egress": {"udp": [{"match": "*.stun.example:3478", "verdict": "allow"}]}}})");
  CHECK(outcome(engine.decide(dns("eu.stun.example"))) == "allow udp[0] policy-allow");
  CHECK(outcome(engine.decide(dns("stun.example"))) == "allow udp[0] policy-allow");
  CHECK(outcome(engine.decide(dns("stun.example.org"))) == "deny default dns-denied");
}

TEST_CASE("engine dns: CIDR rules never match a name", "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "allow", "defaultTransport": "direct",
    "egress": {
      "http": [{"match": "10.0.0.0/8", "verdict": "allow", "transport": "direct"},
               {"match": "192.0.2.1", "verdict": "allow", "transport": "direct"}],
      "tcp": [{"match": "10.0.0.0/8:5432", "verdict": "allow"}],
      "udp": [{"match": "192.0.2.0/24:123", "verdict": "allow"}]}}})");
  CHECK(outcome(engine.decide(dns("10.1.2.3"))) == "deny default dns-denied");
  CHECK(outcome(engine.decide(dns("192.0.2.1"))) == "deny default dns-denied");
  CHECK(outcome(engine.decide(dns("db.internal"))) == "deny default dns-denied");
}

TEST_CASE("engine dns: ask counts as allowed", "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct",
    "egress": {
      "http": [{"match": "new.example.com", "verdict": "ask", "transport": "upstream"}],
      "tcp": [{"match": "db.internal:5432", "verdict": "ask"}]}}})");
  CHECK(outcome(engine.decide(dns("new.example.com"))) == "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(dns("db.internal"))) == "allow tcp[0] policy-allow");
}

TEST_CASE("engine dns never consults the default verdict", "[engine]") {
  SECTION("default allow, no rule for the name") {
    const Engine engine = engineFor(
        httpPolicy(R"([{"match": "api.example.com", "verdict": "allow", "transport": "direct"}])",
                   "allow", "upstream"));
    CHECK(summary(engine.decide(dns("other.example.com"))) == "deny direct default dns-denied");
  }
  SECTION("default allow, no rules at all") {
    const Engine engine = engineFor(httpPolicy("[]", "allow", "upstream"));
    CHECK(outcome(engine.decide(dns("example.com"))) == "deny default dns-denied");
  }
  SECTION("a catch-all route resolves everything") {
    const Engine engine = engineFor(
        httpPolicy(R"([{"match": "*", "verdict": "allow", "transport": "direct"}])", "deny"));
    CHECK(outcome(engine.decide(dns("anything.example"))) == "allow http[0] policy-allow");
  }
}

TEST_CASE("engine dns: egress.http is strict first match, even a port-scoped deny denies the name",
          "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "secret.example.com:8443", "verdict": "deny", "transport": "direct"},
    {"match": "*.example.com", "verdict": "allow", "transport": "direct"}])"));
  CHECK(outcome(engine.decide(dns("secret.example.com"))) == "deny default dns-denied");
  CHECK(outcome(engine.decide(dns("api.example.com"))) == "allow http[1] policy-allow");
}

TEST_CASE("engine dns: the tables are united, a deny in one does not cancel an allow in another",
          "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct",
    "egress": {
      "http": [{"match": "db.internal", "verdict": "deny", "transport": "direct"}],
      "tcp": [{"match": "db.internal:5432", "verdict": "allow"}]}}})");
  CHECK(outcome(engine.decide(dns("db.internal"))) == "allow tcp[0] policy-allow");
}

TEST_CASE("engine dns: a tcp deny on one port does not cancel an allow on another port",
          "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct",
    "egress": {"tcp": [
      {"match": "db.internal:5432", "verdict": "deny"},
      {"match": "db.internal:5433", "verdict": "allow"},
      {"match": "*.cache.internal:6379", "verdict": "deny"},
      {"match": "redis.cache.internal:6379", "verdict": "allow"}]}}})");
  CHECK(outcome(engine.decide(dns("db.internal"))) == "allow tcp[1] policy-allow");
  // A deny on the same port, earlier in the table, does cancel it.
  CHECK(outcome(engine.decide(dns("redis.cache.internal"))) == "deny default dns-denied");
}

// ---- binaries ---------------------------------------------------------------

TEST_CASE("engine binaries: a listed caller or ancestor is allowed", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "github.com", "verdict": "allow", "transport": "direct", "binaries": ["/usr/bin/git", "/usr/bin/gh"]},
    {"match": "*", "verdict": "allow", "transport": "upstream"}])"));
  CHECK(outcome(engine.decide(withCallers(connect("github.com"), {"/usr/bin/git"}))) ==
        "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(withCallers(connect("github.com"),
                                          {"/usr/lib/git-core/git-remote-https", "/usr/bin/git",
                                           "/bin/bash"}))) == "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(withCallers(connect("github.com"), {"/usr/bin/gh"}))) ==
        "allow http[0] policy-allow");
}

TEST_CASE("engine binaries: another caller is denied and does not fall through", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "github.com", "verdict": "allow", "transport": "direct", "binaries": ["/usr/bin/git"]},
    {"match": "*", "verdict": "allow", "transport": "upstream"}])"));
  const Decision d =
      engine.decide(withCallers(connect("github.com"), {"/usr/bin/curl", "/bin/bash"}));
  CHECK(outcome(d) == "deny http[0] binary-not-allowed");
  CHECK_FALSE(d.intercept);
  // An unknown caller cannot prove it is listed.
  CHECK(outcome(engine.decide(connect("github.com"))) == "deny http[0] binary-not-allowed");
  // The path must be equal, not a prefix or a name.
  CHECK(outcome(engine.decide(withCallers(connect("github.com"), {"/usr/bin/git2"}))) ==
        "deny http[0] binary-not-allowed");
  CHECK(outcome(engine.decide(withCallers(connect("github.com"), {"git"}))) ==
        "deny http[0] binary-not-allowed");
  // Other hosts are unaffected.
  CHECK(outcome(engine.decide(withCallers(connect("example.com"), {"/usr/bin/curl"}))) ==
        "allow http[1] policy-allow");
}

TEST_CASE("engine binaries: egress.tcp rules check the caller too", "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "allow", "defaultTransport": "direct",
    "egress": {"tcp": [
      {"match": "db.internal:5432", "verdict": "allow", "binaries": ["/usr/bin/psql"]},
      {"match": "*:5432", "verdict": "allow"}]}}})");
  CHECK(outcome(engine.decide(withCallers(request(Door::kRawTcp, "db.internal", 5432),
                                          {"/usr/bin/psql"}))) == "allow tcp[0] policy-allow");
  CHECK(outcome(engine.decide(withCallers(request(Door::kRawTcp, "db.internal", 5432),
                                          {"/usr/bin/nc"}))) == "deny tcp[0] binary-not-allowed");
}

// ---- rules lists --------------------------------------------------------------

TEST_CASE("engine rules list: a visible request it does not cover is denied", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "api.example.com", "verdict": "allow", "transport": "direct",
     "rules": [{"method": "GET", "path": "/v1/**"}, {"method": "POST", "path": "/upload"}, {"path": "/health"}]}])"));
  CHECK(outcome(engine.decide(http("api.example.com", "GET", "/v1/items/7"))) ==
        "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(http("api.example.com", "GET", "/v1"))) ==
        "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(http("api.example.com", "POST", "/upload"))) ==
        "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(http("api.example.com", "DELETE", "/health"))) ==
        "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(http("api.example.com", "POST", "/v1/items"))) ==
        "deny http[0] http-rule-denied");
  CHECK(outcome(engine.decide(http("api.example.com", "GET", "/upload"))) ==
        "deny http[0] http-rule-denied");
  CHECK(outcome(engine.decide(http("api.example.com", "GET", "/v2/items"))) ==
        "deny http[0] http-rule-denied");
  // Inside the TLS session of a CONNECT the same list applies.
  CHECK(outcome(engine.decide(http("api.example.com", "GET", "/admin", Door::kConnect))) ==
        "deny http[0] http-rule-denied");
}

TEST_CASE("engine rules list: before the request is visible the connection is allowed",
          "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "api.example.com", "verdict": "allow", "transport": "direct",
     "rules": [{"method": "GET", "path": "/v1/**"}]}])"));
  const Decision d = engine.decide(connect("api.example.com"));
  CHECK(outcome(d) == "allow http[0] policy-allow");
  CHECK(d.intercept);
}

TEST_CASE("engine rules list: paths are judged after normalisation", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "open.example.com", "verdict": "allow", "transport": "direct", "rules": [{"path": "/public/**"}]},
    {"match": "admin.example.com", "verdict": "allow", "transport": "direct", "rules": [{"path": "/admin"}]}])"));
  // "/public/%2e%2e/admin" is "/admin": outside /public.
  const Decision escaped = engine.decide(http("open.example.com", "GET", "/public/%2e%2e/admin"));
  CHECK(outcome(escaped) == "deny http[0] http-rule-denied");
  CHECK(escaped.detail.find("/admin") != std::string::npos);
  CHECK(outcome(engine.decide(http("open.example.com", "GET", "/public/%2E%2E/%2e%2e/admin"))) ==
        "deny http[0] http-rule-denied");
  CHECK(outcome(engine.decide(http("open.example.com", "GET", "/public//a/./b?x=../../admin"))) ==
        "allow http[0] policy-allow");
  // ... and the same request is judged as "/admin" where "/admin" is allowed.
  CHECK(outcome(engine.decide(http("admin.example.com", "GET", "/public/%2e%2e/admin"))) ==
        "allow http[1] policy-allow");
  CHECK(outcome(engine.decide(http("admin.example.com", "GET", "/admin/?q=1"))) ==
        "allow http[1] policy-allow");
  CHECK(outcome(engine.decide(http("admin.example.com", "GET", "/admin%2fusers"))) ==
        "deny http[1] http-rule-denied");
}

TEST_CASE("engine rules list: methods compare case-insensitively", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "a.example.com", "verdict": "allow", "transport": "direct", "rules": [{"method": "get", "path": "/x"}]},
    {"match": "b.example.com", "verdict": "allow", "transport": "direct", "rules": [{"method": "POST"}]},
    {"match": "c.example.com", "verdict": "allow", "transport": "direct", "rules": [{"method": "*", "path": "/y"}]}])"));
  CHECK(outcome(engine.decide(http("a.example.com", "GET", "/x"))) == "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(http("a.example.com", "get", "/x"))) == "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(http("a.example.com", "PUT", "/x"))) ==
        "deny http[0] http-rule-denied");
  CHECK(outcome(engine.decide(http("b.example.com", "post", "/anything/at/all"))) ==
        "allow http[1] policy-allow");
  CHECK(outcome(engine.decide(http("b.example.com", "Get", "/"))) ==
        "deny http[1] http-rule-denied");
  CHECK(outcome(engine.decide(http("c.example.com", "PATCH", "/y"))) ==
        "allow http[2] policy-allow");
}

TEST_CASE("engine rules list on a deny rule still denies with policy-deny", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "api.example.com", "verdict": "deny", "transport": "direct", "rules": [{"method": "GET"}]}])"));
  CHECK(outcome(engine.decide(http("api.example.com", "GET", "/"))) == "deny http[0] policy-deny");
  CHECK(outcome(engine.decide(http("api.example.com", "POST", "/"))) == "deny http[0] policy-deny");
}

// ---- interception -------------------------------------------------------------

TEST_CASE("engine intercept: a plain allow on connect is a blind tunnel", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "plain.example.com", "verdict": "allow", "transport": "direct"},
    {"match": "up.example.com", "verdict": "allow", "transport": "upstream"}])"));
  CHECK_FALSE(engine.decide(connect("plain.example.com")).intercept);
  CHECK_FALSE(engine.decide(connect("up.example.com")).intercept);
}

TEST_CASE("engine intercept: a rule with a rules list is intercepted on connect", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "api.example.com", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET"}]}])"));
  CHECK(engine.decide(connect("api.example.com")).intercept);
  CHECK(engine.decide(request(Door::kTransparentTls, "api.example.com")).intercept);
  // Plain HTTP is visible without terminating TLS.
  CHECK_FALSE(engine.decide(http("api.example.com", "GET", "/")).intercept);
}

TEST_CASE("engine intercept: tlsTerminate with upstream transport is intercepted", "[engine]") {
  const Engine engine = engineFor(httpPolicy(R"([
    {"match": "up.example.com", "verdict": "allow", "transport": "upstream", "tlsTerminate": true},
    {"match": "direct.example.com", "verdict": "allow", "transport": "direct", "tlsTerminate": true}])"));
  CHECK(engine.decide(connect("up.example.com")).intercept);
  // tlsTerminate is ignored for direct transport.
  CHECK_FALSE(engine.decide(connect("direct.example.com")).intercept);
}

TEST_CASE("engine intercept: a credential injection for the host is intercepted", "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "allow", "defaultTransport": "direct",
    "egress": {"http": [{"match": "api.example.com", "verdict": "allow", "transport": "direct"},
                        {"match": "gone.example.com", "verdict": "deny", "transport": "direct"}]}},
    "credentials": [{"id": "tok", "injections": [
      {"injectionType": "header", "domain": "*.example.com", "header": "Authorization", "value": "Bearer x"}]}]})");
  const Decision byRule = engine.decide(connect("api.example.com"));
  CHECK(byRule.intercept);
  CHECK(credentialIds(byRule) == Ids{"tok"});
  // The default allow collects credentials too.
  const Decision byDefault = engine.decide(connect("www.example.com"));
  CHECK(outcome(byDefault) == "allow default policy-allow");
  CHECK(byDefault.intercept);
  CHECK(credentialIds(byDefault) == Ids{"tok"});
  // A denied request gets no credentials and no interception.
  const Decision denied = engine.decide(connect("gone.example.com"));
  CHECK(outcome(denied) == "deny http[1] policy-deny");
  CHECK_FALSE(denied.intercept);
  CHECK(denied.credentials.empty());
  // A host without an injection is not intercepted.
  CHECK_FALSE(engine.decide(connect("example.org")).intercept);
}

// ---- credentials --------------------------------------------------------------

namespace {

constexpr std::string_view kCredentialPolicy = R"({
  "network": {"defaultVerdict": "deny", "defaultTransport": "direct",
    "egress": {"http": [{"match": "*", "verdict": "allow", "transport": "direct"}]}},
  "credentials": [
    {"id": "gh", "envVar": "GH_TOKEN", "placeholder": "__lens_cred:gh__", "injections": [
      {"injectionType": "header", "domain": "api.github.com", "header": "Authorization", "value": "Bearer real"},
      {"injectionType": "uriPlaceholder", "domain": "*.github.com", "value": "real"}]},
    {"id": "gh-post", "injections": [
      {"injectionType": "header", "domain": "api.github.com", "header": "X-Post", "value": "v",
       "rules": [{"method": "POST", "path": "/repos/**"}]}]},
    {"id": "aws", "placeholder": "LENSFAKEAAAAAAAAAAAA", "injections": [
      {"injectionType": "awsSigv4", "domain": "bedrock-runtime.*.amazonaws.com",
       "accessKeyId": "ASIAREAL", "secretAccessKey": "secret", "sessionToken": "token"}]},
    {"id": "alt-port", "injections": [
      {"injectionType": "header", "domain": "api.github.com:8443", "header": "X-Alt", "value": "v"}]},
    {"id": "by-ip", "injections": [
      {"injectionType": "header", "domain": "10.0.0.0/8", "header": "X-Ip", "value": "v"}]}
  ]})";

}  // namespace

TEST_CASE("engine credentials: every injection whose domain matches the host applies", "[engine]") {
  const Engine engine = engineFor(kCredentialPolicy);
  const Decision d = engine.decide(connect("api.github.com"));
  CHECK(outcome(d) == "allow http[0] policy-allow");
  CHECK(d.intercept);
  // Method and path not known yet: the rules-filtered injection is included.
  REQUIRE(credentialIds(d) == Ids{"gh", "gh", "gh-post"});
  CHECK(d.credentials[0].credential == 0);
  CHECK(d.credentials[0].injection == 0);
  CHECK(d.credentials[0].type == InjectionType::kHeader);
  CHECK(d.credentials[1].credential == 0);
  CHECK(d.credentials[1].injection == 1);
  CHECK(d.credentials[1].type == InjectionType::kUriPlaceholder);
  CHECK(d.credentials[2].credential == 1);
  CHECK(d.credentials[2].injection == 0);

  const Decision uploads = engine.decide(connect("uploads.github.com"));
  CHECK(credentialIds(uploads) == Ids{"gh"});
  CHECK(uploads.credentials[0].type == InjectionType::kUriPlaceholder);

  CHECK(credentialIds(engine.decide(connect("github.com.evil.example"))) == Ids{});
  CHECK_FALSE(engine.decide(connect("github.com.evil.example")).intercept);
}

TEST_CASE("engine credentials: awsSigv4 injections match by their domain pattern", "[engine]") {
  const Engine engine = engineFor(kCredentialPolicy);
  const Decision d = engine.decide(connect("bedrock-runtime.us-east-1.amazonaws.com"));
  REQUIRE(credentialIds(d) == Ids{"aws"});
  CHECK(d.credentials[0].credential == 2);
  CHECK(d.credentials[0].type == InjectionType::kAwsSigv4);
  CHECK(d.intercept);
  CHECK(engine.decide(connect("s3.us-east-1.amazonaws.com")).credentials.empty());
}

TEST_CASE("engine credentials: an injection's rules filter applies once method and path are known",
          "[engine]") {
  const Engine engine = engineFor(kCredentialPolicy);
  CHECK(credentialIds(engine.decide(http("api.github.com", "POST", "/repos/x/y",
                                         Door::kConnect))) == Ids{"gh", "gh", "gh-post"});
  CHECK(credentialIds(engine.decide(http("api.github.com", "post", "/repos/x/../y",
                                         Door::kConnect))) == Ids{"gh", "gh", "gh-post"});
  CHECK(credentialIds(engine.decide(http("api.github.com", "GET", "/repos/x/y", Door::kConnect))) ==
        Ids{"gh", "gh"});
  CHECK(credentialIds(engine.decide(http("api.github.com", "POST", "/repos/%2e%2e/user",
                                         Door::kConnect))) == Ids{"gh", "gh"});
}

TEST_CASE("engine credentials: an injection domain with a port applies only on that port",
          "[engine]") {
  const Engine engine = engineFor(kCredentialPolicy);
  const Decision alt = engine.decide(connect("api.github.com", 8443));
  CHECK(credentialIds(alt) == Ids{"gh", "gh", "gh-post", "alt-port"});
  CHECK(credentialIds(engine.decide(connect("api.github.com", 443))) == Ids{"gh", "gh", "gh-post"});
}

TEST_CASE("engine credentials: an injection domain that is a prefix applies to IP literal hosts",
          "[engine]") {
  const Engine engine = engineFor(kCredentialPolicy);
  const Decision d = engine.decide(connect("10.1.2.3"));
  REQUIRE(credentialIds(d) == Ids{"by-ip"});
  CHECK(d.credentials[0].credential == 4);
  CHECK(d.intercept);
  CHECK(credentialIds(engine.decide(connect("192.0.2.1"))) == Ids{});
  // A name that resolves into the prefix is not the prefix's host.
  CHECK(credentialIds(engine.decide(withAddress(connect("name.example"), "10.1.2.3"))) == Ids{});
}

TEST_CASE("engine credentials: an unarmed injection (empty value) still applies and intercepts",
          "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct",
    "egress": {"http": [{"match": "api.example.com", "verdict": "allow", "transport": "direct"}]}},
    "credentials": [{"id": "later", "injections": [
      {"injectionType": "header", "domain": "api.example.com", "header": "Authorization", "value": ""}]}]})");
  const Decision d = engine.decide(connect("api.example.com"));
  CHECK(credentialIds(d) == Ids{"later"});
  CHECK(d.intercept);
}

TEST_CASE("engine injectionsFor: by domain and rules, whatever the verdict", "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct",
    "egress": {"http": [{"match": "api.github.com", "verdict": "deny", "transport": "direct"}]}},
    "credentials": [{"id": "gh", "injections": [
      {"injectionType": "header", "domain": "API.github.com.", "header": "Authorization", "value": "Bearer x",
       "rules": [{"method": "GET"}]}]}]})");
  auto ids = [](const std::vector<CredentialRef>& refs) {
    Ids out;
    for (const CredentialRef& c : refs) out.push_back(c.id);
    return out;
  };
  CHECK(engine.decide(http("api.github.com", "GET", "/", Door::kConnect)).credentials.empty());
  CHECK(ids(engine.injectionsFor(http("api.github.com", "GET", "/", Door::kConnect))) == Ids{"gh"});
  CHECK(ids(engine.injectionsFor(http("Api.GitHub.com.", "GET", "/", Door::kConnect))) ==
        Ids{"gh"});
  CHECK(ids(engine.injectionsFor(http("api.github.com", "POST", "/", Door::kConnect))) == Ids{});
  CHECK(ids(engine.injectionsFor(connect("api.github.com"))) == Ids{"gh"});
  CHECK(ids(engine.injectionsFor(connect("localhost"))) == Ids{});
  CHECK(Engine(nullptr).injectionsFor(connect("api.github.com")).empty());
}

// ---- legacy spelling, missing network, null policy ---------------------------

TEST_CASE("engine legacy allowedRoutes decide like egress.http", "[engine]") {
  const Engine engine =
      engineFor(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct",
    "allowedRoutes": [
      {"match": "secret.example.com", "verdict": "deny", "transport": "direct"},
      {"match": "*.example.com", "verdict": "allow", "transport": "upstream"}]}})");
  CHECK(summary(engine.decide(connect("api.example.com"))) ==
        "allow upstream http[1] policy-allow");
  CHECK(summary(engine.decide(connect("secret.example.com"))) == "deny direct http[0] policy-deny");
  CHECK(outcome(engine.decide(dns("api.example.com"))) == "allow http[1] policy-allow");
  CHECK(outcome(engine.decide(connect("example.org"))) == "deny default policy-deny");
}

TEST_CASE("engine egress.http wins over allowedRoutes when both exist", "[engine]") {
  const lens::policy::ParseOutcome parsed = lens::policy::parsePolicy(R"({"network": {
    "defaultVerdict": "deny", "defaultTransport": "direct",
    "allowedRoutes": [{"match": "legacy.example.com", "verdict": "allow", "transport": "direct"}],
    "egress": {"http": [{"match": "new.example.com", "verdict": "allow", "transport": "direct"}]}}})");
  REQUIRE(parsed.ok());
  CHECK_FALSE(parsed.warnings.empty());
  const Engine engine(parsed.policy);
  CHECK(outcome(engine.decide(connect("new.example.com"))) == "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(connect("legacy.example.com"))) == "deny default policy-deny");
  CHECK(outcome(engine.decide(dns("legacy.example.com"))) == "deny default dns-denied");
}

TEST_CASE("engine a policy without a network section allows through the upstream", "[engine]") {
  const Engine engine = engineFor("{}");
  const Decision d = engine.decide(connect("anything.example"));
  CHECK(summary(d) == "allow upstream default policy-allow");
  CHECK_FALSE(d.intercept);
  CHECK(summary(engine.decide(http("anything.example", "POST", "/x"))) ==
        "allow upstream default policy-allow");
  CHECK(summary(engine.decide(request(Door::kRawTcp, "anything.example", 22))) ==
        "allow upstream default policy-allow");
  CHECK(outcome(engine.decide(dns("anything.example"))) == "allow default policy-allow");
}

TEST_CASE("engine a policy without a network section still denies udp", "[engine]") {
  const Engine engine = engineFor("{}");
  CHECK(outcome(engine.decide(request(Door::kUdp, "anything.example", 4500))) ==
        "deny default policy-deny");
}

TEST_CASE("engine a policy without a network section still collects credentials", "[engine]") {
  const Engine engine = engineFor(R"({"credentials": [{"id": "tok", "injections": [
      {"injectionType": "header", "domain": "api.example.com", "header": "Authorization", "value": "Bearer x"}]}]})");
  const Decision d = engine.decide(connect("api.example.com"));
  CHECK(outcome(d) == "allow default policy-allow");
  CHECK(credentialIds(d) == Ids{"tok"});
}

TEST_CASE("engine with no policy denies everything with no-policy", "[engine]") {
  const Engine engine(nullptr);
  CHECK(engine.policy() == nullptr);
  for (Door door : {Door::kDns, Door::kConnect, Door::kForward, Door::kTransparentTls,
                    Door::kTransparentHttp, Door::kRawTcp, Door::kUdp}) {
    INFO("door " << toString(door));
    const Decision d = engine.decide(request(door, "api.example.com", 443));
    CHECK(summary(d) == "deny direct default no-policy");
    CHECK_FALSE(d.intercept);
    CHECK(d.credentials.empty());
  }
  Request byAddress = request(Door::kRawTcp, "", 22);
  byAddress.address = addr("192.0.2.1");
  CHECK(outcome(engine.decide(byAddress)) == "deny default no-policy");
}

// ---- safety floor ----------------------------------------------------------------

namespace {

constexpr std::string_view kAllowEverything =
    R"({"network": {"defaultVerdict": "allow", "defaultTransport": "direct",
    "egress": {
      "http": [{"match": "*", "verdict": "allow", "transport": "direct"}],
      "tcp": [{"match": "*:443", "verdict": "allow"}, {"match": "0.0.0.0/0:443", "verdict": "allow"},
              {"match": "[::/0]:443", "verdict": "allow"}],
      "udp": [{"match": "*:443", "verdict": "allow"}]}}})";

const std::vector<std::string> kBlockedHosts = {
    "localhost",        "LOCALHOST.",  "a.localhost", "127.0.0.1", "127.1",
    "2130706433",       "0x7f.1",      "0177.0.0.1",  "::1",       "[::1]",
    "::ffff:127.0.0.1", "::127.0.0.1", "0.0.0.0",     "::",        "169.254.169.254",
    "fe80::1",          "[fe80::1]"};

const std::vector<Door> kAllDoors = {
    Door::kDns,    Door::kConnect, Door::kForward, Door::kTransparentTls, Door::kTransparentHttp,
    Door::kRawTcp, Door::kUdp};

}  // namespace

TEST_CASE("engine safety floor refuses blocked hosts before any rule, even a \"*\" allow",
          "[engine]") {
  const Engine engine = engineFor(kAllowEverything);
  for (const std::string& host : kBlockedHosts) {
    for (Door door : kAllDoors) {
      INFO("host " << host << " door " << toString(door));
      const Decision d = engine.decide(request(door, host, 443));
      CHECK(summary(d) == "deny direct default blocked-destination");
      CHECK_FALSE(d.detail.empty());
    }
  }
}

TEST_CASE("engine safety floor comes before no-policy", "[engine]") {
  const Engine engine(nullptr);
  for (const std::string& host : kBlockedHosts) {
    INFO("host " << host);
    CHECK(outcome(engine.decide(connect(host))) == "deny default blocked-destination");
  }
  CHECK(outcome(engine.decide(withAddress(connect("api.example.com"), "169.254.169.254"))) ==
        "deny default blocked-destination");
}

TEST_CASE("engine safety floor refuses a blocked resolved address of an allowed name", "[engine]") {
  const Engine engine = engineFor(kAllowEverything);
  REQUIRE(outcome(engine.decide(connect("api.example.com"))) == "allow tcp[0] policy-allow");
  for (const std::string_view address : {"127.0.0.1", "169.254.169.254", "::ffff:169.254.169.254",
                                         "::1", "fe80::1", "0.0.0.0", "::ffff:127.0.0.1"}) {
    for (Door door : kAllDoors) {
      INFO("address " << address << " door " << toString(door));
      const Decision d = engine.decide(withAddress(request(door, "api.example.com", 443), address));
      CHECK(outcome(d) == "deny default blocked-destination");
    }
    Request bare = request(Door::kRawTcp, "", 443);
    bare.address = addr(address);
    CHECK(outcome(engine.decide(bare)) == "deny default blocked-destination");
  }
}

TEST_CASE("engine safety floor lets private addresses through", "[engine]") {
  const Engine engine = engineFor(kAllowEverything);
  // Port 443 on a TLS door: the tcp "*:443" rule decides first.
  CHECK(outcome(engine.decide(connect("10.0.0.1"))) == "allow tcp[0] policy-allow");
  CHECK(outcome(engine.decide(withAddress(connect("db.internal"), "10.0.0.1"))) ==
        "allow tcp[0] policy-allow");
  CHECK(outcome(engine.decide(withAddress(connect("db.internal"), "192.168.1.1"))) ==
        "allow tcp[0] policy-allow");
  CHECK(outcome(engine.decide(http("172.16.0.1", "GET", "/"))) == "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(withAddress(http("db.internal", "GET", "/"), "10.0.0.1"))) ==
        "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(dns("db.internal"))) == "allow http[0] policy-allow");
  CHECK(outcome(engine.decide(request(Door::kRawTcp, "10.0.0.1", 443))) ==
        "allow tcp[0] policy-allow");
}

// ---- doors ---------------------------------------------------------------------

TEST_CASE("engine door names round-trip", "[engine]") {
  for (Door door : kAllDoors) {
    const auto parsed = lens::decision::parseDoor(toString(door));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == door);
  }
  CHECK_FALSE(lens::decision::parseDoor("ftp").has_value());
  CHECK(toString(Door::kTransparentTls) == "transparent-tls");
  CHECK(toString(Table::kUdp) == "udp");
}

// ---- scale: the indexes agree with a linear first-match scan ----------------------

namespace {

using lens::policy::MatchPattern;
using lens::policy::NetworkPolicy;
using lens::policy::RawRule;
using lens::policy::RouteRule;
using lens::policy::Scheme;

struct Expected {
  Verdict verdict = Verdict::kDeny;
  std::optional<Table> table;
  std::uint32_t index = 0;
  std::string_view reason;
};

std::string describe(const Expected& e) {
  std::string rule = "default";
  if (e.table) rule = std::string(toString(*e.table)) + "[" + std::to_string(e.index) + "]";
  return std::string(lens::policy::toString(e.verdict)) + " " + rule + " " + std::string(e.reason);
}

std::string_view reasonFor(Verdict v) {
  switch (v) {
    case Verdict::kAllow:
      return "policy-allow";
    case Verdict::kAsk:
      return "policy-ask";
    case Verdict::kDeny:
      return "policy-deny";
  }
  return "policy-deny";
}

// The documented semantics, written as the naive scan over every rule in
// order (no rules lists and no binaries in the scale policy).
class LinearOracle {
 public:
  struct Target {
    std::string name;  // normalised host, or the unbracketed literal
    std::optional<IpAddress> address;
    std::uint16_t port = 0;
    Scheme scheme = Scheme::kHttps;
  };

  explicit LinearOracle(const NetworkPolicy& network) : net_(network) {}

  [[nodiscard]] static Target target(const Request& r) {
    Target t;
    t.name = lens::policy::normalizeHost(r.host);
    t.address = r.address;
    std::string_view literal = t.name;
    if (literal.size() > 2 && literal.front() == '[' && literal.back() == ']') {
      literal = literal.substr(1, literal.size() - 2);
    }
    if (auto ip = IpAddress::parse(literal)) {
      if (!t.address) t.address = ip;
      t.name = std::string(literal);
    }
    const bool plain = r.door == Door::kForward || r.door == Door::kTransparentHttp;
    t.scheme = plain ? Scheme::kHttp : Scheme::kHttps;
    t.port = r.port != 0 ? r.port : (plain ? std::uint16_t{80} : std::uint16_t{443});
    return t;
  }

  [[nodiscard]] static bool destination(const MatchPattern& m, const Target& t) {
    return ((!t.name.empty() && m.matchesHost(t.name)) ||
            (t.address && m.matchesAddress(*t.address))) &&
           m.matchesPort(t.port);
  }

  [[nodiscard]] static bool routeMatches(const RouteRule& route, const Target& t) {
    return destination(route.match, t) && (!route.scheme || *route.scheme == t.scheme);
  }

  [[nodiscard]] Expected decide(const Request& r) const {
    const Target t = target(r);
    if (r.door == Door::kDns) return dns(t.name);
    for (std::uint32_t i = 0; i < net_.tcp.size(); ++i) {
      if (destination(net_.tcp[i].match, t)) return rule(Table::kTcp, i, net_.tcp[i].verdict);
    }
    if (r.door ==
        Door::kRawTcp) {  // an unrecognised protocol: refused or asked, never allowed by default
      const Verdict v = net_.defaultVerdict == Verdict::kDeny ? Verdict::kDeny : Verdict::kAsk;
      return Expected{v, std::nullopt, 0, lens::decision::reason::kUnknownProtocol};
    }
    for (std::uint32_t i = 0; i < net_.http.size(); ++i) {
      if (routeMatches(net_.http[i], t)) return rule(Table::kHttp, i, net_.http[i].verdict);
    }
    return Expected{net_.defaultVerdict, std::nullopt, 0, reasonFor(net_.defaultVerdict)};
  }

 private:
  static Expected rule(Table table, std::uint32_t index, Verdict v) {
    return Expected{v, table, index, reasonFor(v)};
  }

  [[nodiscard]] Expected dns(const std::string& name) const {
    auto hostMatch = [&](const MatchPattern& m) {
      return m.isHostPattern() && m.matchesHost(name);
    };
    for (std::uint32_t i = 0; i < net_.http.size(); ++i) {
      if (!hostMatch(net_.http[i].match)) continue;
      if (net_.http[i].verdict != Verdict::kDeny) return rule(Table::kHttp, i, Verdict::kAllow);
      break;
    }
    std::vector<std::uint16_t> denied;
    for (std::uint32_t i = 0; i < net_.tcp.size(); ++i) {
      const RawRule& raw = net_.tcp[i];
      if (!hostMatch(raw.match)) continue;
      const std::uint16_t port = raw.match.port().value_or(0);
      if (raw.verdict == Verdict::kDeny) {
        denied.push_back(port);
      } else if (std::find(denied.begin(), denied.end(), port) == denied.end()) {
        return rule(Table::kTcp, i, Verdict::kAllow);
      }
    }
    return Expected{Verdict::kDeny, std::nullopt, 0, "dns-denied"};
  }

  const NetworkPolicy& net_;
};

constexpr int kExactRules = 100000;
constexpr int kDomains = 97;

std::string exactHost(int i) {
  return "h" + std::to_string(i) + ".d" + std::to_string(i % kDomains) + ".example";
}

// 100,000 exact hosts with wildcards, mid-label wildcards, CIDRs, duplicates
// and scheme-scoped rules interleaved, so that many requests have several
// matching rules and only order decides.
std::string scalePolicyJson() {
  std::string rules;
  rules.reserve(static_cast<std::size_t>(kExactRules) * 80);
  auto add = [&](const std::string& match, std::string_view verdict, std::string_view extra = "") {
    if (!rules.empty()) rules += ",\n";
    rules += R"({"match":")" + match + R"(","verdict":")" + std::string(verdict) +
             R"(","transport":"direct")" + std::string(extra) + "}";
  };
  auto verdictOf = [](int i) -> std::string_view {
    return i % 13 == 0 ? "ask" : i % 3 == 0 ? "deny" : "allow";
  };
  for (int i = 0; i < kExactRules; ++i) {
    const std::string host = exactHost(i);
    add(i % 11 == 0 ? host + ":8443" : host, verdictOf(i));
    if (i % 1000 == 500) {  // a later duplicate with another verdict (portless)
      add(exactHost(i - 400), verdictOf(i - 400) == "deny" ? "allow" : "deny");
    }
    if (i % 5000 == 2500) {  // interleaved wildcard and prefix rules
      const int k = (i / 5000) % kDomains;
      const std::string d = ".d" + std::to_string(k) + ".example";
      add("*" + d, k % 2 == 0 ? "allow" : "deny");
      add("h1*" + d, "ask");
      add("api-*" + d + ":443", "allow");
      add("*.sub" + d, "deny", R"(,"scheme":"http")");
      add("10." + std::to_string(k) + ".0.0/16", k % 2 == 0 ? "deny" : "allow");
      add("10." + std::to_string(k) + ".1.0/24:8443", "ask");
      add("[2001:db8:" + std::to_string(k) + "::/48]:443", "allow");
    }
  }
  add("10.0.0.0/8", "allow");
  add("192.0.2.0/24", "deny");
  add("2001:db8::/32", "deny");
  add("*:8080", "allow", R"(,"scheme":"http")");
  add("*", "ask", R"(,"scheme":"http")");

  std::string tcp;
  auto addTcp = [&](const std::string& match, std::string_view verdict) {
    if (!tcp.empty()) tcp += ",\n";
    tcp += R"({"match":")" + match + R"(","verdict":")" + std::string(verdict) + R"("})";
  };
  for (int i = 0; i < kExactRules; i += 97)
    addTcp(exactHost(i) + ":5432", i % 2 == 0 ? "allow" : "deny");
  addTcp("*.d5.example:22", "deny");
  addTcp("*.d5.example:5432", "allow");
  addTcp("10.5.0.0/16:5432", "deny");
  addTcp("[2001:db8:5::/48]:5432", "allow");
  addTcp("h7*.d7.example:443", "deny");

  return R"({"network": {"defaultVerdict": "deny", "defaultTransport": "upstream", "egress": {"http": [)" +
         rules + R"(], "tcp": [)" + tcp + "]}}}";
}

// Random requests over exact hosts (with case and trailing-dot noise),
// subdomains, mid-label wildcard hosts, literals, resolved addresses and
// unknown names, on every door but udp.
std::vector<Request> randomRequests(std::size_t count) {
  std::mt19937 rng(20240611);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const std::vector<Door> doors = {Door::kConnect,         Door::kForward, Door::kTransparentTls,
                                   Door::kTransparentHttp, Door::kRawTcp,  Door::kDns};
  const std::vector<std::uint16_t> ports = {0, 80, 443, 8443, 8080, 5432, 22};
  auto v4 = [&] {
    switch (pick(4)) {
      case 0:
        return "10." + std::to_string(pick(kDomains)) + "." + std::to_string(pick(3)) + "." +
               std::to_string(1 + pick(250));
      case 1:
        return "10." + std::to_string(100 + pick(150)) + ".0.1";
      case 2:
        return "192.0.2." + std::to_string(1 + pick(250));
      default:
        return "203.0.113." + std::to_string(1 + pick(250));
    }
  };
  auto v6 = [&] {
    switch (pick(3)) {
      case 0:
        return "2001:db8:" + std::to_string(pick(kDomains)) + "::" + std::to_string(1 + pick(9));
      case 1:
        return std::string("2001:db8:ffff::1");
      default:
        return std::string("2001:db9::1");
    }
  };
  auto noisy = [&](std::string host) {
    if (pick(4) == 0)
      std::transform(host.begin(), host.end(), host.begin(), [](char c) {
        return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
      });
    if (pick(5) == 0) host += '.';
    return host;
  };

  std::vector<Request> out;
  out.reserve(count);
  for (std::size_t n = 0; n < count; ++n) {
    Request r;
    r.door = doors[static_cast<std::size_t>(pick(static_cast<int>(doors.size())))];
    r.port = ports[static_cast<std::size_t>(pick(static_cast<int>(ports.size())))];
    const int k = pick(kDomains);
    const std::string d = ".d" + std::to_string(k) + ".example";
    switch (pick(10)) {
      case 0:
      case 1:
      case 2:
        r.host = noisy(exactHost(pick(kExactRules)));
        break;
      case 3:
        r.host = "h" + std::to_string(pick(kExactRules)) + d;
        break;  // usually the wrong domain
      case 4:
        r.host = noisy(pick(2) == 0 ? "x.y" + d : "a.sub" + d);
        break;
      case 5:
        r.host = pick(2) == 0 ? "h1" + std::to_string(pick(100)) + "z" + d
                              : "api-" + std::to_string(pick(9)) + d;
        break;
      case 6:
        r.host = v4();
        break;
      case 7:
        r.host = pick(2) == 0 ? "[" + v6() + "]" : v6();
        break;
      case 8:
        r.host = pick(2) == 0 ? exactHost(pick(kExactRules))
                              : "svc" + std::to_string(pick(50)) + ".internal";
        r.address = *IpAddress::parse(pick(3) == 0 ? v6() : v4());
        break;
      default:
        r.host = "nope" + std::to_string(pick(1000)) + (pick(2) == 0 ? d : ".test");
        break;
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

TEST_CASE("engine at 100,000 rules decides like a linear first-match scan", "[engine][scale]") {
  const auto policy = parse(scalePolicyJson());
  REQUIRE(policy->network.has_value());
  REQUIRE(policy->network->http.size() > static_cast<std::size_t>(kExactRules));
  const Engine engine(policy);
  const LinearOracle oracle(*policy->network);

  const auto& routes = policy->network->http;
  const std::size_t catchAlls = 2;  // the trailing "*:8080" and "*" rules
  std::size_t ruleDecided = 0;
  std::size_t ties = 0;  // requests where a later (non catch-all) http rule also matched
  for (const Request& r : randomRequests(2000)) {
    const Expected want = oracle.decide(r);
    const Decision got = engine.decide(r);
    INFO("door " << toString(r.door) << " host \"" << r.host << "\" port " << r.port << " address "
                 << (r.address ? r.address->toString() : "-"));
    REQUIRE(outcome(got) == describe(want));
    if (!want.table) continue;
    ++ruleDecided;
    REQUIRE(got.rule.has_value());
    const MatchPattern& decided = *want.table == Table::kHttp
                                      ? routes[want.index].match
                                      : policy->network->tcp[want.index].match;
    CHECK(got.rule->match == decided.text());
    if (*want.table == Table::kHttp && r.door != Door::kDns) {
      const LinearOracle::Target t = LinearOracle::target(r);
      for (std::size_t i = want.index + 1; i + catchAlls < routes.size(); ++i) {
        if (LinearOracle::routeMatches(routes[i], t)) {
          ++ties;
          break;
        }
      }
    }
  }
  // The random mix must actually exercise rules and first-match ties.
  CHECK(ruleDecided > 700);
  CHECK(ties > 50);
}

TEST_CASE("engine needs the caller only when some rule names binaries", "[engine]") {
  CHECK_FALSE(Engine(nullptr).needsCaller());
  CHECK_FALSE(engineFor("{}").needsCaller());
  CHECK_FALSE(
      engineFor(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {
      "http": [{"match": "a.example", "verdict": "allow", "transport": "direct"}]}}})")
          .needsCaller());
  CHECK(
      engineFor(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {
      "http": [{"match": "a.example", "verdict": "allow", "transport": "direct"}],
      "udp": [{"match": "ntp.example:123", "verdict": "allow", "binaries": ["/usr/sbin/ntpd"]}]}}})")
          .needsCaller());
  CHECK(
      engineFor(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {
      "tcp": [{"match": "db.example:5432", "verdict": "allow", "binaries": ["/usr/bin/psql"]}]}}})")
          .needsCaller());
}
