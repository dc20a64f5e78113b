#include "libcommon/decision/cidr_index.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

using lens::decision::CidrIndex;
using lens::net::Cidr;
using lens::net::IpAddress;
using Ids = std::vector<std::uint32_t>;

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

Ids collect(const CidrIndex& index, std::string_view address) {
  Ids out;
  index.collect(addr(address), out);
  return out;
}

Ids sorted(Ids ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

IpAddress randomV4(std::mt19937& rng) {
  return IpAddress::fromV4(static_cast<std::uint32_t>(rng()));
}

IpAddress randomV6(std::mt19937& rng) {
  std::array<std::uint8_t, 16> bytes{};
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  return IpAddress::fromV6(bytes);
}

}  // namespace

TEST_CASE("CidrIndex starts empty and finds nothing", "[decision][cidr-index]") {
  const CidrIndex index;
  CHECK(index.empty());
  CHECK(collect(index, "10.0.0.1").empty());
  CHECK(collect(index, "::1").empty());
  CHECK(collect(index, "::ffff:10.0.0.1").empty());
}

TEST_CASE("CidrIndex finds a single prefix only for addresses inside it",
          "[decision][cidr-index]") {
  CidrIndex index;
  index.insert(cidr("10.0.0.0/8"), 7);
  CHECK_FALSE(index.empty());
  CHECK(collect(index, "10.0.0.0") == Ids{7});
  CHECK(collect(index, "10.255.255.255") == Ids{7});
  CHECK(collect(index, "11.0.0.0").empty());
  CHECK(collect(index, "9.255.255.255").empty());
}

TEST_CASE("CidrIndex::collect appends to what the caller already has", "[decision][cidr-index]") {
  CidrIndex index;
  index.insert(cidr("10.0.0.0/8"), 7);
  Ids out{99};
  index.collect(addr("10.1.1.1"), out);
  CHECK(out == Ids{99, 7});
}

TEST_CASE("CidrIndex returns every overlapping prefix, least specific first",
          "[decision][cidr-index]") {
  CidrIndex index;
  // Inserted out of order so the trie has to split and reparent nodes.
  index.insert(cidr("10.1.2.3/32"), 5);
  index.insert(cidr("10.1.0.0/16"), 3);
  index.insert(cidr("0.0.0.0/0"), 1);
  index.insert(cidr("10.1.2.0/24"), 4);
  index.insert(cidr("10.0.0.0/8"), 2);
  index.insert(cidr("10.128.0.0/9"), 6);
  index.insert(cidr("192.168.0.0/16"), 8);

  CHECK(collect(index, "10.1.2.3") == Ids{1, 2, 3, 4, 5});
  CHECK(collect(index, "10.1.2.4") == Ids{1, 2, 3, 4});
  CHECK(collect(index, "10.1.3.0") == Ids{1, 2, 3});
  CHECK(collect(index, "10.2.0.0") == Ids{1, 2});
  CHECK(collect(index, "10.200.0.1") == Ids{1, 2, 6});
  CHECK(collect(index, "192.168.7.7") == Ids{1, 8});
  CHECK(collect(index, "8.8.8.8") == Ids{1});
}

TEST_CASE("CidrIndex handles sibling prefixes that part ways mid-byte", "[decision][cidr-index]") {
  CidrIndex index;
  index.insert(cidr("172.16.0.0/12"), 1);
  index.insert(cidr("172.32.0.0/12"), 2);
  index.insert(cidr("172.0.0.0/12"), 3);
  CHECK(collect(index, "172.31.255.255") == Ids{1});
  CHECK(collect(index, "172.32.0.0") == Ids{2});
  CHECK(collect(index, "172.15.0.1") == Ids{3});
  CHECK(collect(index, "172.48.0.0").empty());
  CHECK(collect(index, "173.16.0.0").empty());
}

TEST_CASE("CidrIndex keeps several ids on one prefix in insertion order",
          "[decision][cidr-index]") {
  CidrIndex index;
  index.insert(cidr("10.0.0.0/8"), 4);
  index.insert(cidr("10.9.9.9/8"), 2);           // same prefix once the host bits are cleared
  index.insert(cidr("::ffff:10.0.0.0/104"), 9);  // the same prefix, mapped
  CHECK(collect(index, "10.1.2.3") == Ids{4, 2, 9});
}

TEST_CASE("CidrIndex ignores the same id inserted twice in a row", "[decision][cidr-index]") {
  CidrIndex index;
  index.insert(cidr("10.0.0.0/8"), 4);
  index.insert(cidr("10.0.0.0/8"), 4);
  CHECK(collect(index, "10.1.2.3") == Ids{4});
}

