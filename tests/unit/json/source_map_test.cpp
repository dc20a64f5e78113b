#include "libcommon/json/source_map.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <variant>

using lens::json::childPath;
using lens::json::indexPath;
using lens::json::JsonLimits;
using lens::json::SourceMap;
using lens::json::SourcePos;

namespace {

SourceMap scanOk(std::string_view text, const JsonLimits& limits = {}) {
  auto result = SourceMap::scan(text, limits);
  if (const auto* error = std::get_if<SourceMap::ScanError>(&result)) {
    FAIL("unexpected scan error at " << error->pos.line << ":" << error->pos.column << ": "
                                     << error->path << ": " << error->message);
  }
  return std::get<SourceMap>(std::move(result));
}

SourceMap::ScanError scanError(std::string_view text, const JsonLimits& limits = {}) {
  auto result = SourceMap::scan(text, limits);
  if (!std::holds_alternative<SourceMap::ScanError>(result)) FAIL("expected a scan error");
  return std::get<SourceMap::ScanError>(std::move(result));
}

// "LINE:COL: PATH: message", the shape policy diagnostics use.
std::string describe(const SourceMap::ScanError& e) {
  return std::to_string(e.pos.line) + ":" + std::to_string(e.pos.column) + ": " +
         (e.path.empty() ? std::string("$") : e.path) + ": " + e.message;
}

std::string at(SourcePos p) { return std::to_string(p.line) + ":" + std::to_string(p.column); }

std::string nested(int depth) {
  return std::string(static_cast<std::size_t>(depth), '[') +
         std::string(static_cast<std::size_t>(depth), ']');
}

}  // namespace

TEST_CASE("childPath and indexPath build diagnostic paths", "[policy][source_map]") {
  CHECK(childPath("", "network") == "network");
  CHECK(childPath("network", "egress") == "network.egress");
  CHECK(indexPath(childPath("network.egress", "tcp"), 2) == "network.egress.tcp[2]");
  CHECK(childPath(indexPath("network.egress.tcp", 2), "match") == "network.egress.tcp[2].match");
  CHECK(childPath("env", "LENS_HOME") == "env.LENS_HOME");
  CHECK(childPath("env", "x-y$1") == "env.x-y$1");
  SECTION("keys that are not identifiers are quoted") {
    CHECK(childPath("env", "A.B") == "env[\"A.B\"]");
    CHECK(childPath("", "a b") == "[\"a b\"]");
    CHECK(childPath("env", "") == "env[\"\"]");
    CHECK(childPath("env", "say \"hi\"\\") == "env[\"say \\\"hi\\\"\\\\\"]");
    CHECK(childPath("env", std::string_view("a\nb\x7f", 4)) == "env[\"a\\u000ab\\u007f\"]");
    CHECK(childPath("env", "caf\xc3\xa9") == "env[\"caf\xc3\xa9\"]");
  }
}

TEST_CASE("SourceMap records where keys and values start", "[policy][source_map]") {
  const std::string text =
      "{\n"
      "  \"network\": {\n"
      "    \"egress\": {\n"
      "      \"tcp\": [\n"
      "        {\"match\": \"db:5432\", \"verdict\": \"allow\"},\n"
      "        { \"match\" :\t\"cache:6379\" }\n"
      "      ]\n"
      "    }\n"
      "  }\n"
      "}\n";
  const SourceMap map = scanOk(text);
  CHECK(at(map.valuePos("")) == "1:1");
  CHECK(at(map.keyPos("network")) == "2:3");
  CHECK(at(map.valuePos("network")) == "2:14");
  CHECK(at(map.valuePos("network.egress.tcp")) == "4:14");
  CHECK(at(map.valuePos("network.egress.tcp[0]")) == "5:9");
  CHECK(at(map.keyPos("network.egress.tcp[0]")) == "5:9");  // array items: the value
  CHECK(at(map.keyPos("network.egress.tcp[0].match")) == "5:10");
  CHECK(at(map.valuePos("network.egress.tcp[0].match")) == "5:19");
  CHECK(at(map.keyPos("network.egress.tcp[0].verdict")) == "5:30");
  CHECK(at(map.valuePos("network.egress.tcp[0].verdict")) == "5:41");
  CHECK(at(map.keyPos("network.egress.tcp[1].match")) == "6:11");
  CHECK(at(map.valuePos("network.egress.tcp[1].match")) == "6:21");  // a tab is one column

  SECTION("an unrecorded path falls back to its nearest recorded ancestor") {
    CHECK(at(map.valuePos("network.egress.tcp[1].verdict")) == "6:9");
    CHECK(at(map.valuePos("network.egress.udp")) == "3:15");
    CHECK(at(map.valuePos("network.egress.tcp[7].binaries[0]")) == "4:14");
    CHECK(at(map.valuePos("credentials[0].id")) == "1:1");
    CHECK(at(map.keyPos("nothing.here")) == "1:1");
  }
}

