#include "libcommon/decision/safety_floor.h"

#include <catch2/catch.hpp>

#include <string>

using lens::decision::checkAddressFloor;
using lens::decision::checkHostFloor;
using lens::decision::FloorClass;
using lens::decision::floorCode;
using lens::net::IpAddress;

namespace {

// The floor class for a host, or nullopt when it passes.
std::optional<FloorClass> classOf(std::string_view host) {
  const auto violation = checkHostFloor(host);
  if (!violation) return std::nullopt;
  return violation->cls;
}

std::string detailOf(std::string_view host) {
  const auto violation = checkHostFloor(host);
  REQUIRE(violation.has_value());
  return violation->detail;
}

IpAddress addr(std::string_view text) {
  auto parsed = IpAddress::parse(text);
  REQUIRE(parsed.has_value());
  return *parsed;
}

}  // namespace

TEST_CASE("floorCode gives every class its stable audit code", "[decision][floor]") {
  CHECK(floorCode(FloorClass::kLoopback) == "loopback");
  CHECK(floorCode(FloorClass::kUnspecified) == "unspecified");
  CHECK(floorCode(FloorClass::kLinkLocal) == "link-local");
  CHECK(floorCode(FloorClass::kLocalhostName) == "localhost");
  CHECK(floorCode(FloorClass::kAmbiguousNumeric) == "ambiguous-ip");
  CHECK(floorCode(FloorClass::kInvalidHost) == "invalid-host");
  CHECK(lens::decision::kFloorReason == "blocked-destination");
}

TEST_CASE("floor refuses IPv4 loopback literals", "[decision][floor]") {
  const std::string host = GENERATE(as<std::string>{}, "127.0.0.1", "127.0.0.0", "127.255.255.254",
                                    "127.1.2.3", "127.0.0.1.");
  CAPTURE(host);
  CHECK(classOf(host) == FloorClass::kLoopback);
}

TEST_CASE("floor refuses IPv6 loopback, bare and bracketed", "[decision][floor]") {
  const std::string host = GENERATE(as<std::string>{}, "::1", "[::1]", "0:0:0:0:0:0:0:1",
                                    "[0:0:0:0:0:0:0:1]", "[0000::0001]");
  CAPTURE(host);
  CHECK(classOf(host) == FloorClass::kLoopback);
}

TEST_CASE("floor refuses IPv4-mapped and IPv4-compatible loopback", "[decision][floor]") {
  const std::string host =
      GENERATE(as<std::string>{}, "::ffff:127.0.0.1", "[::ffff:127.0.0.1]", "::ffff:7f00:1",
               "[::ffff:7f00:1]", "::ffff:127.9.9.9", "::127.0.0.1", "[::127.0.0.1]", "::7f00:1");
  CAPTURE(host);
  CHECK(classOf(host) == FloorClass::kLoopback);
}

TEST_CASE("floor refuses unspecified addresses", "[decision][floor]") {
  const std::string host =
      GENERATE(as<std::string>{}, "0.0.0.0", "0.1.2.3", "0.255.255.255", "0.0.0.0.", "::", "[::]",
               "0:0:0:0:0:0:0:0", "::ffff:0.0.0.0", "[::ffff:0.0.0.0]", "::0.1.2.3", "::2");
  CAPTURE(host);
  CHECK(classOf(host) == FloorClass::kUnspecified);
}

TEST_CASE("floor refuses link-local addresses including cloud metadata", "[decision][floor]") {
  const std::string host = GENERATE(
      as<std::string>{}, "169.254.169.254", "169.254.0.1", "169.254.255.255", "169.254.169.254.",
      "fe80::1", "[fe80::1]", "febf:ffff::1", "FE80::1", "::ffff:169.254.169.254",
      "[::ffff:169.254.169.254]", "::ffff:a9fe:a9fe", "::169.254.169.254");
  CAPTURE(host);
  CHECK(classOf(host) == FloorClass::kLinkLocal);
}

TEST_CASE("floor refuses localhost and every *.localhost name", "[decision][floor]") {
  const std::string host = GENERATE(as<std::string>{}, "localhost", "LOCALHOST", "LocalHost",
                                    "localhost.", "LOCALHOST.", "a.localhost", "a.b.localhost",
                                    "foo.LOCALHOST.", "x.LocalHost", "127.0.0.1.localhost");
  CAPTURE(host);
  CHECK(classOf(host) == FloorClass::kLocalhostName);
}

TEST_CASE("floor lets names that merely mention localhost through", "[decision][floor]") {
  const std::string host =
      GENERATE(as<std::string>{}, "localhost.example.com", "notlocalhost", "mylocalhost.com",
               "localhostx", "xlocalhost", "localhost-dev.example", "local.host");
  CAPTURE(host);
  CHECK_FALSE(checkHostFloor(host).has_value());
}

