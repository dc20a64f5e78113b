#include "libcommon/net/ip_address.h"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <utility>

using lens::net::Cidr;
using lens::net::IpAddress;

namespace {

IpAddress addr(std::string_view text) {
  auto parsed = IpAddress::parse(text);
  INFO("address under test: " << std::string(text));
  REQUIRE(parsed.has_value());
  return *parsed;
}

Cidr cidr(std::string_view text) {
  auto parsed = Cidr::parse(text);
  INFO("cidr under test: " << std::string(text));
  REQUIRE(parsed.has_value());
  return *parsed;
}

}  // namespace

TEST_CASE("IpAddress default-constructs to 0.0.0.0", "[net][ip]") {
  const IpAddress a;
  CHECK(a.isV4());
  CHECK(a.family() == IpAddress::Family::kV4);
  CHECK(a.v4() == 0);
  CHECK(a.toString() == "0.0.0.0");
  CHECK(a == IpAddress::fromV4(0));
}

TEST_CASE("IpAddress::parse accepts canonical dotted quads", "[net][ip]") {
  const auto [text, value] = GENERATE(table<std::string, std::uint32_t>({
      {"0.0.0.0", 0x00000000u},
      {"10.0.0.1", 0x0a000001u},
      {"127.0.0.1", 0x7f000001u},
      {"192.168.1.254", 0xc0a801feu},
      {"255.255.255.255", 0xffffffffu},
      {"1.20.199.250", 0x0114c7fau},
      {"100.64.0.0", 0x64400000u},
  }));
  CAPTURE(text);
  const auto parsed = IpAddress::parse(text);
  REQUIRE(parsed.has_value());
  CHECK(parsed->isV4());
  CHECK(parsed->bitLength() == 32);
  CHECK(parsed->v4() == value);
  CHECK(parsed->toString() == text);
}

TEST_CASE("IpAddress::parse rejects every non-canonical IPv4 spelling", "[net][ip]") {
  const std::string text = GENERATE(as<std::string>{},  //
                                    "",                 // empty
                                    "1.2.3",            // too few octets
                                    "1.2.3.4.5",        // too many octets
                                    "01.2.3.4",         // leading zero
                                    "1.2.3.04",         // leading zero in the last octet
                                    "00.0.0.0",         // leading zero on zero
                                    "127.0.0.01",       // leading zero
                                    "0177.0.0.1",       // octal
                                    "256.0.0.0",        // out of range
                                    "1.2.3.256",        // out of range
                                    "1.2.3.1000",       // four digits
                                    "1234.1.1.1",       // four digits
                                    "1.2.3.4.",         // trailing dot
                                    ".1.2.3.4",         // leading dot
                                    "1..2.3",           // empty octet
                                    "127.1",            // short form
                                    "0x7f.0.0.1",       // hex
                                    "0x7f000001",       // hex integer
                                    "2130706433",       // decimal integer
                                    "1.2.3.-4",         // sign
                                    "+1.2.3.4",         // sign
                                    " 1.2.3.4",         // leading space
                                    "1.2.3.4 ",         // trailing space
                                    "1.2.3.4/8",        // a prefix is not an address
                                    "a.b.c.d",          // letters
                                    "localhost");       // a name
  CAPTURE(text);
  CHECK_FALSE(IpAddress::parse(text).has_value());
}

TEST_CASE("IpAddress::parse rejects embedded NUL bytes", "[net][ip]") {
  CHECK_FALSE(IpAddress::parse(std::string_view("1.2.3.4\0", 8)).has_value());
  CHECK_FALSE(IpAddress::parse(std::string_view("::1\0", 4)).has_value());
  CHECK_FALSE(IpAddress::parse(std::string_view("::1\0garbage", 11)).has_value());
}

TEST_CASE("IpAddress::parse accepts RFC 4291 IPv6 text and prints RFC 5952", "[net][ip]") {
  const auto [text, canonical] = GENERATE(table<std::string, std::string>({
      {"::", "::"},
      {"::1", "::1"},
      {"0:0:0:0:0:0:0:1", "::1"},
      {"0000:0000:0000:0000:0000:0000:0000:0001", "::1"},
      {"2001:db8::1", "2001:db8::1"},
      {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
      {"fe80::1", "fe80::1"},
      {"1::", "1::"},
      {"1:0:0:2:0:0:0:3", "1:0:0:2::3"},                 // the longest run is compressed
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},     // a tie goes to the first run
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},  // one zero group is not "::"
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
      {"::ffff:1.2.3.4", "::ffff:1.2.3.4"},      // mapped: mixed notation
      {"::ffff:0102:0304", "::ffff:1.2.3.4"},    // mapped written in hex
      {"::FFFF:127.0.0.1", "::ffff:127.0.0.1"},  // upper case
      {"::ffff:0.0.0.0", "::ffff:0.0.0.0"},
      {"::1.2.3.4", "::102:304"},                // compatible: plain hex (deprecated form)
      {"64:ff9b::1.2.3.4", "64:ff9b::102:304"},  // NAT64: plain hex
      {"ff02::1", "ff02::1"},
  }));
  CAPTURE(text);
  const auto parsed = IpAddress::parse(text);
  REQUIRE(parsed.has_value());
  CHECK(parsed->isV6());
  CHECK(parsed->bitLength() == 128);
  CHECK(parsed->toString() == canonical);
}

