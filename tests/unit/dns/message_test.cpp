#include "libcommon/dns/message.h"

#include <catch2/catch.hpp>

#include "tests/unit/dns/wire_builder.h"

#include <cstdint>
#include <string>
#include <vector>

using namespace lens::dns;
using namespace lens::dns::test;

namespace {

Bytes header(std::uint16_t id, std::uint16_t flags, std::uint16_t qd, std::uint16_t an,
             std::uint16_t ns, std::uint16_t ar) {
  Bytes b;
  for (auto v : {id, flags, qd, an, ns, ar}) put16(b, v);
  return b;
}
Bytes query(std::string_view name, std::uint16_t type, bool edns = false,
            std::uint16_t payload = 1232) {
  Bytes b = header(0x1234, flag::kRd, 1, 0, 0, edns ? 1 : 0);
  putName(b, name);
  put16(b, type);
  put16(b, kClassIn);
  if (edns) {
    b.push_back(0);
    put16(b, rrtype::kOpt);
    put16(b, payload);
    put32(b, 0x8000);  // DO
    put16(b, 0);
  }
  return b;
}
// An answer record with a compressed owner pointing at offset `owner`.
void putA(Bytes& b, std::uint16_t owner, std::uint32_t ttl, std::uint32_t v4) {
  put16(b, static_cast<std::uint16_t>(0xC000 | owner));
  put16(b, rrtype::kA);
  put16(b, kClassIn);
  put32(b, ttl);
  put16(b, 4);
  put32(b, v4);
}

QueryProblem problemOf(const Bytes& wire) {
  auto parsed = parseQuery(wire);
  REQUIRE(std::holds_alternative<QueryError>(parsed));
  return std::get<QueryError>(parsed).problem;
}

}  // namespace

TEST_CASE("a query is parsed into a lower-case name, type and EDNS", "[dns]") {
  auto parsed = parseQuery(query("WWW.Example.COM", rrtype::kAaaa, true, 4096));
  REQUIRE(std::holds_alternative<Query>(parsed));
  const Query& q = std::get<Query>(parsed);
  CHECK(q.id == 0x1234);
  CHECK(q.name == "www.example.com");
  CHECK(q.qtype == rrtype::kAaaa);
  CHECK(q.qclass == kClassIn);
  CHECK(q.edns);
  CHECK(q.udpPayload == 4096);
  CHECK(q.dnssecOk);
  CHECK(q.udpLimit() == 4096);
  CHECK(q.questionEnd == kHeaderSize + 17 + 4);

  auto plain = parseQuery(query("example.com", rrtype::kA));
  CHECK_FALSE(std::get<Query>(plain).edns);
  CHECK(std::get<Query>(plain).udpLimit() == 512);
  // A tiny advertised payload still allows 512 bytes.
  CHECK(std::get<Query>(parseQuery(query("a", rrtype::kA, true, 100))).udpLimit() == 512);
}

TEST_CASE("bytes outside letters, digits, '-', '_' and '*' are escaped in names", "[dns]") {
  Bytes b = header(1, 0, 1, 0, 0, 0);
  const std::uint8_t label[] = {5, 'a', '.', 'b', ' ', 0xff, 3, 'c', 'o', 'm', 0};
  b.insert(b.end(), std::begin(label), std::end(label));
  put16(b, rrtype::kA);
  put16(b, kClassIn);
  CHECK(std::get<Query>(parseQuery(b)).name == "a\\046b\\032\\255.com");
  CHECK(std::get<Query>(parseQuery(query("", rrtype::kA))).name.empty());  // the root
}