TEST_CASE("SourceMap columns count characters, not bytes", "[policy][source_map]") {
  const std::string eAcute = "\xc3\xa9";        // U+00E9, 2 bytes
  const std::string euro = "\xe2\x82\xac";      // U+20AC, 3 bytes
  const std::string grin = "\xf0\x9f\x98\x80";  // U+1F600, 4 bytes
  const std::string text = "{\"" + eAcute + "\":\"" + euro + grin + "\",\"k\":1,\n\"" + grin +
                           grin + "\": {\"x\": true}}";
  const SourceMap map = scanOk(text);
  // {"é":"€😀","k":1,   — é, € and 😀 are one column each.
  CHECK(at(map.keyPos(childPath("", eAcute))) == "1:2");
  CHECK(at(map.valuePos(childPath("", eAcute))) == "1:6");
  CHECK(at(map.keyPos("k")) == "1:11");
  CHECK(at(map.valuePos("k")) == "1:15");
  CHECK(at(map.keyPos(childPath("", grin + grin))) == "2:1");
  CHECK(at(map.valuePos(childPath(childPath("", grin + grin), "x"))) == "2:13");

  SECTION("escapes count as the characters written") {
    const SourceMap escaped = scanOk("{\"a\\u00e9\\n\": 1, \"b\": 2}");
    CHECK(at(escaped.keyPos("b")) == "1:18");
  }
  SECTION("CRLF line ends start a new line") {
    const SourceMap crlf = scanOk("{\r\n  \"a\": 1,\r\n  \"b\": 2\r\n}");
    CHECK(at(crlf.valuePos("b")) == "3:8");
  }
}

TEST_CASE("SourceMap tolerates a UTF-8 byte order mark without shifting columns",
          "[policy][source_map]") {
  const SourceMap map = scanOk("\xef\xbb\xbf{\"a\": 1}");
  CHECK(at(map.keyPos("a")) == "1:2");
  CHECK(at(map.valuePos("a")) == "1:7");
  CHECK(describe(scanError("\xef\xbb\xbf{\"a\": x}")) ==
        "1:7: a: unexpected 'x', expected a value");
}

