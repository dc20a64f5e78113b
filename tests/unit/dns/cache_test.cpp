#include "libcommon/dns/cache.h"

#include <catch2/catch.hpp>

#include "tests/unit/dns/wire_builder.h"

#include <string>
#include <vector>

using namespace lens::dns;
using namespace lens::dns::test;
using namespace std::chrono_literals;

namespace {

Bytes makeQuery(std::string_view name, std::uint16_t id) {
  Bytes b;
  for (std::uint16_t v :
       {id, flag::kRd, std::uint16_t{1}, std::uint16_t{0}, std::uint16_t{0}, std::uint16_t{0}})
    put16(b, v);
  putName(b, name);
  put16(b, rrtype::kA);
  put16(b, kClassIn);
  return b;
}

// An upstream answer to `query`: one A record with `ttl`, or NXDOMAIN with an SOA.
Bytes makeAnswer(const Bytes& query, std::uint32_t ttl, bool nxdomain = false,
                 std::uint32_t soaMinimum = 300) {
  Bytes b = query;
  write16(b, 2, static_cast<std::uint16_t>(flag::kQr | flag::kRd | flag::kRa | (nxdomain ? 3 : 0)));
  if (nxdomain) {
    write16(b, 8, 1);
    put16(b, 0xC00C);
    put16(b, rrtype::kSoa);
    put16(b, kClassIn);
    put32(b, ttl);
    Bytes soa;
    putName(soa, "ns");
    putName(soa, "host");
    for (std::uint32_t v : {1u, 2u, 3u, 4u, soaMinimum}) put32(soa, v);
    put16(b, static_cast<std::uint16_t>(soa.size()));
    b.insert(b.end(), soa.begin(), soa.end());
  } else {
    write16(b, 6, 1);
    put16(b, 0xC00C);
    put16(b, rrtype::kA);
    put16(b, kClassIn);
    put32(b, ttl);
    put16(b, 4);
    put32(b, 0xC0000207);
  }
  return b;
}

struct Stored {
  Query query;
  Bytes wire;
};

Stored store(Cache& cache, std::string_view name, std::uint32_t ttl, Cache::Clock::time_point now,
             bool nx = false) {
  Bytes q = makeQuery(name, 1);
  Query parsed = std::get<Query>(parseQuery(q));
  Bytes answer = makeAnswer(q, ttl, nx);
  auto info = scanResponse(answer);
  REQUIRE(info.ok());
  cache.insert(parsed, answer, *info, now);
  return {parsed, q};
}

std::uint32_t firstTtl(const Bytes& wire) {
  auto info = scanResponse(wire);
  REQUIRE(info.ok());
  REQUIRE_FALSE(info->records.empty());
  return info->records[0].ttl;
}

}  // namespace

TEST_CASE("cached answers are served with the client's id and question and decremented TTLs",
          "[dns]") {
  Cache cache({});
  const auto t0 = Cache::Clock::now();
  store(cache, "www.example.com", 300, t0);
  CHECK(cache.entries() == 1);

  Bytes q = makeQuery("WWW.example.COM", 0xABCD);  // another client, other case
  Query parsed = std::get<Query>(parseQuery(q));
  Bytes out;
  auto hit = cache.lookup(q, parsed, t0 + 100s, out);
  REQUIRE(hit);
  CHECK(read16(out, 0) == 0xABCD);
  CHECK(std::equal(out.begin() + kHeaderSize, out.begin() + static_cast<long>(parsed.questionEnd),
                   q.begin() + kHeaderSize));
  CHECK(firstTtl(out) == 200);
  CHECK(hit->remainingTtl == 200);
  REQUIRE(hit->addresses);
  CHECK(hit->addresses->at(0).toString() == "192.0.2.7");

  CHECK_FALSE(cache.lookup(q, parsed, t0 + 300s, out));  // expired
  CHECK(cache.entries() == 0);
}

TEST_CASE("TTLs are clamped to the floor and ceiling", "[dns]") {
  Cache::Limits limits;
  limits.minTtl = 60;
  limits.maxTtl = 120;
  Cache cache(limits);
  const auto t0 = Cache::Clock::now();
  auto a = store(cache, "short.example", 5, t0);
  auto b = store(cache, "long.example", 86400, t0);
  Bytes out;
  auto hit = cache.lookup(a.wire, a.query, t0 + 10s, out);
  REQUIRE(hit);
  CHECK(firstTtl(out) == 50);  // raised to 60, 10 s spent
  REQUIRE(cache.lookup(b.wire, b.query, t0, out));
  CHECK(firstTtl(out) == 120);
  CHECK_FALSE(cache.lookup(b.wire, b.query, t0 + 121s, out));
}

TEST_CASE("negative answers are cached for the SOA's negative TTL, capped", "[dns]") {
  Cache::Limits limits;
  limits.maxNegativeTtl = 100;
  Cache cache(limits);
  const auto t0 = Cache::Clock::now();
  auto nx =
      store(cache, "nothing.example", 900, t0, /*nx=*/true);  // min(900, 300) = 300, capped at 100
  Bytes out;
  REQUIRE(cache.lookup(nx.wire, nx.query, t0 + 99s, out));
  CHECK((read16(out, 2) & 0xf) == 3);
  CHECK_FALSE(cache.lookup(nx.wire, nx.query, t0 + 100s, out));
}

TEST_CASE("uncacheable answers are not stored", "[dns]") {
  Cache cache({});
  const auto t0 = Cache::Clock::now();
  Bytes q = makeQuery("x.example", 1);
  Query parsed = std::get<Query>(parseQuery(q));
  Bytes servfail = q;
  write16(servfail, 2, flag::kQr | 2);
  CHECK(nullptr == cache.insert(parsed, servfail, *scanResponse(servfail), t0));
  Bytes nodataNoSoa = q;
  write16(nodataNoSoa, 2, flag::kQr);
  CHECK(nullptr == cache.insert(parsed, nodataNoSoa, *scanResponse(nodataNoSoa), t0));
  Bytes zero = makeAnswer(q, 0);
  CHECK(nullptr == cache.insert(parsed, zero, *scanResponse(zero), t0));
  Bytes tc = makeAnswer(q, 60);
  write16(tc, 2, static_cast<std::uint16_t>(read16(tc, 2) | flag::kTc));
  CHECK(nullptr == cache.insert(parsed, tc, *scanResponse(tc), t0));
  CHECK(cache.entries() == 0);
}

TEST_CASE("the cache stays within its memory bound, least recently used out first", "[dns]") {
  Cache::Limits limits;
  limits.maxBytes = 2000;
  Cache cache(limits);
  const auto t0 = Cache::Clock::now();
  std::vector<Stored> stored;
  for (int i = 0; i < 50; ++i)
    stored.push_back(store(cache, "n" + std::to_string(i) + ".example", 300, t0));
  CHECK(cache.bytes() <= 2000);
  CHECK(cache.entries() < 50);
  CHECK(cache.evictions() > 0);
  Bytes out;
  CHECK(cache.lookup(stored.back().wire, stored.back().query, t0, out));          // newest kept
  CHECK_FALSE(cache.lookup(stored.front().wire, stored.front().query, t0, out));  // oldest gone
}
