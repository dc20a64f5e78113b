#include "libcommon/net/ip_packet.h"

#include <catch2/catch.hpp>

#include "tests/unit/net/nflog_test_packets.h"

using lens::net::parseIpPacket;
using namespace lens::test;

TEST_CASE("an IPv4 UDP packet gives its addresses and ports", "[net][nflog]") {
  const Bytes b = ipv4({10, 199, 0, 1}, {10, 199, 0, 2}, 17, ports(40000, 9000, 8));
  auto p = parseIpPacket(b);
  REQUIRE(p.ok());
  CHECK(p->src.toString() == "10.199.0.1");
  CHECK(p->dst.toString() == "10.199.0.2");
  CHECK(p->protocol == 17);
  CHECK(p->srcPort == 40000);
  CHECK(p->dstPort == 9000);
  CHECK_FALSE(p->truncated);
  CHECK(lens::net::endpointText(p->dst, p->dstPort) == "10.199.0.2:9000");
}

TEST_CASE("IPv4 options are skipped by the header length", "[net][nflog]") {
  const Bytes b = ipv4({10, 0, 0, 1}, {10, 0, 0, 2}, 6, ports(1234, 853, 20), /*optionWords=*/10);
  auto p = parseIpPacket(b);
  REQUIRE(p.ok());
  CHECK(p->protocol == 6);
  CHECK(p->srcPort == 1234);
  CHECK(p->dstPort == 853);
}

TEST_CASE("an IPv4 header is complete or an error", "[net][nflog]") {
  const Bytes full = ipv4({10, 0, 0, 1}, {10, 0, 0, 2}, 17, ports(1, 2, 8), 2);
  for (std::size_t n : {0, 1, 19, 20, 27}) {
    INFO("bytes " << n);
    const Bytes cut(full.begin(), full.begin() + static_cast<long>(n));
    auto p = parseIpPacket(cut);
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().code == lens::ErrorCode::kInvalidInput);
  }
  CHECK(parseIpPacket(Bytes(full.begin(), full.begin() + 20)).error().message ==
        "IPv4 header with options cut short: 20 of 28 bytes");
  Bytes shortIhl = full;
  shortIhl[0] = 0x44;
  CHECK(parseIpPacket(shortIhl).error().message == "IPv4 header length 16 is below 20");
  Bytes badVersion = full;
  badVersion[0] = 0x55;
  CHECK(parseIpPacket(badVersion).error().message == "IP version 5 is neither 4 nor 6");
  Bytes badTotal = full;
  putBe16(badTotal, 2, 24);
  CHECK(parseIpPacket(badTotal).error().message == "IPv4 total length 24 is below its header");
}

TEST_CASE("a cut-short transport header gives the addresses without ports", "[net][nflog]") {
  const Bytes full = ipv4({10, 0, 0, 1}, {10, 0, 0, 2}, 17, ports(1, 2, 8));
  auto p = parseIpPacket(Bytes(full.begin(), full.begin() + 23));
  REQUIRE(p.ok());
  CHECK(p->truncated);
  CHECK_FALSE(p->dstPort);
  CHECK(p->dst.toString() == "10.0.0.2");
  // The total length is believed when it is shorter than the copy.
  Bytes padded = full;
  putBe16(padded, 2, 22);
  auto q = parseIpPacket(padded);
  REQUIRE(q.ok());
  CHECK(q->truncated);
}

TEST_CASE("a later IPv4 fragment has no ports", "[net][nflog]") {
  const Bytes b = ipv4({10, 0, 0, 1}, {10, 0, 0, 2}, 17, ports(1, 2, 8), 0, /*offset*/ 0x0010);
  auto p = parseIpPacket(b);
  REQUIRE(p.ok());
  CHECK(p->laterFragment);
  CHECK_FALSE(p->dstPort);
  // More-fragments on the first fragment still has the ports.
  auto first = parseIpPacket(ipv4({10, 0, 0, 1}, {10, 0, 0, 2}, 17, ports(1, 2, 8), 0, 0x2000));
  REQUIRE(first.ok());
  CHECK(first->dstPort == 2);
}

