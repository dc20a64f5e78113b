#include "libcommon/graphql/request.h"
#include "libcommon/util/strings.h"

#include <catch2/catch.hpp>
#include <string>

namespace {

namespace gq = lens::graphql;

gq::Operation one(std::string_view method, std::string_view query, std::string_view body) {
  auto ops = gq::requestOperations(method, query, body);
  REQUIRE(ops);
  REQUIRE(ops->size() == 1);
  return ops->front();
}

void refused(std::string_view method, std::string_view query, std::string_view body,
             const std::string& why) {
  auto ops = gq::requestOperations(method, query, body);
  REQUIRE_FALSE(ops);
  CHECK_THAT(ops.error().message, Catch::Contains(why));
}

}  // namespace

TEST_CASE("name globs (GraphQL operation and field names, MCP methods and tools)",
          "[graphql][util]") {
  CHECK(lens::util::globMatch("*", ""));
  CHECK(lens::util::globMatch("*", "anything"));
  CHECK(lens::util::globMatch("Get*", "GetUser"));
  CHECK_FALSE(lens::util::globMatch("Get*", ""));
  CHECK_FALSE(lens::util::globMatch("Get*", "getUser"));  // case-sensitive
  CHECK(lens::util::globMatch("a?c", "abc"));
  CHECK(lens::util::globMatch("*User*Id", "readUserAndId"));
  CHECK_FALSE(lens::util::globMatch("*User", "UserX"));
  CHECK(lens::util::globMatch(std::string(50, '*') + "b", std::string(10000, 'a') + "b"));
}

TEST_CASE("a matcher covers an operation whole", "[graphql]") {
  gq::Operation op;
  op.type = gq::OperationType::kQuery;
  op.name = "GetRepo";
  op.rootFields = {"repository", "viewer"};
  gq::Matcher any;
  CHECK(gq::covers(any, op));
  gq::Matcher queries{gq::OperationType::kQuery, std::string("Get*"), {"repository", "view*"}};
  CHECK(gq::covers(queries, op));
  gq::Matcher mutations{gq::OperationType::kMutation, std::nullopt, {}};
  CHECK_FALSE(gq::covers(mutations, op));
  gq::Matcher someFields{std::nullopt, std::nullopt, {"repository"}};
  CHECK_FALSE(gq::covers(someFields, op));  // every root field must be covered
  gq::Operation unnamed = op;
  unnamed.name.clear();
  CHECK_FALSE(gq::covers(queries, unnamed));  // Get* does not cover the empty name
  gq::Matcher star{std::nullopt, std::string("*"), {}};
  CHECK(gq::covers(star, unnamed));
  // Introspection is not covered by a wildcard once fields are named.
  gq::Operation intro = op;
  intro.rootFields = {"__schema"};
  gq::Matcher wild{std::nullopt, std::nullopt, {"*"}};
  CHECK_FALSE(gq::covers(wild, intro));
  gq::Matcher named{std::nullopt, std::nullopt, {"__schema"}};
  CHECK(gq::covers(named, intro));
}

TEST_CASE("GraphQL over GET", "[graphql]") {
  const auto op =
      one("GET", "query=query%20Q%7Bviewer%7Bid%7D%7D&operationName=Q&variables=%7B%7D", "");
  CHECK(op.name == "Q");
  CHECK(op.rootFields == std::vector<std::string>{"viewer"});
  CHECK(one("GET", "query=%7B+a+%7D", "").rootFields == std::vector<std::string>{"a"});
  refused("GET", "query=%7Ba%7D", "x", "a GraphQL GET with a body");
  refused("GET", "query=%7Ba%7D&query=%7Bb%7D", "", "a repeated \"query\" parameter");
  refused("GET", "query=%7Ba%7D&operationName=A&operationName=B", "",
          "a repeated \"operationName\"");
  refused("GET", "extensions=%7B%7D&extensions=%7B%7D&query=%7Ba%7D", "",
          "a repeated \"extensions\"");
  refused("GET", "id=1&documentId=2", "", "more than one of id");
  refused("GET", "extensions=%7B%22persistedQuery%22%3A%7B%7D%7D", "",
          "persisted query sent without its document");
  refused("GET", "variables=%7B%7D", "", "without a \"query\" parameter");
  refused("GET", "query=%zz", "", "a malformed query string");
}

TEST_CASE("GraphQL over POST: an object or a batch", "[graphql]") {
  auto op = one("POST", "", R"({"query":"query A { a } mutation B { b }","operationName":"B"})");
  CHECK(op.type == gq::OperationType::kMutation);
  auto batch = gq::requestOperations(
      "POST", "", R"([{"query":"{ a }"},{"query":"mutation M { m }","operationName":null}])");
  REQUIRE(batch);
  REQUIRE(batch->size() == 2);
  CHECK(batch->at(1).type == gq::OperationType::kMutation);
  refused("POST", "", R"({"query":"query A { a } mutation B { b }"})", "several operations");
  refused("POST", "", R"({"query":"{ a }","query":"mutation { b }"})", "not one strict JSON value");
  refused("POST", "", R"({"query":"{ a }"} {"x":1})", "not one strict JSON value");
  refused("POST", "", R"({"extensions":{"persistedQuery":{"version":1,"sha256Hash":"ab"}}})",
          "persisted query sent without its document");
  refused("POST", "", R"({"query":7})", "\"query\" is not a string");
  refused("POST", "", R"({"query":"{ a }","operationName":5})",
          "\"operationName\" is not a string");
  refused("POST", "", "[]", "an empty batch");
  refused("POST", "", "[1]", "not a JSON object");
  refused("PUT", "", "{}", "by PUT (GET or POST only)");
  std::string big = "[";
  for (int i = 0; i < 33; ++i) big += std::string(i ? "," : "") + R"({"query":"{ a }"})";
  big += "]";
  auto over = gq::requestOperations("POST", "", big);
  REQUIRE_FALSE(over);
  CHECK(over.error().code == lens::ErrorCode::kLimit);
  refused("POST", "", R"({"query":"type Q { a: Int }"})", "type-system definition");
}