TEST_CASE("SourceMap refuses malformed JSON with a located message", "[policy][source_map]") {
  CHECK(describe(scanError("")) == "1:1: $: empty document, expected a JSON value");
  CHECK(describe(scanError(" \n\t ")) == "2:3: $: empty document, expected a JSON value");
  CHECK(describe(scanError("{} x")) == "1:4: $: unexpected data after the JSON value");
  CHECK(describe(scanError("{}{}")) == "1:3: $: unexpected data after the JSON value");
  CHECK(describe(scanError("{\"a\": 1,}")) == "1:9: $: unexpected '}', expected a string key");
  CHECK(describe(scanError("{\"a\" 1}")) == "1:6: $: unexpected '1', expected ':' after the key");
  CHECK(describe(scanError("{\"a\": [1 2]}")) == "1:10: a: unexpected '2', expected ',' or ']'");
  CHECK(describe(scanError("{\"a\": {\"b\": 1")) ==
        "1:14: a: unexpected end of document, expected ',' or '}'");
  CHECK(describe(scanError("{\"a\": tru}")) == "1:7: a: unexpected 't', expected a value");
  CHECK(describe(scanError("{\"a\": 012}")) == "1:8: a: numbers must not have leading zeros");
  CHECK(describe(scanError("{\"a\": 1.}")) == "1:9: a: unexpected '}', expected a digit");
  CHECK(describe(scanError("{\"a\": -}")) == "1:8: a: unexpected '}', expected a digit");
  CHECK(describe(scanError("{\"a\": 'x'}")) == "1:7: a: unexpected ''', expected a value");
  CHECK(describe(scanError("{\"a\": \"x}")) == "1:10: a: unterminated string");
  CHECK(describe(scanError("{\"a\": \"\\q\"}")) == "1:10: a: invalid escape sequence \\q");
  CHECK(describe(scanError("{\"a\": \"\\u12\"}")) ==
        "1:10: a: invalid \\u escape (expected four hex digits)");
  CHECK(describe(scanError("{\"a\": \"x\ty\"}")) ==
        "1:9: a: control character in string (escape it as \\u00XX)");
  CHECK(describe(scanError("{\"a\": \"\\u0000\"}")) ==
        "1:14: a: NUL character (\\u0000) is not allowed");
  CHECK(describe(scanError(std::string("{\"a\": \"\0\"}", 10))) ==
        "1:8: a: control character in string (escape it as \\u00XX)");
  CHECK(describe(scanError("{\"a\": \x01}")) == "1:7: a: unexpected byte 1, expected a value");
}

TEST_CASE("SourceMap refuses duplicate keys at the second occurrence", "[policy][source_map]") {
  CHECK(describe(scanError("{\"env\": {\"A\": \"1\",\n         \"A\": \"2\"}}")) ==
        "2:10: env.A: duplicate key \"A\"");
  // Equal after unescaping is still a duplicate.
  CHECK(describe(scanError("{\"ab\": 1, \"a\\u0062\": 2}")) == "1:11: ab: duplicate key \"ab\"");
  // The same key in different objects is fine.
  scanOk("{\"a\": {\"x\": 1}, \"b\": {\"x\": 1}, \"c\": [{\"x\": 1}, {\"x\": 2}]}");
}

TEST_CASE("SourceMap refuses invalid UTF-8 and lone surrogates", "[policy][source_map]") {
  SECTION("invalid UTF-8 bytes") {
    CHECK(describe(scanError("{\"a\": \"x\xff\"}")) == "1:9: a: invalid UTF-8 in string");
    CHECK(describe(scanError("{\"a\": \"\xc0\x80\"}")) ==
          "1:8: a: invalid UTF-8 in string");  // overlong NUL
    CHECK(describe(scanError("{\"a\": \"\xe0\x80\xaf\"}")) ==
          "1:8: a: invalid UTF-8 in string");  // overlong '/'
    CHECK(describe(scanError("{\"a\": \"\xed\xa0\x80\"}")) ==
          "1:8: a: invalid UTF-8 in string");  // encoded surrogate
    CHECK(describe(scanError("{\"a\": \"\xf4\x90\x80\x80\"}")) ==
          "1:8: a: invalid UTF-8 in string");  // > U+10FFFF
    CHECK(describe(scanError("{\"a\": \"\xe2\x82\"}")) ==
          "1:8: a: invalid UTF-8 in string");  // truncated
    CHECK(describe(scanError("{\"a\": \"\x80\"}")) ==
          "1:8: a: invalid UTF-8 in string");  // lone continuation
    CHECK(describe(scanError("{\"k\xff\": 1}")) == "1:4: $: invalid UTF-8 in string");
  }
  SECTION("escaped surrogates must come in pairs") {
    CHECK(describe(scanError("{\"a\": \"\\ud800\"}")) ==
          "1:14: a: unpaired surrogate in \\u escape");
    CHECK(describe(scanError("{\"a\": \"\\udc00\"}")) ==
          "1:14: a: unpaired surrogate in \\u escape");
    CHECK(describe(scanError("{\"a\": \"\\ud800\\u0041\"}")) ==
          "1:20: a: unpaired surrogate in \\u escape");
    CHECK(describe(scanError("{\"a\": \"\\ud800x\"}")) ==
          "1:14: a: unpaired surrogate in \\u escape");
    scanOk("{\"a\": \"\\ud83d\\ude00\"}");
  }
  SECTION("valid multibyte text passes") {
    scanOk("{\"a\": \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"}");
  }
}

