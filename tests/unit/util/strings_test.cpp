#include "libcommon/util/strings.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string_view>
#include <vector>

using lens::util::closestMatch;
using lens::util::editDistance;

TEST_CASE("edit distance counts a swap of adjacent letters as one edit", "[util]") {
  CHECK(editDistance("hots", "host") == 1);
  CHECK(editDistance("verdcit", "verdict") == 1);
  CHECK(editDistance("kitten", "sitting") == 3);
  CHECK(editDistance("", "abc") == 3);
  CHECK(editDistance("MATCH", "match") == 0);
}

TEST_CASE("closest match suggests likely typos only", "[util]") {
  const std::vector<std::string_view> keys = {"match", "verdict", "transport", "scheme"};
  CHECK(closestMatch("mathc", keys) == std::optional<std::string_view>("match"));
  CHECK(closestMatch("transprot", keys) == std::optional<std::string_view>("transport"));
  CHECK_FALSE(closestMatch("banana", keys).has_value());
}

TEST_CASE("decimal parsing refuses signs, leading zeros and overflow", "[util]") {
  CHECK(lens::util::parseDecimal("443", 65535) == 443ul);
  CHECK(lens::util::parseDecimal("0", 65535) == 0ul);
  CHECK_FALSE(lens::util::parseDecimal("0443", 65535));
  CHECK_FALSE(lens::util::parseDecimal("+1", 65535));
  CHECK_FALSE(lens::util::parseDecimal("65536", 65535));
  CHECK_FALSE(lens::util::parseDecimal("", 65535));
}

TEST_CASE("hexDigitValue and isLowerHex", "[util]") {
  using lens::util::hexDigitValue;
  using lens::util::isLowerHex;
  CHECK(hexDigitValue('0') == 0);
  CHECK(hexDigitValue('9') == 9);
  CHECK(hexDigitValue('a') == 10);
  CHECK(hexDigitValue('F') == 15);
  CHECK(hexDigitValue('g') == -1);
  CHECK(hexDigitValue(' ') == -1);
  CHECK(isLowerHex("0123456789abcdef"));
  CHECK(isLowerHex(""));
  CHECK_FALSE(isLowerHex("ABCDEF"));
  CHECK_FALSE(isLowerHex("12g"));
}

TEST_CASE("shell quoting survives quotes, spaces and newlines", "[util]") {
  using lens::util::shellQuote;
  CHECK(shellQuote("plain") == "'plain'");
  CHECK(shellQuote("it's") == "'it'\\''s'");
  CHECK(shellQuote("a b\n$HOME") == "'a b\n$HOME'");
  CHECK(shellQuote("") == "''");
}

TEST_CASE("fish quoting escapes only backslash and single quote", "[util]") {
  using lens::util::fishQuote;
  CHECK(fishQuote("plain") == "'plain'");
  CHECK(fishQuote("it's") == "'it\\'s'");
  CHECK(fishQuote("a\\b") == "'a\\\\b'");
  CHECK(fishQuote("a b\n$HOME (x) *") == "'a b\n$HOME (x) *'");
  CHECK(fishQuote("") == "''");
}

TEST_CASE("formDecode reads + and percent escapes and refuses broken ones", "[util]") {
  CHECK(lens::util::formDecode("read+write%3Aall") == "read write:all");
  CHECK(lens::util::formDecode("%41%62") == "Ab");
  CHECK(lens::util::formDecode("") == "");
  CHECK(lens::util::formDecode("50%") == std::nullopt);
  CHECK(lens::util::formDecode("%4") == std::nullopt);
  CHECK(lens::util::formDecode("%zz") == std::nullopt);
}