TEST_CASE("CidrIndex matches IPv6 prefixes", "[decision][cidr-index]") {
  CidrIndex index;
  index.insert(cidr("::/0"), 1);
  index.insert(cidr("2001:db8::/32"), 2);
  index.insert(cidr("2001:db8:1::/48"), 3);
  index.insert(cidr("2001:db8:1::1"), 4);
  index.insert(cidr("fe80::/10"), 5);

  CHECK(collect(index, "2001:db8:1::1") == Ids{1, 2, 3, 4});
  CHECK(collect(index, "2001:db8:1::2") == Ids{1, 2, 3});
  CHECK(collect(index, "2001:db8:2::1") == Ids{1, 2});
  CHECK(collect(index, "febf::1") == Ids{1, 5});
  CHECK(collect(index, "fec0::1") == Ids{1});
}

TEST_CASE("CidrIndex keeps IPv4 and IPv6 apart", "[decision][cidr-index]") {
  CidrIndex index;
  index.insert(cidr("0.0.0.0/0"), 4);
  index.insert(cidr("::/0"), 6);
  index.insert(cidr("::/96"), 96);  // compatible block: an IPv6 prefix

  CHECK(collect(index, "1.2.3.4") == Ids{4});      // no IPv6 prefix holds a plain IPv4 address
  CHECK(collect(index, "2001:db8::1") == Ids{6});  // no IPv4 prefix holds a real IPv6 address
  CHECK(collect(index, "::1") == Ids{6, 96});
  CHECK(collect(index, "::") == Ids{6, 96});
}

TEST_CASE("CidrIndex looks mapped and compatible IPv6 addresses up as IPv4",
          "[decision][cidr-index]") {
  CidrIndex index;
  index.insert(cidr("127.0.0.0/8"), 1);
  index.insert(cidr("10.0.0.0/8"), 2);
  index.insert(cidr("2001:db8::/32"), 3);

  CHECK(collect(index, "::ffff:127.0.0.1") == Ids{1});
  CHECK(collect(index, "::ffff:7f00:1") == Ids{1});
  CHECK(collect(index, "::127.0.0.1") == Ids{1});
  CHECK(collect(index, "::ffff:10.1.2.3") == Ids{2});
  CHECK(collect(index, "::ffff:11.0.0.1").empty());
  CHECK(collect(index, "::ffff:0:7f00:1").empty());  // SIIT, not mapped
}

TEST_CASE("CidrIndex: a mapped IPv6 address also meets IPv6 prefixes that hold it",
          "[decision][cidr-index]") {
  // The same answer as Cidr::contains: ::/0 contains ::ffff:10.0.0.1 as an
  // IPv6 address and 10.0.0.0/8 contains it as IPv4.
  CidrIndex index;
  index.insert(cidr("::/0"), 6);
  index.insert(cidr("10.0.0.0/8"), 4);
  CHECK(sorted(collect(index, "::ffff:10.0.0.1")) == Ids{4, 6});
  CHECK(cidr("::/0").contains(addr("::ffff:10.0.0.1")));
  CHECK(cidr("10.0.0.0/8").contains(addr("::ffff:10.0.0.1")));
}

TEST_CASE("CidrIndex stores IPv4-mapped prefixes as IPv4", "[decision][cidr-index]") {
  CidrIndex index;
  index.insert(cidr("::ffff:192.168.0.0/112"), 1);
  CHECK(collect(index, "192.168.3.4") == Ids{1});
  CHECK(collect(index, "::ffff:192.168.3.4") == Ids{1});
  CHECK(collect(index, "192.169.0.0").empty());
}

TEST_CASE("CidrIndex holds every prefix length along one address", "[decision][cidr-index]") {
  CidrIndex index;
  const IpAddress v4 = addr("203.0.113.77");
  const IpAddress v6 = addr("2001:db8:ab:cd:ef:1:2:3");
  for (int length = 0; length <= 32; ++length) {
    index.insert(Cidr(v4, length), static_cast<std::uint32_t>(length));
  }
  for (int length = 0; length <= 128; ++length) {
    index.insert(Cidr(v6, length), static_cast<std::uint32_t>(1000 + length));
  }
  Ids out;
  index.collect(v4, out);
  REQUIRE(out.size() == 33);
  for (std::uint32_t i = 0; i < out.size(); ++i) CHECK(out[i] == i);

  out.clear();
  index.collect(v6, out);
  REQUIRE(out.size() == 129);
  for (std::uint32_t i = 0; i < out.size(); ++i) CHECK(out[i] == 1000 + i);

  out.clear();
  index.collect(addr("203.0.113.76"), out);  // differs in the last bit
  CHECK(out.size() == 32);
}

