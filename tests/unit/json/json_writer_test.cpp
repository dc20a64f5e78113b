#include "libcommon/json/json_writer.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace {

using lens::json::ObjectWriter;
using lens::json::quote;

constexpr const char* kFffd = "\xEF\xBF\xBD";

std::string bytes(std::initializer_list<unsigned char> list) {
  std::string s;
  for (unsigned char c : list) s += static_cast<char>(c);
  return s;
}

// The JSON literal expected for `inner` (already escaped) text.
std::string q(const std::string& inner) { return "\"" + inner + "\""; }

std::string repeatFffd(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += kFffd;
  return s;
}

}  // namespace

TEST_CASE("appendString escapes every control byte", "[json]") {
  const char* const kExpected[0x20] = {
      "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
      "\\b",     "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",     "\\u000e", "\\u000f",
      "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
      "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
  };
  for (int c = 0; c < 0x20; ++c) {
    INFO("byte " << c);
    const std::string in(1, static_cast<char>(c));
    CHECK(quote(in) == q(kExpected[c]));
    // Also in the middle of plain text, where the fast path copies runs.
    CHECK(quote("ab" + in + "cd") == q(std::string("ab") + kExpected[c] + "cd"));
  }
  CHECK(quote(std::string("\x7f", 1)) == q("\\u007f"));
}

TEST_CASE("appendString escapes quotes and backslashes", "[json]") {
  CHECK(quote("") == "\"\"");
  CHECK(quote("plain text 123 ~!@#$%^&*()/") == q("plain text 123 ~!@#$%^&*()/"));
  CHECK(quote("\"") == q("\\\""));
  CHECK(quote("\\") == q("\\\\"));
  CHECK(quote("a\"b\\c") == q("a\\\"b\\\\c"));
  CHECK(quote("\\\"\\\"") == q("\\\\\\\"\\\\\\\""));
  CHECK(quote("/") == q("/"));  // '/' needs no escaping
}

TEST_CASE("appendString appends to existing text", "[json]") {
  std::string out = "x=";
  lens::json::appendString(out, "y\n");
  CHECK(out == "x=\"y\\n\"");
}

TEST_CASE("appendString passes valid UTF-8 through", "[json]") {
  const std::string valid[] = {
      bytes({0xC2, 0x80}),              // U+0080, smallest 2-byte
      bytes({0xC3, 0xA9}),              // é
      bytes({0xDF, 0xBF}),              // U+07FF
      bytes({0xE0, 0xA0, 0x80}),        // U+0800, smallest 3-byte
      bytes({0xE2, 0x82, 0xAC}),        // €
      bytes({0xED, 0x9F, 0xBF}),        // U+D7FF, just below the surrogates
      bytes({0xEE, 0x80, 0x80}),        // U+E000, just above the surrogates
      bytes({0xEF, 0xBF, 0xBD}),        // U+FFFD itself
      bytes({0xEF, 0xBF, 0xBF}),        // U+FFFF
      bytes({0xF0, 0x90, 0x80, 0x80}),  // U+10000, smallest 4-byte
      bytes({0xF0, 0x9F, 0x98, 0x80}),  // 😀
      bytes({0xF4, 0x8F, 0xBF, 0xBF}),  // U+10FFFF, the largest code point
      "日本語のテキスト",
      "mixed ascii é € 😀 end",
  };
  for (const std::string& s : valid) {
    INFO(s);
    CHECK(quote(s) == q(s));
  }
}