TEST_CASE("malformed queries are refused with a precise problem", "[dns]") {
  CHECK(problemOf(Bytes{0, 1, 0}) == QueryProblem::kTooShort);
  CHECK(problemOf(header(1, flag::kQr, 1, 0, 0, 0)) == QueryProblem::kNotAQuery);
  CHECK(problemOf(header(1, 0, 0, 0, 0, 0)) == QueryProblem::kQuestionCount);
  CHECK(problemOf(header(1, 0, 2, 0, 0, 0)) == QueryProblem::kQuestionCount);

  auto notimp = parseQuery(header(7, 4u << 11, 1, 0, 0, 0));  // NOTIFY
  REQUIRE(std::holds_alternative<QueryError>(notimp));
  CHECK(std::get<QueryError>(notimp).problem == QueryProblem::kUnsupportedOpcode);
  CHECK(std::get<QueryError>(notimp).id == 7);

  Bytes truncated = query("example.com", rrtype::kA);
  truncated.pop_back();
  CHECK(problemOf(truncated) == QueryProblem::kTruncatedRecord);

  Bytes trailing = query("example.com", rrtype::kA);
  trailing.push_back(0);
  CHECK(problemOf(trailing) == QueryProblem::kTrailingBytes);

  Bytes longLabel = header(1, 0, 1, 0, 0, 0);
  longLabel.push_back(64);
  longLabel.insert(longLabel.end(), 64, 'a');
  longLabel.push_back(0);
  put16(longLabel, 1);
  put16(longLabel, 1);
  CHECK(problemOf(longLabel) == QueryProblem::kBadName);  // 0x40 is not a length

  Bytes longName = header(1, 0, 1, 0, 0, 0);
  for (int i = 0; i < 5; ++i) {
    longName.push_back(63);
    longName.insert(longName.end(), 63, 'a');
  }
  longName.push_back(0);
  put16(longName, 1);
  put16(longName, 1);
  CHECK(problemOf(longName) == QueryProblem::kBadName);  // 320 octets > 255

  Bytes twoOpts = query("a", rrtype::kA, true);
  write16(twoOpts, 10, 2);
  twoOpts.push_back(0);
  put16(twoOpts, rrtype::kOpt);
  put16(twoOpts, 512);
  put32(twoOpts, 0);
  put16(twoOpts, 0);
  CHECK(problemOf(twoOpts) == QueryProblem::kBadOpt);
}

TEST_CASE("compression pointers must point backwards and cannot loop", "[dns]") {
  // The question name is a pointer to itself.
  Bytes self = header(1, 0, 1, 0, 0, 0);
  put16(self, 0xC00C);
  put16(self, 1);
  put16(self, 1);
  CHECK(problemOf(self) == QueryProblem::kBadName);
  // A forward pointer.
  Bytes forward = header(1, 0, 1, 0, 0, 0);
  put16(forward, 0xC010);
  put16(forward, 1);
  put16(forward, 1);
  CHECK(problemOf(forward) == QueryProblem::kBadName);

  // A response whose answer owner loops: label, then a pointer back to that label.
  Bytes loop = header(1, flag::kQr, 1, 1, 0, 0);
  putName(loop, "a");
  put16(loop, 1);
  put16(loop, 1);
  const auto owner = static_cast<std::uint16_t>(loop.size());
  loop.push_back(1);
  loop.push_back('x');
  put16(loop, static_cast<std::uint16_t>(0xC000 | owner));  // points at its own segment
  put16(loop, 1);
  put16(loop, 1);
  put32(loop, 60);
  put16(loop, 4);
  put32(loop, 0x01020304);
  CHECK_FALSE(scanResponse(loop).ok());
}

TEST_CASE("responses are scanned for TTLs, addresses of the CNAME chain and the SOA", "[dns]") {
  Bytes r = header(9, flag::kQr | flag::kRd | flag::kRa, 1, 4, 1, 1);
  putName(r, "www.example.com");
  put16(r, rrtype::kA);
  put16(r, kClassIn);
  // www.example.com CNAME edge.example.net
  put16(r, 0xC00C);
  put16(r, rrtype::kCname);
  put16(r, kClassIn);
  put32(r, 300);
  Bytes target;
  putName(target, "edge.example.net");
  put16(r, static_cast<std::uint16_t>(target.size()));
  const auto targetAt = static_cast<std::uint16_t>(r.size());
  r.insert(r.end(), target.begin(), target.end());
  putA(r, targetAt, 60, 0xC0000201);  // edge.example.net A 192.0.2.1
  putA(r, 0x0C, 120, 0xC0000202);     // www.example.com A 192.0.2.2
  // unrelated.example A 203.0.113.9: not in the chain, never pinned.
  Bytes other;
  putName(other, "unrelated.example");
  r.insert(r.end(), other.begin(), other.end());
  put16(r, rrtype::kA);
  put16(r, kClassIn);
  put32(r, 30);
  put16(r, 4);
  put32(r, 0xCB007109);
  // authority: example.com SOA
  put16(r, 0xC010);
  put16(r, rrtype::kSoa);
  put16(r, kClassIn);
  put32(r, 900);
  Bytes soa;
  putName(soa, "ns.example.com");
  putName(soa, "host.example.com");
  for (std::uint32_t v : {1u, 2u, 3u, 4u, 600u}) put32(soa, v);
  put16(r, static_cast<std::uint16_t>(soa.size()));
  r.insert(r.end(), soa.begin(), soa.end());
  // additional: OPT
  r.push_back(0);
  put16(r, rrtype::kOpt);
  put16(r, 1232);
  put32(r, 0);
  put16(r, 0);

  auto info = scanResponse(r);
  REQUIRE(info.ok());
  CHECK(info->rcode() == Rcode::kNoError);
  CHECK(info->answerCount == 4);
  CHECK(info->records.size() == 5);  // OPT is not a record here
  CHECK(info->minAnswerTtl == 30u);
  CHECK(info->negativeTtl == 600u);
  REQUIRE(info->addresses.size() == 2);
  CHECK(info->addresses[0].toString() == "192.0.2.1");
  CHECK(info->addresses[1].toString() == "192.0.2.2");
  REQUIRE(info->optOffset.has_value());

  std::vector<std::uint8_t> stripped = r;
  stripOpt(stripped, *info);
  CHECK(stripped.size() == r.size() - 11);
  CHECK(read16(stripped, 10) == 0);
  CHECK(scanResponse(stripped).ok());
  appendOpt(stripped, true);
  auto again = scanResponse(stripped);
  REQUIRE(again.ok());
  CHECK(again->optOffset.has_value());
  CHECK(stripped.size() == r.size());
}

