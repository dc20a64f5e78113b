// The forward bridge as the proxies find and use it: the rule that allowed
// a request names it, interception follows, and its TLS settings carry the
// client identity and the bridge's own roots.
#include "libcommon/proxy/bridge.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "libcommon/policy/policy_parser.h"
#include "libcommon/tls/ca.h"
#include "tests/unit/temp_dir.h"

using lens::decision::Decision;
using lens::decision::Door;
using lens::decision::Engine;
using lens::decision::Request;

namespace {

std::string exampleText() {
  std::ifstream in(std::filesystem::path(LENS_EXAMPLES_DIR) / "forward-bridge.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(!text.empty());
  return text;
}

Engine engineFor(const std::string& text) {
  auto parsed = lens::policy::parsePolicy(text);
  REQUIRE(parsed.ok());
  return Engine(parsed.policy);
}

Request connect(std::string host, std::uint16_t port) {
  Request r;
  r.door = Door::kConnect;
  r.host = std::move(host);
  r.port = port;
  return r;
}

}  // namespace

TEST_CASE("a bridged route is intercepted and dialled directly", "[proxy][bridge]") {
  std::string text = exampleText();
  // Even a rule that says upstream: the bridge dials its own address.
  const std::string direct = R"("transport": "direct")";
  text.replace(text.find(direct), direct.size(), R"("transport": "upstream")");
  const Engine engine = engineFor(text);
  const Decision d = engine.decide(connect("kubernetes.internal", 6443));
  REQUIRE(d.allowed());
  CHECK(d.intercept);
  CHECK(d.transport == lens::policy::Transport::kDirect);
  const lens::policy::ForwardBridge* bridge = lens::proxy::bridgeOf(engine, d);
  REQUIRE(bridge != nullptr);
  CHECK(bridge->dialHost == "10.20.0.5");
  CHECK(bridge->tlsServerName == "kube-apiserver.cluster.local");

  // Another port of the host is not the bridge's (and the default denies).
  const Decision other = engine.decide(connect("kubernetes.internal", 443));
  CHECK(lens::proxy::bridgeOf(engine, other) == nullptr);
}

TEST_CASE("the bridge's TLS settings are made once per identity and refuse what cannot work",
          "[proxy][bridge]") {
  const Engine engine = engineFor(exampleText());
  const lens::policy::ForwardBridge bridge = *engine.policy()->network->http.at(0).forward;
  lens::proxy::BridgeTlsCache cache;
  auto first = cache.get(bridge, "");
  REQUIRE(first);
  auto again = cache.get(bridge, "");
  REQUIRE(again);
  CHECK(first->get() == again->get());

  lens::policy::ForwardBridge noRoots = bridge;
  noRoots.caPem = "not a certificate";
  auto refused = cache.get(noRoots, "");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message == "forward bridge: no PEM certificate in it");

  lens::test::TempDir dir;
  auto ca = lens::tls::initCa(dir.path.string(), 30, false);
  REQUIRE(ca);
  lens::policy::ForwardBridge wrongKey = bridge;
  wrongKey.certPem = ca->info.certPem;  // a certificate the key does not belong to
  auto mismatch = cache.get(wrongKey, "");
  REQUIRE_FALSE(mismatch);
  CHECK(mismatch.error().message ==
        "forward bridge keyPem: the key does not belong to the certificate");
  CHECK(mismatch.error().message.find("PRIVATE KEY") == std::string::npos);
}