TEST_CASE("an IPv6 TCP packet gives its addresses and ports", "[net][nflog]") {
  const Bytes b = ipv6(fd99(1), fd99(2), 6, ports(50000, 853, 20));
  auto p = parseIpPacket(b);
  REQUIRE(p.ok());
  CHECK(p->src.toString() == "fd99::1");
  CHECK(p->dst.toString() == "fd99::2");
  CHECK(p->protocol == 6);
  CHECK(p->dstPort == 853);
  CHECK(lens::net::endpointText(p->dst, p->dstPort) == "[fd99::2]:853");
  CHECK(p->extensionHeaders.empty());
}

TEST_CASE("IPv6 extension headers are skipped and named", "[net][nflog]") {
  Bytes rest;
  append(rest, {60, 0, 1, 4, 0, 0, 0, 0});  // hop-by-hop -> destination, 8 bytes
  append(rest,
         {43, 1, 1, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});  // destination -> routing, 16 bytes
  append(rest, {44, 0, 0, 0, 0, 0, 0, 0});                    // routing -> fragment, 8 bytes
  append(rest, {51, 0, 0, 1, 0, 0, 0, 7});                    // fragment (offset 0, M) -> auth
  append(rest, {17, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});        // auth -> udp, (1+2)*4 = 12 bytes
  const Bytes udp = ports(5353, 443, 8);
  rest.insert(rest.end(), udp.begin(), udp.end());
  auto p = parseIpPacket(ipv6(fd99(1), fd99(3), 0, rest));
  REQUIRE(p.ok());
  CHECK(p->protocol == 17);
  CHECK(p->dstPort == 443);
  CHECK(p->srcPort == 5353);
  CHECK(p->extensionHeaders ==
        std::vector<std::string_view>{"hop-by-hop", "destination", "routing", "fragment", "auth"});
}

TEST_CASE("IPv6 later fragments, ESP, cut-short and endless chains are reported", "[net][nflog]") {
  auto later = parseIpPacket(
      ipv6(fd99(1), fd99(2), 44, concat({{17, 0, 0x01, 0x00, 0, 0, 0, 1}, ports(1, 2, 8)})));
  REQUIRE(later.ok());
  CHECK(later->laterFragment);
  CHECK(later->protocol == 17);
  CHECK_FALSE(later->dstPort);

  auto esp = parseIpPacket(ipv6(fd99(1), fd99(2), 50, Bytes(16, 0xaa)));
  REQUIRE(esp.ok());
  CHECK(esp->opaque);
  CHECK(esp->protocol == 50);

  auto cut = parseIpPacket(ipv6(fd99(1), fd99(2), 0, Bytes{17, 0, 0}));
  REQUIRE(cut.ok());
  CHECK(cut->truncated);

  // A header length that points past the copy.
  auto past = parseIpPacket(
      ipv6(fd99(1), fd99(2), 60, concat({{17, 200, 0, 0, 0, 0, 0, 0}, ports(1, 2, 8)})));
  REQUIRE(past.ok());
  CHECK(past->truncated);
  CHECK_FALSE(past->dstPort);

  Bytes chain;
  for (int i = 0; i < 20; ++i) append(chain, {60, 0, 0, 0, 0, 0, 0, 0});
  auto endless = parseIpPacket(ipv6(fd99(1), fd99(2), 60, chain));
  REQUIRE(endless.ok());
  CHECK(endless->opaque);
  CHECK(endless->extensionHeaders.size() == lens::net::kMaxExtensionHeaders);

  CHECK(parseIpPacket(Bytes(39, 0x60)).error().message == "IPv6 header cut short: 39 of 40 bytes");
}

TEST_CASE("protocol names", "[net][nflog]") {
  CHECK(lens::net::protocolName(6) == "tcp");
  CHECK(lens::net::protocolName(17) == "udp");
  CHECK(lens::net::protocolName(58) == "ipv6-icmp");
  CHECK(lens::net::protocolName(253) == "ip-proto-253");
}