TEST_CASE("IpAddress::parse rejects malformed IPv6, zones and brackets", "[net][ip]") {
  const std::string text = GENERATE(as<std::string>{},    //
                                    "[::1]",              // brackets
                                    "[::1",               // half a bracket
                                    "fe80::1%eth0",       // zone index
                                    "fe80::1%1",          // numeric zone index
                                    ":",                  //
                                    ":::",                //
                                    "1:2:3:4:5:6:7",      // too few groups
                                    "1:2:3:4:5:6:7:8:9",  // too many groups
                                    "12345::",            // group too long
                                    "::g",                // not hex
                                    "1::2::3",            // two "::"
                                    "::ffff:01.2.3.4",    // leading zero in the dotted quad
                                    "::ffff:1.2.3",       // short dotted quad
                                    "::ffff:1.2.3.4.5",   // long dotted quad
                                    "::ffff:1.2.3.256",   // octet out of range
                                    "::1/128",            // prefix
                                    "::1 ",               // trailing space
                                    " ::1",               // leading space
                                    "0000:0000:0000:0000:0000:0000:0000:0000:0001");  // too long
  CAPTURE(text);
  CHECK_FALSE(IpAddress::parse(text).has_value());
}

TEST_CASE("IpAddress text round-trips through toString", "[net][ip]") {
  const std::string text =
      GENERATE(as<std::string>{}, "0.0.0.0", "10.0.0.1", "255.255.255.255", "::", "::1",
               "2001:db8::1", "fe80::abcd:1", "1:0:0:2::3", "::ffff:10.0.0.1", "::102:304",
               "2001:db8:0:1:1:1:1:1", "1:2:3:4:5:6:7:8", "1::8");
  CAPTURE(text);
  const IpAddress a = addr(text);
  CHECK(a.toString() == text);
  const auto again = IpAddress::parse(a.toString());
  REQUIRE(again.has_value());
  CHECK(*again == a);
}

TEST_CASE("IpAddress::fromV4 and fromV6 build the same values as parse", "[net][ip]") {
  const IpAddress v4 = IpAddress::fromV4(0x7f000001u);
  CHECK(v4 == addr("127.0.0.1"));
  CHECK(v4.v4() == 0x7f000001u);
  CHECK(v4.bytes()[0] == 127);
  CHECK(v4.bytes()[3] == 1);
  for (std::size_t i = 4; i < 16; ++i) CHECK(v4.bytes()[i] == 0);

  std::array<std::uint8_t, 16> bytes{};
  bytes[0] = 0x20;
  bytes[1] = 0x01;
  bytes[2] = 0x0d;
  bytes[3] = 0xb8;
  bytes[15] = 0x01;
  const IpAddress v6 = IpAddress::fromV6(bytes);
  CHECK(v6.isV6());
  CHECK(v6 == addr("2001:db8::1"));
  CHECK(v6.bytes() == bytes);
}

TEST_CASE("IpAddress::bit numbers bits from the most significant", "[net][ip]") {
  const IpAddress v4 = addr("128.0.0.1");
  CHECK(v4.bit(0));
  CHECK_FALSE(v4.bit(1));
  CHECK_FALSE(v4.bit(30));
  CHECK(v4.bit(31));

  const IpAddress v6 = addr("8000::1");
  CHECK(v6.bit(0));
  CHECK_FALSE(v6.bit(1));
  CHECK_FALSE(v6.bit(126));
  CHECK(v6.bit(127));

  const IpAddress mixed = addr("10.1.2.3");  // 00001010 ...
  CHECK_FALSE(mixed.bit(3));
  CHECK(mixed.bit(4));
  CHECK_FALSE(mixed.bit(5));
  CHECK(mixed.bit(6));
}

