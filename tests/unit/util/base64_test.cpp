#include "libcommon/util/base64.h"

#include <catch2/catch.hpp>

#include <optional>
#include <string>

using lens::util::base64Decode;
using lens::util::base64Encode;

TEST_CASE("base64 round-trips the RFC 4648 test vectors", "[util]") {
  struct Case {
    std::string plain;
    std::string encoded;
  };
  const auto [plain, encoded] = GENERATE(values<Case>({
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
      {std::string("\0\xff\xfe", 3), "AP/+"},
  }));
  CHECK(base64Encode(plain) == encoded);
  CHECK(base64Decode(encoded) == std::optional<std::string>(plain));
}

TEST_CASE("base64Decode refuses what is not padded standard base64", "[util]") {
  const std::string bad = GENERATE(as<std::string>{}, "Zg", "Zg=", "Zm9", "Z===", "Zm=v", "Zm9v\n",
                                   " Zm9v", "Zm9v ", "Zm-_", "Zm9v====", "====");
  CAPTURE(bad);
  CHECK(base64Decode(bad) == std::nullopt);
}