TEST_CASE("SourceMap refuses numbers no 64-bit integer or double can hold",
          "[policy][source_map]") {
  CHECK(describe(scanError("{\"mode\": 18446744073709551616}")) ==
        "1:10: mode: number 18446744073709551616 is out of range");
  CHECK(describe(scanError("{\"mode\": -9223372036854775809}")) ==
        "1:10: mode: number -9223372036854775809 is out of range");
  CHECK(describe(scanError("{\"mode\": 1e400}")) == "1:10: mode: number 1e400 is out of range");
  CHECK(describe(scanError("{\"a\": [1, 100000000000000000000000000000]}")) ==
        "1:11: a[1]: number 100000000000000000000000000000 is out of range");
  // No policy field takes a fraction, so an underflow is refused rather than read as 0.
  CHECK(describe(scanError("{\"a\": 1e-400}")) == "1:7: a: number 1e-400 is out of range");
  CHECK(describe(scanError("{\"a\": " + std::string(400, '9') + "}")) ==
        "1:7: a: number " + std::string(40, '9') + "... is out of range");
  scanOk(
      "{\"a\": [18446744073709551615, -9223372036854775808, 1e308, -1.5e-300, -0, 0.5e-3, 1E+2]}");
}

TEST_CASE("SourceMap enforces the document size limit before reading", "[policy][source_map]") {
  const JsonLimits defaults;
  REQUIRE(defaults.maxBytes == 16u * 1024 * 1024);
  std::string text = "{}";
  text.resize(defaults.maxBytes, ' ');
  scanOk(text);
  text.push_back(' ');
  CHECK(describe(scanError(text)) ==
        "1:1: $: document is 16777217 bytes, over the limit of 16777216");
}

TEST_CASE("SourceMap enforces the nesting limit", "[policy][source_map]") {
  const JsonLimits defaults;
  REQUIRE(defaults.maxDepth == 64);
  scanOk(nested(64));
  CHECK(describe(scanError(nested(65))).ends_with(": nesting deeper than 64 levels"));
  CHECK(scanError(nested(65)).pos.column == 65);

  // Objects count as levels too; the limit is on the total.
  std::string mixed;
  for (int i = 0; i < 32; ++i) mixed += "{\"a\":[";
  for (int i = 0; i < 32; ++i) mixed += "]}";
  scanOk(mixed);
  CHECK(describe(scanError("{\"a\":" + mixed + "}")).ends_with(": nesting deeper than 64 levels"));

  SECTION("very deep input is refused without exhausting the stack") {
    const auto e = scanError(nested(1'000'000));
    CHECK(e.message == "nesting deeper than 64 levels");
    CHECK(e.pos.column == 65);
  }
  SECTION("the limit is configurable") {
    const JsonLimits tight{.maxDepth = 2};
    scanOk("{\"a\": [1]}", tight);
    CHECK(describe(scanError("{\"a\": [[1]]}", tight)) ==
          "1:8: a[0]: nesting deeper than 2 levels");
  }
}

TEST_CASE("SourceMap enforces the string length limit on decoded bytes", "[policy][source_map]") {
  const JsonLimits defaults;
  REQUIRE(defaults.maxString == 1024u * 1024);
  const std::string atLimit(defaults.maxString, 'x');
  scanOk("{\"a\": \"" + atLimit + "\"}");
  const auto e = scanError("{\"a\": \"" + atLimit + "x\"}");
  CHECK(e.path == "a");
  CHECK(e.message == "string longer than 1048576 bytes");

  SECTION("keys are strings too") {
    CHECK(scanError("{\"" + atLimit + "x\": 1}").message == "string longer than 1048576 bytes");
  }
  SECTION("escapes are counted once decoded") {
    const JsonLimits tight{.maxString = 4};
    scanOk("{\"a\": \"\\u0041\\u0042\\u0043\\u0044\"}", tight);
    CHECK(scanError("{\"a\": \"\\u0041\\u0042\\u0043\\u0044\\u0045\"}", tight).message ==
          "string longer than 4 bytes");
  }
}