TEST_CASE("appendString replaces invalid UTF-8 per maximal subpart", "[json]") {
  struct Case {
    const char* name;
    std::string in;
    std::string out;  // inner text of the expected literal
  };
  const Case cases[] = {
      {"lone continuation", bytes({0x80}), repeatFffd(1)},
      {"lone continuation BF in text", "a" + bytes({0xBF}) + "b", "a" + repeatFffd(1) + "b"},
      {"two continuations", bytes({0x80, 0x80}), repeatFffd(2)},
      {"truncated 2-byte at end", bytes({0xC3}), repeatFffd(1)},
      {"truncated 2-byte before ascii", bytes({0xC3, 'A'}), repeatFffd(1) + "A"},
      {"truncated 3-byte at end", bytes({0xE2, 0x82}), repeatFffd(1)},
      {"truncated 3-byte before ascii", bytes({0xE2, 0x82, 'A'}), repeatFffd(1) + "A"},
      {"3-byte lead alone", bytes({0xE2, 'A'}), repeatFffd(1) + "A"},
      {"truncated 4-byte at end", bytes({0xF0, 0x9F, 0x98}), repeatFffd(1)},
      {"truncated 4-byte before ascii", bytes({0xF0, 0x9F, 0x98, 'x'}), repeatFffd(1) + "x"},
      {"truncated 4-byte then valid", bytes({0xF0, 0x9F, 0xC3, 0xA9}), repeatFffd(1) + "\xC3\xA9"},
      {"overlong C0 80", bytes({0xC0, 0x80}), repeatFffd(2)},
      {"overlong C1 BF", bytes({0xC1, 0xBF}), repeatFffd(2)},
      {"overlong E0 80 80", bytes({0xE0, 0x80, 0x80}), repeatFffd(3)},
      {"overlong E0 9F BF", bytes({0xE0, 0x9F, 0xBF}), repeatFffd(3)},
      {"overlong F0 80 80 80", bytes({0xF0, 0x80, 0x80, 0x80}), repeatFffd(4)},
      {"overlong F0 8F BF BF", bytes({0xF0, 0x8F, 0xBF, 0xBF}), repeatFffd(4)},
      {"surrogate ED A0 80", bytes({0xED, 0xA0, 0x80}), repeatFffd(3)},
      {"surrogate ED BF BF", bytes({0xED, 0xBF, 0xBF}), repeatFffd(3)},
      {"surrogate pair (CESU-8)", bytes({0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80}), repeatFffd(6)},
      {"above U+10FFFF F4 90 80 80", bytes({0xF4, 0x90, 0x80, 0x80}), repeatFffd(4)},
      {"F5 lead", bytes({0xF5, 0x80, 0x80, 0x80}), repeatFffd(4)},
      {"FE and FF", bytes({0xFE, 0xFF}), repeatFffd(2)},
      {"5-byte form", bytes({0xF8, 0x88, 0x80, 0x80, 0x80}), repeatFffd(5)},
      // Unicode 15, Table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64
      {"Unicode Table 3-8",
       bytes({0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64}),
       "a" + repeatFffd(3) + "b" + repeatFffd(1) + "c" + repeatFffd(2) + "d"},
      {"invalid byte then quote", bytes({0xC3, '"'}), repeatFffd(1) + "\\\""},
      {"invalid byte then control", bytes({0xE2, 0x0A}), repeatFffd(1) + "\\n"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(quote(c.in) == q(c.out));
  }
}

TEST_CASE("ObjectWriter keeps insertion order and picks the right overloads", "[json]") {
  const std::string owned = "from std::string";
  const char* const nullText = nullptr;
  ObjectWriter w;
  w.field("z", "literal")  // must be a string, not bool
      .field("a", 42)
      .field("n", -7)
      .field("t", true)
      .field("f", false)
      .field("s", owned)
      .field("sv", std::string_view("view"))
      .field("nullptr", nullText)
      .fieldNull("null")
      .field("i64min", std::numeric_limits<std::int64_t>::min())
      .field("u64max", std::numeric_limits<std::uint64_t>::max())
      .field("u16", std::uint16_t{65535})
      .fieldRaw("raw", "[1,2]");
  CHECK(w.finish() ==
        "{\"z\":\"literal\",\"a\":42,\"n\":-7,\"t\":true,\"f\":false,"
        "\"s\":\"from std::string\",\"sv\":\"view\",\"nullptr\":null,\"null\":null,"
        "\"i64min\":-9223372036854775808,\"u64max\":18446744073709551615,\"u16\":65535,"
        "\"raw\":[1,2]}");
}

TEST_CASE("ObjectWriter nests objects and arrays", "[json]") {
  ObjectWriter w;
  w.field("a", 1);
  w.beginObject("o").field("x", "y").beginObject("inner").endObject().endObject();
  w.beginArray("arr")
      .element("s")
      .element(2)
      .element(true)
      .elementNull()
      .elementRaw("{\"k\":1}")
      .beginObject()
      .field("in", "obj")
      .endObject()
      .beginArray()
      .element(std::uint64_t{3})
      .endArray()
      .beginArray()
      .endArray()
      .endArray();
  w.beginArray("empty").endArray();
  w.field("last", false);
  CHECK(w.finish() ==
        "{\"a\":1,\"o\":{\"x\":\"y\",\"inner\":{}},"
        "\"arr\":[\"s\",2,true,null,{\"k\":1},{\"in\":\"obj\"},[3],[]],"
        "\"empty\":[],\"last\":false}");
}

TEST_CASE("ObjectWriter escapes keys", "[json]") {
  ObjectWriter w;
  w.field("k\"\n\x01", "v");
  CHECK(w.finish() == "{\"k\\\"\\n\\u0001\":\"v\"}");
}

TEST_CASE("ObjectWriter with no fields is an empty object", "[json]") {
  ObjectWriter w;
  CHECK(w.finish() == "{}");
}

TEST_CASE("ObjectWriter rejects misuse", "[json]") {
  SECTION("element in an object") {
    ObjectWriter w;
    CHECK_THROWS_AS(w.element("x"), std::logic_error);
  }
  SECTION("field in an array") {
    ObjectWriter w;
    w.beginArray("a");
    CHECK_THROWS_AS(w.field("k", 1), std::logic_error);
  }
  SECTION("endObject closing an array") {
    ObjectWriter w;
    w.beginArray("a");
    CHECK_THROWS_AS(w.endObject(), std::logic_error);
  }
  SECTION("endObject on the top level") {
    ObjectWriter w;
    CHECK_THROWS_AS(w.endObject(), std::logic_error);
  }
  SECTION("endArray without an array") {
    ObjectWriter w;
    CHECK_THROWS_AS(w.endArray(), std::logic_error);
  }
  SECTION("finish with an open container") {
    ObjectWriter w;
    w.beginObject("o");
    CHECK_THROWS_AS(w.finish(), std::logic_error);
  }
  SECTION("finish twice, field after finish") {
    ObjectWriter w;
    CHECK(w.finish() == "{}");
    CHECK_THROWS_AS(w.finish(), std::logic_error);
    CHECK_THROWS_AS(w.field("k", 1), std::logic_error);
  }
  SECTION("empty raw value") {
    ObjectWriter w;
    CHECK_THROWS_AS(w.fieldRaw("k", ""), std::logic_error);
  }
}