TEST_CASE("CidrIndex agrees with Cidr::contains on random prefixes", "[decision][cidr-index]") {
  std::mt19937 rng(20240611u);
  std::vector<Cidr> prefixes;
  CidrIndex index;
  for (std::uint32_t id = 0; id < 400; ++id) {
    const bool v4 = id % 2 == 0;
    // Short lengths so random addresses often land inside.
    const int length = static_cast<int>(rng() % (v4 ? 17u : 25u));
    Cidr c(v4 ? randomV4(rng) : randomV6(rng), length);
    prefixes.push_back(c);
    index.insert(c, id);
  }
  // A few hand-picked ones, including mapped and compatible forms.
  for (const char* text : {"10.0.0.0/8", "::ffff:10.0.0.0/104", "::/96", "::/0", "0.0.0.0/0",
                           "10.1.2.3/32", "::ffff:0:0/96"}) {
    prefixes.push_back(cidr(text));
    index.insert(prefixes.back(), static_cast<std::uint32_t>(prefixes.size() - 1));
  }

  std::vector<IpAddress> probes;
  for (int i = 0; i < 2000; ++i) {
    const IpAddress v4 = randomV4(rng);
    probes.push_back(v4);
    probes.push_back(randomV6(rng));
    std::array<std::uint8_t, 16> mapped{};
    mapped[10] = 0xff;
    mapped[11] = 0xff;
    std::copy_n(v4.bytes().begin(), 4, mapped.begin() + 12);
    probes.push_back(IpAddress::fromV6(mapped));
  }
  for (const char* text : {"10.1.2.3", "::ffff:10.1.2.3", "::10.1.2.3", "::1", "::"}) {
    probes.push_back(addr(text));
  }

  for (const IpAddress& probe : probes) {
    Ids expected;
    for (std::uint32_t id = 0; id < prefixes.size(); ++id) {
      if (prefixes[id].contains(probe)) expected.push_back(id);
    }
    Ids got;
    index.collect(probe, got);
    INFO("probe " << probe.toString());
    REQUIRE(sorted(got) == expected);
  }
}

TEST_CASE("CidrIndex takes 100000 prefixes of each family", "[decision][cidr-index]") {
  std::mt19937 rng(7u);
  CidrIndex index;
  std::vector<IpAddress> v4Hosts;
  std::vector<IpAddress> v6Hosts;
  for (std::uint32_t id = 0; id < 100000; ++id) {
    v4Hosts.push_back(randomV4(rng));
    index.insert(Cidr(v4Hosts.back(), 32), id);
    v6Hosts.push_back(randomV6(rng));
    index.insert(Cidr(v6Hosts.back(), 128), 100000 + id);
  }
  index.insert(cidr("0.0.0.0/0"), 999999);
  for (std::uint32_t id = 0; id < 100000; id += 997) {
    Ids out;
    index.collect(v4Hosts[id], out);
    CHECK(std::find(out.begin(), out.end(), id) != out.end());
    CHECK(std::find(out.begin(), out.end(), 999999u) != out.end());
    out.clear();
    index.collect(v6Hosts[id], out);
    CHECK(out == Ids{100000 + id});
  }
}

TEST_CASE("CidrIndex moves leave the source empty and usable", "[decision][cidr-index]") {
  CidrIndex a;
  a.insert(cidr("10.0.0.0/8"), 1);
  a.insert(cidr("2001:db8::/32"), 2);

  CidrIndex b(std::move(a));
  CHECK(collect(b, "10.0.0.1") == Ids{1});
  CHECK(collect(b, "2001:db8::1") == Ids{2});
  CHECK(a.empty());  // NOLINT(bugprone-use-after-move): moved-from state is specified here
  CHECK(collect(a, "10.0.0.1").empty());
  a.insert(cidr("192.168.0.0/16"), 3);
  CHECK(collect(a, "192.168.1.1") == Ids{3});

  CidrIndex c;
  c.insert(cidr("172.16.0.0/12"), 4);
  c = std::move(b);
  CHECK(collect(c, "10.0.0.1") == Ids{1});
  CHECK(collect(c, "172.16.0.1").empty());
  CHECK(b.empty());  // NOLINT(bugprone-use-after-move)
}