TEST_CASE("floor refuses ambiguous numeric spellings of IPv4", "[decision][floor]") {
  const std::string host = GENERATE(as<std::string>{},
                                    "2130706433",    // 127.0.0.1 as one decimal number
                                    "2130706433.",   // ... with a trailing dot
                                    "0x7f.1",        // hex, short form
                                    "0X7F.0.0.1",    // upper-case hex
                                    "0177.0.0.1",    // octal
                                    "127.1",         // short form
                                    "127.0.1",       // short form
                                    "0x7f000001",    // hex integer
                                    "0x7F000001",    // hex integer, upper case
                                    "017700000001",  // octal integer
                                    "127.0.0.01",    // leading zero
                                    "1.2.3.4.5",     // five parts
                                    "1.2.3.4.5.",    // five parts, trailing dot
                                    "256.0.0.1",     // out of range
                                    "08.0.0.1",      // not even valid octal
                                    "3232235521",    // 192.168.0.1: refused though private
                                    "0",             // a single number
                                    "0x",            // hex prefix with no digits
                                    "1.2.3.0x",      // hex prefix with no digits
                                    "example.0x1",   // the last label decides
                                    "foo.123");      // the last label decides
  CAPTURE(host);
  CHECK(classOf(host) == FloorClass::kAmbiguousNumeric);
}

TEST_CASE("floor lets canonical private and public IPv4 through", "[decision][floor]") {
  const std::string host =
      GENERATE(as<std::string>{}, "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
               "8.8.8.8", "1.2.3.4.", "100.64.0.1", "224.0.0.1", "255.255.255.255",
               "126.255.255.255", "128.0.0.1", "169.253.255.255", "1.0.0.0");
  CAPTURE(host);
  CHECK_FALSE(checkHostFloor(host).has_value());
}

TEST_CASE("floor lets ordinary host names through", "[decision][floor]") {
  const std::string host =
      GENERATE(as<std::string>{}, "example.com", "EXAMPLE.COM.", "api.github.com", "a-b.c",
               "xn--bcher-kva.example", "0x7f.example", "123.example.com", "1e100.net", "0xg",
               "127.0.0.1.nip.io", "intranet", "a");
  CAPTURE(host);
  CHECK_FALSE(checkHostFloor(host).has_value());
}

TEST_CASE("floor lets public IPv6 and unlisted special ranges through", "[decision][floor]") {
  const std::string host = GENERATE(as<std::string>{}, "2001:db8::1", "[2001:db8::1]",
                                    "2606:4700::1111", "[2606:4700:4700::1111]",
                                    "fc00::1",          // unique local: not on the floor
                                    "ff02::1",          // multicast: not on the floor
                                    "64:ff9b::7f00:1",  // NAT64: not on the floor
                                    "2002:7f00:1::",    // 6to4: not on the floor
                                    "fec0::1",          // just past fe80::/10
                                    "::ffff:10.0.0.1", "[::ffff:8.8.8.8]", "::ffff:0:7f00:1");
  CAPTURE(host);
  CHECK_FALSE(checkHostFloor(host).has_value());
}

TEST_CASE("floor refuses malformed brackets and zone indexes as invalid", "[decision][floor]") {
  const std::string host = GENERATE(as<std::string>{},
                                    "[",                 // bracket without end
                                    "[::1",              // bracket without end
                                    "::1]",              // end without bracket
                                    "[::1]]",            // extra bracket
                                    "[[::1]]",           // nested brackets
                                    "[]",                // nothing inside
                                    "[127.0.0.1]",       // IPv4 in brackets
                                    "[localhost]",       // a name in brackets
                                    "[::1].",            // a dot after the bracket
                                    "[::1]:443",         // a port
                                    "fe80::1%eth0",      // zone index
                                    "fe80::1%25eth0",    // URL-encoded zone index
                                    "[fe80::1%eth0]",    // zone index in brackets
                                    "[fe80::1%25eth0]",  // URL-encoded zone index in brackets
                                    "127%2e0%2e0%2e1",   // percent-encoding
                                    "::1.",              // a trailing dot is not IPv6
                                    ":::",               // not IPv6
                                    "1:2:3",             // not IPv6
                                    "example.com:443");  // a port
  CAPTURE(host);
  CHECK(classOf(host) == FloorClass::kInvalidHost);
}

TEST_CASE("floor refuses empty hosts and empty labels as invalid", "[decision][floor]") {
  const std::string host = GENERATE(as<std::string>{}, "", ".", "..", "a..b", ".example.com",
                                    "example.com..", "localhost..", "127.0.0.1..");
  CAPTURE(host);
  CHECK(classOf(host) == FloorClass::kInvalidHost);
}