TEST_CASE("IpAddress::embeddedV4 finds the IPv4 in mapped and compatible forms", "[net][ip]") {
  SECTION("mapped") {
    const auto e = addr("::ffff:127.0.0.1").embeddedV4();
    REQUIRE(e.has_value());
    CHECK(*e == addr("127.0.0.1"));
  }
  SECTION("mapped zero") {
    const auto e = addr("::ffff:0.0.0.0").embeddedV4();
    REQUIRE(e.has_value());
    CHECK(*e == addr("0.0.0.0"));
  }
  SECTION("compatible") {
    const auto e = addr("::169.254.169.254").embeddedV4();
    REQUIRE(e.has_value());
    CHECK(*e == addr("169.254.169.254"));
  }
  SECTION("compatible with a small value") {
    const auto e = addr("::2").embeddedV4();
    REQUIRE(e.has_value());
    CHECK(*e == addr("0.0.0.2"));
  }
  SECTION(":: and ::1 are IPv6 addresses in their own right") {
    CHECK_FALSE(addr("::").embeddedV4().has_value());
    CHECK_FALSE(addr("::1").embeddedV4().has_value());
  }
  SECTION("other IPv6 addresses carry no IPv4") {
    CHECK_FALSE(addr("2001:db8::1").embeddedV4().has_value());
    CHECK_FALSE(addr("::ffff:0:1.2.3.4").embeddedV4().has_value());  // SIIT, not mapped
    CHECK_FALSE(addr("::fffe:1.2.3.4").embeddedV4().has_value());
    CHECK_FALSE(addr("64:ff9b::7f00:1").embeddedV4().has_value());
    CHECK_FALSE(addr("1::ffff:1.2.3.4").embeddedV4().has_value());
  }
  SECTION("IPv4 addresses have none") { CHECK_FALSE(addr("127.0.0.1").embeddedV4().has_value()); }
}

TEST_CASE("IpAddress::canonical unwraps embedded IPv4 and keeps the rest", "[net][ip]") {
  CHECK(addr("::ffff:10.0.0.1").canonical() == addr("10.0.0.1"));
  CHECK(addr("::10.0.0.1").canonical() == addr("10.0.0.1"));
  CHECK(addr("10.0.0.1").canonical() == addr("10.0.0.1"));
  CHECK(addr("2001:db8::1").canonical() == addr("2001:db8::1"));
  CHECK(addr("::1").canonical() == addr("::1"));
  CHECK(addr("::").canonical() == addr("::"));
}

TEST_CASE("IpAddress classifies loopback, unspecified, link-local and multicast", "[net][ip]") {
  SECTION("loopback") {
    CHECK(addr("127.0.0.1").isLoopback());
    CHECK(addr("127.0.0.0").isLoopback());
    CHECK(addr("127.255.255.255").isLoopback());
    CHECK(addr("::1").isLoopback());
    CHECK_FALSE(addr("126.255.255.255").isLoopback());
    CHECK_FALSE(addr("128.0.0.0").isLoopback());
    CHECK_FALSE(addr("::2").isLoopback());
    CHECK_FALSE(addr("::").isLoopback());
  }
  SECTION("unspecified") {
    CHECK(addr("0.0.0.0").isUnspecified());
    CHECK(addr("0.255.255.255").isUnspecified());
    CHECK(addr("::").isUnspecified());
    CHECK_FALSE(addr("1.0.0.0").isUnspecified());
    CHECK_FALSE(addr("::1").isUnspecified());
  }
  SECTION("link-local") {
    CHECK(addr("169.254.0.0").isLinkLocal());
    CHECK(addr("169.254.169.254").isLinkLocal());
    CHECK(addr("169.254.255.255").isLinkLocal());
    CHECK(addr("fe80::1").isLinkLocal());
    CHECK(addr("febf:ffff::1").isLinkLocal());
    CHECK_FALSE(addr("169.253.255.255").isLinkLocal());
    CHECK_FALSE(addr("169.255.0.0").isLinkLocal());
    CHECK_FALSE(addr("fec0::1").isLinkLocal());
    CHECK_FALSE(addr("fe7f::1").isLinkLocal());
  }
  SECTION("multicast") {
    CHECK(addr("224.0.0.1").isMulticast());
    CHECK(addr("239.255.255.255").isMulticast());
    CHECK(addr("ff02::1").isMulticast());
    CHECK_FALSE(addr("223.255.255.255").isMulticast());
    CHECK_FALSE(addr("240.0.0.0").isMulticast());
    CHECK_FALSE(addr("fe80::1").isMulticast());
  }
  SECTION("the predicates judge the literal address; canonical() unwraps first") {
    const IpAddress mapped = addr("::ffff:127.0.0.1");
    CHECK_FALSE(mapped.isLoopback());
    CHECK(mapped.canonical().isLoopback());
  }
}

