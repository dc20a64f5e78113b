#include "libcommon/graphql/document.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace {

namespace gq = lens::graphql;
using Fields = std::vector<std::string>;

const gq::Operation& only(const lens::Result<gq::Document>& doc) {
  REQUIRE(doc);
  REQUIRE(doc->operations.size() == 1);
  return doc->operations.front();
}

void refused(const std::string& text, const std::string& why,
             lens::ErrorCode code = lens::ErrorCode::kInvalidInput, const gq::Limits& limits = {}) {
  auto doc = gq::parse(text, limits);
  REQUIRE_FALSE(doc);
  CHECK(doc.error().code == code);
  CHECK_THAT(doc.error().message, Catch::Contains(why));
}

}  // namespace

TEST_CASE("operations: type, name and root fields", "[graphql]") {
  auto anonDoc = gq::parse("{ viewer { login } repository(owner: \"a\", name: \"b\") { id } }");
  const auto& anon = only(anonDoc);
  CHECK(anon.type == gq::OperationType::kQuery);
  CHECK(anon.name.empty());
  CHECK(anon.rootFields == Fields{"viewer", "repository"});

  auto mDoc = gq::parse(
      "mutation AddStar($id: ID!, $n: [Int!]! = [1, 2]) @trace { addStar(input: {starrableId: "
      "$id}) "
      "{ clientMutationId } }");
  const auto& m = only(mDoc);
  CHECK(m.type == gq::OperationType::kMutation);
  CHECK(m.name == "AddStar");
  CHECK(m.rootFields == Fields{"addStar"});

  auto sDoc = gq::parse("subscription { onEvent { id } }");
  const auto& s = only(sDoc);
  CHECK(s.type == gq::OperationType::kSubscription);
  CHECK(gq::toString(s.type) == "subscription");
}

TEST_CASE("aliases resolve to the real field; fragments are followed once", "[graphql]") {
  auto opDoc = gq::parse(R"(
    # a comment, and commas are insignificant
    query Q {
      harmless: deleteRepository(id: 1) { id },
      ...Root
      ... on Query { viewer { id } ...Root }
      ... @include(if: true) { search(query: "x") { id } }
    }
    fragment Root on Query { licenses { key } ...Again }
    fragment Again on Query { __schema { types { name } } ...Root }
  )");
  const auto& op = only(opDoc);
  CHECK(op.rootFields == Fields{"deleteRepository", "licenses", "__schema", "viewer", "search"});
}

TEST_CASE("several operations and choosing one", "[graphql]") {
  auto doc = gq::parse("query A { a } mutation B { b }");
  REQUIRE(doc);
  REQUIRE(doc->operations.size() == 2);
  auto b = gq::select(*doc, "B");
  REQUIRE(b);
  CHECK((*b)->type == gq::OperationType::kMutation);
  auto none = gq::select(*doc, std::nullopt);
  REQUIRE_FALSE(none);
  CHECK_THAT(none.error().message, Catch::Contains("several operations"));
  CHECK_FALSE(gq::select(*doc, "C"));
  auto one = gq::parse("{ a }");
  REQUIRE(one);
  CHECK(gq::select(*one, std::nullopt));
}

TEST_CASE("values, strings and numbers of the grammar", "[graphql]") {
  auto opDoc = gq::parse(
      R"(query ($v: String = "a\"b\\c\u00e9\u{1F600}") { f(a: 1, b: -0.5e+3, c: true, d: null, e: ENUM, )"
      R"(f: [1 [2]], g: {x: 1, y: {z: """block " "" \""" string"""}}, h: $v) })");
  const auto& op = only(opDoc);
  CHECK(op.rootFields == Fields{"f"});
  CHECK(gq::parse("\xEF\xBB\xBF{ a }"));  // a byte order mark
}

TEST_CASE("what the grammar does not allow is refused with where", "[graphql]") {
  refused("", "an empty document");
  refused("   # only a comment", "an empty document");
  refused("{ }", "1:3: an empty selection set");
  refused("{ a", "expected '}'");
  refused("query { a(b: ) }", "expected a value");
  refused("{ a(b: 01) }", "leading zero");
  refused("{ a(b: 1.) }", "cut short");
  refused("{ a(b: 1x) }", "a number followed by 'x'");
  refused("{ a(b: \"x) }", "without its closing quote");
  refused("{ a(b: \"\\q\") }", "unknown escape");
  refused("{ a(b: \"\\u12\") }", "bad \\u escape");
  refused("{ a(b: \"\"\"x) }", "block string without");
  refused("{ a(b: {x: 1, x: 2}) }", "a second \"x\"");
  refused("{ a }\n{ b }", "anonymous operation must be the only");
  refused("query A { a } query A { b }", "a second operation named \"A\"");
  refused("{ ...F }", "no fragment named \"F\"");
  refused("{ a { ...G } }", "no fragment named \"G\"");
  refused("{ a } fragment F on Q { a } fragment F on Q { b }", "a second fragment named \"F\"");
  refused("{ a } fragment on on Q { a }", "may not be named \"on\"");
  refused("type Query { a: Int }", "type-system definition (\"type\") is not executable");
  refused("{ a } %", "unexpected character '%'");
  refused("{ a }\n  \x01", "2:3: unexpected character byte 0x01");
}

TEST_CASE("limits: bytes, tokens, nesting", "[graphql]") {
  gq::Limits small;
  small.maxBytes = 10;
  refused("{ abcdefghij }", "at most 10", lens::ErrorCode::kLimit, small);
  gq::Limits tokens;
  tokens.maxTokens = 5;
  refused("{ a b c d e f }", "more than 5 tokens", lens::ErrorCode::kLimit, tokens);
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "{ a ";
  for (int i = 0; i < 200; ++i) deep += "} ";
  refused(deep, "nested deeper than 128", lens::ErrorCode::kLimit);
  std::string list = "{ a(b: ";
  for (int i = 0; i < 200; ++i) list += "[";
  refused(list, "nested deeper than 128", lens::ErrorCode::kLimit);
}
