// Body rules in the engine (original-behaviour 1.7, 1.8, 5.9): which kind
// decides, the body asked for, every operation covered whole, MCP calls,
// the problems of a body, subscription sockets.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <string_view>

#include "libcommon/decision/body.h"
#include "libcommon/decision/engine.h"
#include "libcommon/policy/policy_parser.h"

using lens::decision::BodyFacts;
using lens::decision::BodyHeaders;
using lens::decision::BodyKind;
using lens::decision::Decision;
using lens::decision::Door;
using lens::decision::Engine;
using lens::decision::Request;
using lens::policy::Verdict;
namespace reason = lens::decision::reason;

namespace {

Engine engineWith(std::string_view rules) {
  const std::string json =
      R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [)"
      R"({"match": "api.test", "verdict": "allow", "transport": "direct", "rules": )" +
      std::string(rules) + "}]}}}";
  const auto outcome = lens::policy::parsePolicy(json);
  std::string errors;
  for (const auto& e : outcome.errors) errors += e.format() + "\n";
  INFO(errors);
  REQUIRE(outcome.ok());
  return Engine(outcome.policy);
}

Request visible(std::string method, std::string target) {
  Request r;
  r.door = Door::kConnect;
  r.host = "api.test";
  r.port = 443;
  r.method = std::move(method);
  r.path = std::move(target);
  return r;
}

// The decision once the body is read: the engine asks for it first.
Decision withBody(const Engine& engine, Request r, std::string_view body,
                  BodyHeaders headers = {}) {
  const Decision first = engine.decide(r);
  REQUIRE(first.verdict == Verdict::kDeny);
  REQUIRE(first.reason == reason::kBodyRequired);
  REQUIRE(first.body != BodyKind::kNone);
  r.body = std::make_shared<const BodyFacts>(
      lens::decision::classifyBody(first.body, r.method, r.path, body, headers));
  Decision d = engine.decide(r);
  CHECK(d.body == BodyKind::kNone);
  return d;
}

constexpr std::string_view kGraphqlRules =
    R"([{"method": "POST", "path": "/graphql", "graphql": {"operationType": "query"}},
        {"method": "POST", "path": "/graphql", "graphql": {"operationType": "mutation",
         "operationName": "AddStar", "fields": ["addStar"]}},
        {"method": "GET", "path": "/graphql", "graphql": {"operationType": "query", "fields": ["viewer"]}},
        {"method": "GET", "path": "/health"},
        {"path": "/socket", "graphql": {"operationType": "subscription"}},
        {"path": "/mixed"}, {"method": "POST", "path": "/mixed", "graphql": {"operationType": "query"}}])";

}  // namespace

