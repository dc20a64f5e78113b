#include "libcommon/mcp/request.h"

#include <catch2/catch.hpp>
#include <string>

namespace {

namespace mcp = lens::mcp;

const std::string kCall =
    R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_file",
  "arguments":{"path":"/srv/docs/a.md","opts":{"a/b":"x","t~n":"y"},"list":["p","q"],"n":3}}})";

mcp::Request parsed(const std::string& body) {
  auto r = mcp::Request::parse("POST", body);
  REQUIRE(r);
  return std::move(*r);
}

void refused(std::string_view method, const std::string& body, const std::string& why) {
  auto r = mcp::Request::parse(method, body);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains(why));
}

}  // namespace

TEST_CASE("an MCP request: method, tool, uri, arguments by JSON pointer", "[mcp]") {
  const mcp::Request r = parsed(kCall);
  CHECK(r.method() == "tools/call");
  REQUIRE(r.name());
  CHECK(*r.name() == "read_file");
  CHECK_FALSE(r.uri());
  REQUIRE(r.argument("/path"));
  CHECK(r.argument("/path")->text() == "/srv/docs/a.md");
  CHECK(r.argument("/opts/a~1b")->text() == "x");  // RFC 6901 escapes
  CHECK(r.argument("/opts/t~0n")->text() == "y");
  CHECK(r.argument("/list/1")->text() == "q");
  CHECK_FALSE(r.argument("/list/01"));  // no leading zeros
  CHECK_FALSE(r.argument("/list/2"));
  CHECK_FALSE(r.argument("/missing"));
  CHECK_FALSE(r.argument("/opts/~2"));
  CHECK_FALSE(r.argument("path"));
  CHECK(r.argument("")->isObject());

  const mcp::Request read = parsed(
      R"({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///etc/hosts"}})");
  REQUIRE(read.uri());
  CHECK(*read.uri() == "file:///etc/hosts");
  CHECK(parsed(R"({"jsonrpc":"2.0","method":"notifications/initialized"})").method() ==
        "notifications/initialized");
}

TEST_CASE("MCP bodies that are refused", "[mcp]") {
  refused("GET", kCall, "by GET (POST only)");
  refused("POST", "[" + kCall + "]", "a JSON-RPC batch");
  refused("POST", R"({"jsonrpc":"2.0","method":"a","method":"b"})", "not one strict JSON value");
  refused("POST", kCall + " {}", "not one strict JSON value");
  refused("POST", R"({"method":"tools/list"})", "not a JSON-RPC 2.0 message");
  refused("POST", R"({"jsonrpc":"2.0","id":1,"result":{}})", "without \"method\"");
  refused("POST", R"({"jsonrpc":"2.0","method":5})", "\"method\" is not a string");
  refused("POST", R"({"jsonrpc":"2.0","method":"tools/call","params":{"name":5}})",
          "params.name is not a string");
  refused("POST", R"({"jsonrpc":"2.0","method":"tools/call","params":{"arguments":[]}})",
          "params.arguments is not an object");
  refused("POST", R"({"jsonrpc":"2.0","method":"x","params":7})", "neither an object nor an array");
  auto big = mcp::Request::parse("POST", std::string(mcp::kMaxBody + 1, ' '));
  REQUIRE_FALSE(big);
  CHECK(big.error().code == lens::ErrorCode::kLimit);
}

TEST_CASE("MCP matchers: one rule covers the request alone", "[mcp]") {
  const mcp::Request r = parsed(kCall);
  CHECK(mcp::covers({"tools/*", std::nullopt, std::nullopt, {}}, r));
  CHECK(mcp::covers({"tools/call", std::string("read_*"), std::nullopt, {}}, r));
  CHECK_FALSE(mcp::covers({"tools/call", std::string("write_*"), std::nullopt, {}}, r));
  CHECK_FALSE(mcp::covers({"resources/*", std::nullopt, std::nullopt, {}}, r));
  CHECK_FALSE(mcp::covers({"tools/call", std::nullopt, std::string("*"), {}}, r));  // no uri
  CHECK(mcp::covers({"tools/call", std::nullopt, std::nullopt, {{"/path", "/srv/docs/*"}}}, r));
  CHECK_FALSE(mcp::covers({"tools/call", std::nullopt, std::nullopt, {{"/path", "/etc/*"}}}, r));
  CHECK_FALSE(
      mcp::covers({"tools/call", std::nullopt, std::nullopt, {{"/n", "*"}}}, r));  // not a string
  CHECK_FALSE(mcp::covers({"tools/call", std::nullopt, std::nullopt, {{"/nope", "*"}}}, r));
}

TEST_CASE("Mcp-Method and Mcp-Name must agree with the body", "[mcp]") {
  const mcp::Request r = parsed(kCall);
  CHECK(r.checkHeaders({}, {}));
  CHECK(r.checkHeaders({"tools/call"}, {"read_file"}));
  CHECK(r.checkHeaders({"=?base64?dG9vbHMvY2FsbA==?="}, {}));  // "tools/call"
  auto other = r.checkHeaders({"tools/list"}, {});
  REQUIRE_FALSE(other);
  CHECK_THAT(other.error().message, Catch::Contains("Mcp-Method does not agree"));
  auto twice = r.checkHeaders({"tools/call", "tools/call"}, {});
  REQUIRE_FALSE(twice);
  CHECK_THAT(twice.error().message, Catch::Contains("a repeated Mcp-Method"));
  auto name = r.checkHeaders({}, {"write_file"});
  REQUIRE_FALSE(name);
  CHECK_THAT(name.error().message, Catch::Contains("Mcp-Name does not agree"));
  CHECK_FALSE(r.checkHeaders({"=?base64?%%%?="}, {}));
}