TEST_CASE("IpAddress equality and ordering separate the families", "[net][ip]") {
  CHECK(addr("10.0.0.1") == addr("10.0.0.1"));
  CHECK(addr("10.0.0.1") != addr("10.0.0.2"));
  CHECK(addr("10.0.0.1") != addr("::ffff:10.0.0.1"));
  CHECK(addr("10.0.0.1") < addr("10.0.0.2"));
  CHECK(addr("255.255.255.255") < addr("::"));  // IPv4 sorts before IPv6
  CHECK(addr("::1") < addr("::2"));
}

TEST_CASE("Cidr::parse accepts prefixes and bare addresses and clears host bits", "[net][cidr]") {
  const auto [text, canonical, length, isV4] = GENERATE(table<std::string, std::string, int, bool>({
      {"10.0.0.0/8", "10.0.0.0/8", 8, true},
      {"10.1.2.3/8", "10.0.0.0/8", 8, true},
      {"172.31.255.255/12", "172.16.0.0/12", 12, true},
      {"192.168.1.255/31", "192.168.1.254/31", 31, true},
      {"10.0.0.1", "10.0.0.1/32", 32, true},
      {"10.0.0.1/32", "10.0.0.1/32", 32, true},
      {"0.0.0.0/0", "0.0.0.0/0", 0, true},
      {"1.2.3.4/0", "0.0.0.0/0", 0, true},
      {"2001:db8::/32", "2001:db8::/32", 32, false},
      {"2001:db8:ffff::1/32", "2001:db8::/32", 32, false},
      {"fe80::1/10", "fe80::/10", 10, false},
      {"febf::/10", "fe80::/10", 10, false},
      {"::1", "::1/128", 128, false},
      {"::/0", "::/0", 0, false},
      {"::ffff:10.0.0.0/104", "10.0.0.0/8", 8, true},     // mapped prefix becomes IPv4
      {"::ffff:10.1.2.3", "10.1.2.3/32", 32, true},       // mapped address becomes IPv4 /32
      {"::ffff:0:0/96", "0.0.0.0/0", 0, true},            // the whole mapped block
      {"::ffff:0.0.0.0/95", "::fffe:0:0/95", 95, false},  // wider than the mapped block
      {"::10.0.0.0/104", "::a00:0/104", 104, false},      // compatible prefixes stay IPv6
  }));
  CAPTURE(text);
  const auto parsed = Cidr::parse(text);
  REQUIRE(parsed.has_value());
  CHECK(parsed->toString() == canonical);
  CHECK(parsed->prefixLength() == length);
  CHECK(parsed->network().isV4() == isV4);
  // The canonical text parses back to the same prefix.
  CHECK(Cidr::parse(parsed->toString()) == parsed);
}

TEST_CASE("Cidr::parse rejects malformed prefixes", "[net][cidr]") {
  const std::string text = GENERATE(as<std::string>{},      //
                                    "",                     //
                                    "/8",                   // no address
                                    "10.0.0.0/",            // no length
                                    "10.0.0.0/33",          // too long for IPv4
                                    "::/129",               // too long for IPv6
                                    "10.0.0.0/08",          // leading zero
                                    "::1/0128",             // leading zero
                                    "10.0.0.0/00",          // leading zero
                                    "10.0.0.0/+8",          // sign
                                    "10.0.0.0/-1",          // sign
                                    "10.0.0.0/ 8",          // space
                                    "10.0.0.0/8 ",          // space
                                    "10.0.0.0/8/8",         // two slashes
                                    "10.0.0.0/a",           // not a number
                                    "10.0.0.0/1000",        // out of range, too many digits
                                    "10.0.0.0/4294967304",  // would overflow
                                    "10.0.0/8",             // not an address
                                    "010.0.0.0/8",          // not an address
                                    "[::1]/128",            // brackets
                                    "fe80::%eth0/64",       // zone
                                    "localhost/32");        // a name
  CAPTURE(text);
  CHECK_FALSE(Cidr::parse(text).has_value());
}