TEST_CASE("GraphQL rules ask for the body, then decide by its operations", "[decision][body]") {
  const Engine engine = engineWith(kGraphqlRules);
  SECTION("a request a plain rule covers is decided by its head") {
    CHECK(engine.decide(visible("GET", "/health")).allowed());
    CHECK(engine.decide(visible("GET", "/health")).body == BodyKind::kNone);
  }
  SECTION("the head alone is not enough: deny until the body is read") {
    const Decision d = engine.decide(visible("POST", "/graphql"));
    CHECK_FALSE(d.allowed());
    CHECK(d.reason == reason::kBodyRequired);
    CHECK(d.body == BodyKind::kGraphql);
  }
  SECTION("a query is allowed") {
    const Decision d = withBody(engine, visible("POST", "/graphql"),
                                R"({"query": "query GetViewer { viewer { login } }"})");
    CHECK(d.allowed());
    CHECK(d.reason == reason::kPolicyAllow);
  }
  SECTION("a mutation no matcher covers is refused http-rule-denied") {
    const Decision d = withBody(engine, visible("POST", "/graphql"),
                                R"({"query": "mutation { deleteRepository(id: 1) { id } }"})");
    CHECK(d.reason == reason::kHttpRuleDenied);
    CHECK(d.detail.find("mutation { deleteRepository }") != std::string::npos);
  }
  SECTION("a matcher covers the operation whole: name and every root field") {
    CHECK(withBody(engine, visible("POST", "/graphql"),
                   R"({"query": "mutation AddStar { addStar(id: 1) { id } }"})")
              .allowed());
    CHECK(withBody(
              engine, visible("POST", "/graphql"),
              R"({"query": "mutation AddStar { addStar(id: 1) { id } removeStar(id: 2) { id } }"})")
              .reason == reason::kHttpRuleDenied);
    CHECK(withBody(engine, visible("POST", "/graphql"),
                   R"({"query": "mutation Other { addStar(id: 1) { id } }"})")
              .reason == reason::kHttpRuleDenied);
    // An alias does not hide the field; a fragment does not either.
    CHECK(withBody(engine, visible("POST", "/graphql"),
                   R"({"query": "mutation AddStar { addStar: deleteRepository(id: 1) { id } }"})")
              .reason == reason::kHttpRuleDenied);
  }
  SECTION("a batch: every operation covered, by any matcher") {
    CHECK(withBody(engine, visible("POST", "/graphql"),
                   R"([{"query": "query A { a }"}, {"query": "mutation AddStar { addStar }"}])")
              .allowed());
    CHECK(withBody(engine, visible("POST", "/graphql"),
                   R"([{"query": "query A { a }"}, {"query": "mutation B { b }"}])")
              .reason == reason::kHttpRuleDenied);
  }
  SECTION("GET carries the document in the query string") {
    CHECK(withBody(engine, visible("GET", "/graphql?query=%7Bviewer%7Blogin%7D%7D"), "").allowed());
    CHECK(withBody(engine, visible("GET", "/graphql?query=%7Brepository%7Bid%7D%7D"), "").reason ==
          reason::kHttpRuleDenied);
  }
  SECTION("when a GraphQL rule covers the request, a plain rule covering it does not count") {
    CHECK(withBody(engine, visible("POST", "/mixed"), R"({"query": "mutation M { m }"})").reason ==
          reason::kHttpRuleDenied);
    CHECK(engine.decide(visible("GET", "/mixed")).allowed());  // only the plain rule covers GET
  }
  SECTION("a body that cannot be judged") {
    CHECK(withBody(engine, visible("POST", "/graphql"), R"({"query": "query { a }", "query": "x"})")
              .reason == reason::kBodyMalformed);
    CHECK(withBody(engine, visible("POST", "/graphql"), R"({"extensions": {"persistedQuery": {}}})")
              .reason == reason::kBodyMalformed);
    CHECK(withBody(engine, visible("POST", "/graphql"), R"({"query": "query { a "})").reason ==
          reason::kBodyMalformed);
    std::string batch = "[";
    for (int i = 0; i < 33; ++i) batch += std::string(i ? "," : "") + R"({"query": "{ a }"})";
    batch += "]";
    // Over the batch limit: malformed, not too large (the size is the door's).
    CHECK(withBody(engine, visible("POST", "/graphql"), batch).reason == reason::kBodyMalformed);
  }
  SECTION("the door's own problem: too large") {
    Request r = visible("POST", "/graphql");
    r.body = std::make_shared<const BodyFacts>(lens::decision::unreadableBody(
        BodyKind::kGraphql, lens::Error{lens::ErrorCode::kLimit, "over 65536 bytes"}));
    const Decision d = engine.decide(r);
    CHECK(d.reason == reason::kBodyTooLarge);
    CHECK(d.detail == "over 65536 bytes");
  }
}

TEST_CASE("GraphQL subscription sockets are granted by a subscription rule only",
          "[decision][body]") {
  const Engine engine = engineWith(kGraphqlRules);
  Request upgrade = visible("GET", "/socket");
  upgrade.upgrade = true;
  const Decision granted = engine.decide(upgrade);
  CHECK(granted.allowed());
  CHECK(granted.graphqlFrames);
  CHECK(granted.body == BodyKind::kNone);

  Request other = visible("GET", "/graphql");
  other.upgrade = true;
  const Decision refused = engine.decide(other);
  CHECK(refused.reason == reason::kHttpRuleDenied);
  CHECK_FALSE(refused.graphqlFrames);

  // A frame of the socket is judged as its handshake with the frame's operations.
  upgrade.body = std::make_shared<const BodyFacts>(lens::decision::classifyBody(
      BodyKind::kGraphql, "POST", "/socket", R"({"query": "subscription { ticks }"})", {}));
  CHECK(engine.decide(upgrade).allowed());
  upgrade.body = std::make_shared<const BodyFacts>(lens::decision::classifyBody(
      BodyKind::kGraphql, "POST", "/socket", R"({"query": "query { secrets }"})", {}));
  CHECK(engine.decide(upgrade).reason == reason::kHttpRuleDenied);
}

TEST_CASE("MCP rules decide by the JSON-RPC request", "[decision][body]") {
  const Engine engine = engineWith(
      R"([{"method": "POST", "path": "/mcp", "mcp": {"method": "initialize"}},
          {"method": "POST", "path": "/mcp", "mcp": {"method": "tools/call", "tool": "search",
            "arguments": [{"pointer": "/query", "glob": "lens*"}]}},
          {"method": "POST", "path": "/mcp", "mcp": {"method": "resources/read", "uri": "file:///docs/*"}}])");
  const auto call = [](std::string_view tool, std::string_view query) {
    return R"({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": ")" +
           std::string(tool) + R"(", "arguments": {"query": ")" + std::string(query) + R"("}}})";
  };
  CHECK(withBody(engine, visible("POST", "/mcp"),
                 R"({"jsonrpc": "2.0", "id": 1, "method": "initialize"})")
            .allowed());
  CHECK(withBody(engine, visible("POST", "/mcp"), call("search", "lens docs")).allowed());
  const Decision other = withBody(engine, visible("POST", "/mcp"), call("delete_repo", "lens"));
  CHECK(other.reason == reason::kHttpRuleDenied);
  CHECK(other.detail == "no MCP rule covers MCP tools/call delete_repo");
  // An argument value is judged, and never shown.
  const Decision argument = withBody(engine, visible("POST", "/mcp"), call("search", "secret-x"));
  CHECK(argument.reason == reason::kHttpRuleDenied);
  CHECK(argument.detail.find("secret-x") == std::string::npos);
  CHECK(
      withBody(
          engine, visible("POST", "/mcp"),
          R"({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": "file:///docs/a"}})")
          .allowed());
  CHECK(
      withBody(
          engine, visible("POST", "/mcp"),
          R"({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": "file:///etc/passwd"}})")
          .reason == reason::kHttpRuleDenied);
  SECTION("a batch, and headers that disagree with the body, are malformed") {
    CHECK(
        withBody(engine, visible("POST", "/mcp"), R"([{"jsonrpc": "2.0", "method": "initialize"}])")
            .reason == reason::kBodyMalformed);
    BodyHeaders headers;
    headers.mcpMethod = {"initialize"};
    headers.mcpName = {"search"};
    CHECK(withBody(engine, visible("POST", "/mcp"), call("search", "lens"), headers).reason ==
          reason::kBodyMalformed);
    headers.mcpMethod = {"tools/call"};
    CHECK(withBody(engine, visible("POST", "/mcp"), call("search", "lens"), headers).allowed());
  }
  SECTION("an upgrade on an MCP route is refused") {
    Request r = visible("GET", "/mcp");
    r.upgrade = true;
    CHECK(engine.decide(r).reason == reason::kHttpRuleDenied);
  }
}

TEST_CASE("the facts an audit event names", "[decision][body]") {
  const BodyFacts graphql = lens::decision::classifyBody(
      BodyKind::kGraphql, "POST", "/graphql",
      R"([{"query": "query GetViewer { viewer }"}, {"query": "mutation { m }"}])", {});
  CHECK(graphql.graphqlOperations() == "query GetViewer, mutation");
  const BodyFacts mcp = lens::decision::classifyBody(
      BodyKind::kMcp, "POST", "/mcp",
      R"({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search", "arguments": {"q": "v"}}})",
      {});
  CHECK(mcp.mcpMethod() == "tools/call");
  CHECK(mcp.mcpTool() == "search");
}