TEST_CASE("floor refuses spaces and control bytes as invalid", "[decision][floor]") {
  const std::string host =
      GENERATE(as<std::string>{}, " ", "exa mple.com", " example.com", "example.com ",
               "example.com\t", "a\nb", "a\rb", "\x7f", "example\x7f.com", "\x01", "\x1f.example",
               "127.0.0.1 ", std::string("a\0b", 3), std::string("localhost\0", 10));
  CAPTURE(host);
  CHECK(classOf(host) == FloorClass::kInvalidHost);
}

TEST_CASE("floor refuses raw non-ASCII names; punycode passes", "[decision][floor]") {
  // A later IDNA mapping could turn fullwidth "ｌｏｃａｌｈｏｓｔ" into localhost.
  CHECK(classOf("\xef\xbd\x8c\xef\xbd\x8f\xef\xbd\x83\xef\xbd\x81\xef\xbd\x8c\xef\xbd\x88"
                "\xef\xbd\x8f\xef\xbd\x93\xef\xbd\x94") == FloorClass::kInvalidHost);
  CHECK(classOf("b\xc3\xbc"
                "cher.example") == FloorClass::kInvalidHost);
  CHECK_FALSE(checkHostFloor("xn--bcher-kva.example").has_value());
}

TEST_CASE("floor details name the host and the reason", "[decision][floor]") {
  CHECK(detailOf("127.0.0.1") == "loopback address 127.0.0.1");
  CHECK(detailOf("[::1]") == "loopback address ::1");
  CHECK(detailOf("::ffff:127.0.0.1") == "loopback address ::ffff:127.0.0.1 (IPv4 127.0.0.1)");
  CHECK(detailOf("0.0.0.0") == "unspecified address 0.0.0.0");
  CHECK(detailOf("169.254.169.254") == "link-local address 169.254.169.254");
  CHECK(detailOf("LOCALHOST.") == "localhost name \"LOCALHOST.\"");
  CHECK(detailOf("0x7f.1") ==
        "ambiguous numeric host \"0x7f.1\" (only a dotted quad such as 10.0.0.1 is accepted)");
  CHECK(detailOf("") == "invalid host \"\": empty host");
  CHECK(detailOf("fe80::1%eth0") == "invalid host \"fe80::1%eth0\": zone index or percent sign");
  CHECK(detailOf("[fe80::1%eth0]") ==
        "invalid host \"[fe80::1%eth0]\": IPv6 zone index is not allowed");
  CHECK(detailOf("[::1") == "invalid host \"[::1\": unterminated '['");
}

TEST_CASE("floor details escape control bytes and cut long hosts", "[decision][floor]") {
  CHECK(detailOf("a\nb\"\\") == "invalid host \"a\\x0ab\\\"\\\\\": space or control character");
  const std::string longHost = std::string(300, 'a') + ".0x1";
  const std::string detail = detailOf(longHost);
  CHECK(detail.find(std::string(255, 'a') + "\"...") != std::string::npos);
  CHECK(detail.find(std::string(256, 'a')) == std::string::npos);
}

TEST_CASE("checkAddressFloor judges resolved addresses", "[decision][floor]") {
  SECTION("refused") {
    const auto [text, cls] = GENERATE(table<std::string, FloorClass>({
        {"127.0.0.1", FloorClass::kLoopback},
        {"::1", FloorClass::kLoopback},
        {"::ffff:127.0.0.1", FloorClass::kLoopback},
        {"::127.0.0.1", FloorClass::kLoopback},
        {"0.0.0.0", FloorClass::kUnspecified},
        {"::", FloorClass::kUnspecified},
        {"::ffff:0.0.0.0", FloorClass::kUnspecified},
        {"169.254.169.254", FloorClass::kLinkLocal},
        {"fe80::1", FloorClass::kLinkLocal},
        {"::ffff:169.254.169.254", FloorClass::kLinkLocal},
    }));
    CAPTURE(text);
    const auto violation = checkAddressFloor(addr(text));
    REQUIRE(violation.has_value());
    CHECK(violation->cls == cls);
  }
  SECTION("allowed") {
    const std::string text =
        GENERATE(as<std::string>{}, "10.0.0.1", "172.16.0.1", "192.168.0.1", "8.8.8.8",
                 "2001:db8::1", "fc00::1", "ff02::1", "224.0.0.1", "::ffff:10.0.0.1");
    CAPTURE(text);
    CHECK_FALSE(checkAddressFloor(addr(text)).has_value());
  }
  SECTION("fromV4 values") {
    CHECK(checkAddressFloor(IpAddress::fromV4(0x7f000001u))->cls == FloorClass::kLoopback);
    CHECK(checkAddressFloor(IpAddress{})->cls == FloorClass::kUnspecified);
    CHECK_FALSE(checkAddressFloor(IpAddress::fromV4(0x0a000001u)).has_value());
  }
}