TEST_CASE("lens-dns's own answers echo the question and the OPT", "[dns]") {
  const Bytes wire = query("blocked.example", rrtype::kA, true);
  const Query q = std::get<Query>(parseQuery(wire));

  const auto nx = emptyResponse(wire, q, Rcode::kNxDomain);
  auto info = scanResponse(nx);
  REQUIRE(info.ok());
  CHECK(info->rcode() == Rcode::kNxDomain);
  CHECK(info->id == 0x1234);
  CHECK((info->flags & flag::kQr) != 0);
  CHECK((info->flags & flag::kRd) != 0);
  CHECK((info->flags & flag::kRa) != 0);
  CHECK_FALSE(info->optOffset.has_value());  // the server appends it
  CHECK(std::equal(nx.begin() + kHeaderSize, nx.begin() + static_cast<long>(q.questionEnd),
                   wire.begin() + kHeaderSize));

  const auto any = anyResponse(wire, q);
  auto anyInfo = scanResponse(any);
  REQUIRE(anyInfo.ok());
  CHECK(anyInfo->answerCount == 1);
  CHECK(anyInfo->records.at(0).type == rrtype::kHinfo);

  const auto notimp = notImplemented(0xBEEF, 5u << 11);
  CHECK(read16(notimp, 0) == 0xBEEF);
  CHECK((read16(notimp, 2) & 0xf) == static_cast<int>(Rcode::kNotImp));
  CHECK(((read16(notimp, 2) >> 11) & 0xf) == 5);

  const auto tc = truncatedResponse(any, q.questionEnd, q);
  auto tcInfo = scanResponse(tc);
  REQUIRE(tcInfo.ok());
  CHECK(tcInfo->truncated());
  CHECK(tcInfo->answerCount == 0);
}

TEST_CASE("a compression pointer into the header is malformed", "[dns]") {
  // Found by the fuzzer: a question name pointing at offset 2 (the flags)
  // would point at whatever lens-dns writes there in its answer.
  const Bytes wire{0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                   0x00, 0x00, 0x00, 0xC0, 0x02, 0x00, 0x01, 0x00, 0x01};
  CHECK(problemOf(wire) == QueryProblem::kBadName);
}

TEST_CASE("an OPT record must come last in a response", "[dns]") {
  Bytes r = header(1, flag::kQr, 1, 0, 0, 2);
  putName(r, "a");
  put16(r, rrtype::kA);
  put16(r, kClassIn);
  r.push_back(0);  // OPT first
  put16(r, rrtype::kOpt);
  put16(r, 1232);
  put32(r, 0);
  put16(r, 0);
  putA(r, 0x0C, 60, 0x01020304);  // then an address record
  CHECK_FALSE(scanResponse(r).ok());
}

TEST_CASE("a name reached through a pointer may not run past that pointer", "[dns]") {
  // Found by the fuzzer: an owner pointing into the middle of the question's
  // label, whose "length" then reaches over the pointer into later records.
  Bytes r = header(1, flag::kQr, 1, 1, 0, 0);
  r.push_back(7);
  for (std::uint8_t b : Bytes{'!', 0, 0, 0, 0, 0, 't'}) r.push_back(b);
  r.push_back(0);
  put16(r, rrtype::kA);
  put16(r, kClassIn);
  putA(r, 0x0D, 60, 0x01020304);  // owner at offset 13: "!" read as a 33-byte label
  CHECK_FALSE(scanResponse(r).ok());
}