TEST_CASE("Cidr constructor clears host bits, unwraps mapped prefixes, checks length",
          "[net][cidr]") {
  CHECK(Cidr(addr("10.9.8.7"), 16).toString() == "10.9.0.0/16");
  CHECK(Cidr(addr("10.9.8.7"), 16) == cidr("10.9.0.0/16"));
  CHECK(Cidr(addr("::ffff:10.9.8.7"), 112) == cidr("10.9.0.0/16"));
  CHECK(Cidr(addr("2001:db8::1"), 64).toString() == "2001:db8::/64");
  CHECK_THROWS_AS(Cidr(addr("10.0.0.0"), 33), std::invalid_argument);
  CHECK_THROWS_AS(Cidr(addr("10.0.0.0"), -1), std::invalid_argument);
  CHECK_THROWS_AS(Cidr(addr("::"), 129), std::invalid_argument);
  const Cidr empty;
  CHECK(empty.toString() == "0.0.0.0/0");
}

TEST_CASE("Cidr::contains matches IPv4 addresses inside the prefix", "[net][cidr]") {
  const Cidr net = cidr("10.0.0.0/8");
  CHECK(net.contains(addr("10.0.0.0")));
  CHECK(net.contains(addr("10.255.255.255")));
  CHECK_FALSE(net.contains(addr("11.0.0.0")));
  CHECK_FALSE(net.contains(addr("9.255.255.255")));

  const Cidr odd = cidr("172.16.0.0/12");  // not byte-aligned
  CHECK(odd.contains(addr("172.16.0.0")));
  CHECK(odd.contains(addr("172.31.255.255")));
  CHECK_FALSE(odd.contains(addr("172.32.0.0")));
  CHECK_FALSE(odd.contains(addr("172.15.255.255")));

  const Cidr host = cidr("192.0.2.7");
  CHECK(host.contains(addr("192.0.2.7")));
  CHECK_FALSE(host.contains(addr("192.0.2.6")));
  CHECK_FALSE(host.contains(addr("192.0.2.8")));
}

TEST_CASE("Cidr::contains judges mapped and compatible IPv6 by their IPv4", "[net][cidr]") {
  const Cidr loop = cidr("127.0.0.0/8");
  CHECK(loop.contains(addr("::ffff:127.0.0.1")));
  CHECK(loop.contains(addr("::ffff:7f00:1")));
  CHECK(loop.contains(addr("::127.0.0.1")));
  CHECK_FALSE(loop.contains(addr("::ffff:128.0.0.1")));

  const Cidr fromMapped = cidr("::ffff:10.0.0.0/104");
  CHECK(fromMapped.contains(addr("10.1.2.3")));
  CHECK(fromMapped.contains(addr("::ffff:10.1.2.3")));
}

TEST_CASE("Cidr::contains: an IPv4 prefix never holds a real IPv6 address", "[net][cidr]") {
  const Cidr all4 = cidr("0.0.0.0/0");
  CHECK(all4.contains(addr("0.0.0.0")));
  CHECK(all4.contains(addr("255.255.255.255")));
  CHECK(all4.contains(addr("::ffff:8.8.8.8")));
  CHECK_FALSE(all4.contains(addr("2001:db8::1")));
  CHECK_FALSE(all4.contains(addr("::1")));
  CHECK_FALSE(all4.contains(addr("::")));
  CHECK_FALSE(all4.contains(addr("::ffff:0:1.2.3.4")));
}

TEST_CASE("Cidr::contains matches IPv6 prefixes bit for bit", "[net][cidr]") {
  const Cidr doc = cidr("2001:db8::/32");
  CHECK(doc.contains(addr("2001:db8::")));
  CHECK(doc.contains(addr("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  CHECK_FALSE(doc.contains(addr("2001:db9::")));
  CHECK_FALSE(doc.contains(addr("2001:db7:ffff::")));

  const Cidr ll = cidr("fe80::/10");
  CHECK(ll.contains(addr("febf::1")));
  CHECK_FALSE(ll.contains(addr("fec0::1")));

  const Cidr all6 = cidr("::/0");
  CHECK(all6.contains(addr("2001:db8::1")));
  CHECK(all6.contains(addr("::1")));
  CHECK(all6.contains(addr("::ffff:1.2.3.4")));  // it is an IPv6 address too
  CHECK_FALSE(all6.contains(addr("1.2.3.4")));   // a plain IPv4 address is not

  // A compatible-looking /128 still contains its own address.
  CHECK(cidr("::2/128").contains(addr("::2")));
}

TEST_CASE("Cidr equality compares family, network and length", "[net][cidr]") {
  CHECK(cidr("10.0.0.0/8") == cidr("10.20.30.40/8"));
  CHECK(cidr("10.0.0.0/8") != cidr("10.0.0.0/9"));
  CHECK(cidr("0.0.0.0/0") != cidr("::/0"));
  CHECK(cidr("::ffff:10.0.0.0/104") == cidr("10.0.0.0/8"));
}
