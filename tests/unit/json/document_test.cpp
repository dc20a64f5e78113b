#include "libcommon/json/document.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "libcommon/json/json_path.h"

using lens::json::childPath;
using lens::json::Document;
using lens::json::indexPath;
using lens::json::Kind;
using lens::json::ParseError;
using lens::json::PathStep;
using lens::json::SourcePos;
using lens::json::splitPath;
using lens::json::Value;

namespace {

Document parseOk(std::string_view text) {
  auto result = Document::parse(text);
  if (const auto* error = std::get_if<ParseError>(&result)) {
    FAIL("unexpected parse error at " << error->pos.line << ":" << error->pos.column << ": "
                                      << error->message);
  }
  return std::get<Document>(std::move(result));
}

std::string at(SourcePos p) { return std::to_string(p.line) + ":" + std::to_string(p.column); }

}  // namespace

TEST_CASE("Document reads every kind of value, members in the order of the text",
          "[json][document]") {
  const Document doc =
      parseOk("{\"z\": [true, false, null], \"a\": \"text\", \"n\": -12, \"f\": 1.5e3, \"o\": {}}");
  const Value& root = doc.root();
  REQUIRE(root.isObject());
  REQUIRE(root.children().size() == 5);
  std::vector<std::string_view> keys;
  for (const Value& member : root.children()) keys.push_back(member.key());
  CHECK(keys == std::vector<std::string_view>{"z", "a", "n", "f", "o"});

  const Value& array = root.children()[0];
  REQUIRE(array.isArray());
  REQUIRE(array.children().size() == 3);
  CHECK(array.children()[0].isBoolean());
  CHECK(array.children()[0].boolean());
  CHECK_FALSE(array.children()[1].boolean());
  CHECK(array.children()[2].isNull());
  CHECK(array.children()[0].key().empty());

  REQUIRE(root.find("a") != nullptr);
  CHECK(root.find("a")->text() == "text");
  CHECK(root.find("missing") == nullptr);
  CHECK(root.find("n")->isInteger());
  CHECK(root.find("n")->int64() == -12);
  CHECK_FALSE(root.find("f")->isInteger());
  CHECK(root.find("f")->text() == "1.5e3");
  CHECK_FALSE(root.find("f")->int64().has_value());
  CHECK(root.find("o")->isObject());
  CHECK(root.find("o")->children().empty());
  CHECK(array.find("z") == nullptr);  // not an object
}

TEST_CASE("Document integers beyond int64 are numbers without an int64 value", "[json][document]") {
  const Document doc = parseOk("[9223372036854775807, -9223372036854775808, 18446744073709551615]");
  const auto items = doc.root().children();
  CHECK(items[0].int64() == INT64_MAX);
  CHECK(items[1].int64() == INT64_MIN);
  CHECK(items[2].isInteger());
  CHECK_FALSE(items[2].int64().has_value());
}

TEST_CASE("Document decodes escaped strings and keys; others stay as written", "[json][document]") {
  const Document doc =
      parseOk("{\"a\\u00e9\\n\": \"x\\ty\\ud83d\\ude00\", \"plain\": \"caf\xc3\xa9\"}");
  const Value& root = doc.root();
  CHECK(root.children()[0].key() == "a\xc3\xa9\n");
  CHECK(root.children()[0].text() == "x\ty\xf0\x9f\x98\x80");
  CHECK(root.find("plain")->text() == "caf\xc3\xa9");
}

TEST_CASE("Document records where values and keys start", "[json][document]") {
  const Document doc = parseOk("{\n  \"a\": [1,\n    {\"b\" :\t\"\xc3\xa9\"}]\n}");
  const Value& a = *doc.root().find("a");
  CHECK(at(doc.root().pos()) == "1:1");
  CHECK(at(a.keyPos()) == "2:3");
  CHECK(at(a.pos()) == "2:8");
  CHECK(at(a.children()[0].pos()) == "2:9");
  CHECK(at(a.children()[0].keyPos()) == "2:9");  // array items: the value
  const Value& b = *a.children()[1].find("b");
  CHECK(at(b.keyPos()) == "3:6");
  CHECK(at(b.pos()) == "3:12");
}

TEST_CASE("Document stays valid when moved, its strings included", "[json][document]") {
  std::string text = "{\"k\": \"short\", \"e\": \"\\u00e9\"}";
  auto result = Document::parse(text);
  text.assign(text.size(), 'x');  // the document keeps its own copy
  Document moved = std::get<Document>(std::move(result));
  const Document doc = std::move(moved);
  CHECK(doc.root().find("k")->text() == "short");
  CHECK(doc.root().find("e")->text() == "\xc3\xa9");
}

TEST_CASE("Document refuses duplicate keys in large objects too", "[json][document]") {
  std::string text = "{";
  for (int i = 0; i < 40; ++i) text += "\"k" + std::to_string(i) + "\": " + std::to_string(i) + ",";
  SECTION("the duplicate is refused at its key") {
    const std::string dup = text + "\"k7\": 0}";
    auto result = Document::parse(dup);
    REQUIRE(std::holds_alternative<ParseError>(result));
    const auto& error = std::get<ParseError>(result);
    CHECK(error.message == "duplicate key \"k7\"");
    CHECK(error.path == "k7");
    CHECK(error.pos.column == static_cast<int>(text.size()) + 1);
  }
  SECTION("the same keys in sibling and nested objects are fine") {
    const std::string ok =
        text + "\"inner\": " + text + "\"x\": 1}, \"k40\": " + text + "\"y\": 2}}";
    const Document doc = parseOk(ok);
    CHECK(doc.root().children().size() == 42);
  }
}

TEST_CASE("splitPath reads back the paths childPath and indexPath build", "[json][document]") {
  const std::vector<PathStep> steps{std::string("network"),    std::string("egress"),
                                    std::string("tcp"),        std::size_t{2},
                                    std::string("A.B"),        std::string(""),
                                    std::string("0"),          std::string("say \"hi\"\\\n\x7f"),
                                    std::string("caf\xc3\xa9")};
  std::string path;
  for (const PathStep& step : steps) {
    path = std::holds_alternative<std::size_t>(step) ? indexPath(path, std::get<std::size_t>(step))
                                                     : childPath(path, std::get<std::string>(step));
  }
  const auto split = splitPath(path);
  REQUIRE(split.has_value());
  CHECK(*split == steps);
  CHECK(splitPath("")->empty());
  CHECK(splitPath("[0]").value() == std::vector<PathStep>{std::size_t{0}});
  CHECK_FALSE(splitPath("a.").has_value());
  CHECK_FALSE(splitPath("a[\"b").has_value());
  CHECK_FALSE(splitPath("a[x]").has_value());
  CHECK_FALSE(splitPath("env[\"A").has_value());
}
