// libFuzzer target: the DNS message reader, which sees every byte a sandboxed
// client sends to lens-dns and every byte an upstream answers.
//
// The input is read both as a query and as a response. Besides crashes and
// sanitizer reports, the target aborts when an invariant breaks:
//   - a parsed query's questionEnd lies inside the input, and lens-dns's own
//     answers to it (NXDOMAIN, ANY, truncated) scan as valid responses with
//     the query's id;
//   - a scanned response's record offsets lie inside the input; stripping its
//     OPT and appending one keeps it scannable, with the same records;
//   - the cache serves what it stored for the same query, with the same length.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "libcommon/dns/cache.h"
#include "libcommon/dns/message.h"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

void asQuery(std::span<const std::uint8_t> wire) {
  auto parsed = lens::dns::parseQuery(wire);
  const auto* q = std::get_if<lens::dns::Query>(&parsed);
  if (!q) return;
  check(q->questionEnd <= wire.size(), "questionEnd inside the query");
  for (auto rcode : {lens::dns::Rcode::kNxDomain, lens::dns::Rcode::kServFail}) {
    auto out = lens::dns::emptyResponse(wire, *q, rcode);
    auto info = lens::dns::scanResponse(out);
    check(info.ok() && info->id == q->id && info->rcode() == rcode, "own empty answer scans");
  }
  auto any = lens::dns::anyResponse(wire, *q);
  check(lens::dns::scanResponse(any).ok(), "own ANY answer scans");
  auto tc = lens::dns::truncatedResponse(any, q->questionEnd, *q);
  auto tcInfo = lens::dns::scanResponse(tc);
  check(tcInfo.ok() && tcInfo->truncated(), "own truncated answer scans");
}

void asResponse(std::span<const std::uint8_t> wire) {
  auto info = lens::dns::scanResponse(wire);
  if (!info) return;
  for (const auto& r : info->records)
    check(r.ttlOffset + 4 <= wire.size(), "TTL offset inside the response");
  std::vector<std::uint8_t> copy(wire.begin(), wire.end());
  const std::size_t records = info->records.size();
  lens::dns::stripOpt(copy, *info);
  auto stripped = lens::dns::scanResponse(copy);
  check(stripped.ok() && stripped->records.size() == records && !stripped->optOffset,
        "stripped response scans");
  for (std::size_t i = 0; i < records; ++i) {
    check(stripped->records[i].ttlOffset == info->records[i].ttlOffset,
          "record offsets follow the strip");
  }
  lens::dns::appendOpt(copy, false);
  auto appended = lens::dns::scanResponse(copy);
  check(appended.ok() && appended->optOffset.has_value(), "response with our OPT scans");

  // Cache it under its own question read as a query.
  std::vector<std::uint8_t> query(wire.begin(),
                                  wire.begin() + static_cast<std::ptrdiff_t>(info->questionEnd));
  lens::dns::write16(query, 2, lens::dns::flag::kRd);
  for (std::size_t at : {6u, 8u, 10u}) lens::dns::write16(query, at, 0);
  auto parsed = lens::dns::parseQuery(query);
  const auto* q = std::get_if<lens::dns::Query>(&parsed);
  if (!q) return;
  lens::dns::Cache cache({});
  const auto now = lens::dns::Cache::Clock::now();
  lens::dns::write16(copy, 0, 0);
  auto info2 = lens::dns::scanResponse(copy);
  if (!info2) return;
  lens::dns::stripOpt(copy, *info2);
  if (cache.insert(*q, copy, *info2, now)) {
    std::vector<std::uint8_t> out;
    auto hit = cache.lookup(query, *q, now, out);
    check(hit.has_value() && out.size() == copy.size(), "the cache serves what it stored");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> wire(data, size);
  asQuery(wire);
  asResponse(wire);
  return 0;
}
