#include "libcommon/dns/cache.h"

#include <algorithm>
#include <cstring>

namespace lens::dns {

namespace {
constexpr std::size_t kEntryOverhead = 160;  // list node, map node, bookkeeping
}

void Cache::setKey(const Query& query) {
  key_.assign(query.name);
  key_.push_back('\0');
  key_.push_back(static_cast<char>(query.qtype >> 8));
  key_.push_back(static_cast<char>(query.qtype & 0xff));
  key_.push_back(static_cast<char>(query.qclass >> 8));
  key_.push_back(static_cast<char>(query.qclass & 0xff));
}

Cache::Memo* Cache::insert(const Query& query, std::span<const std::uint8_t> response,
                           const ResponseInfo& info, Clock::time_point now) {
  if (info.truncated()) return nullptr;
  std::uint32_t lifetime = 0;
  const bool positive = info.rcode() == Rcode::kNoError && info.answerCount > 0;
  if (positive) {
    lifetime = std::clamp(info.minAnswerTtl.value_or(0), limits_.minTtl, limits_.maxTtl);
  } else if ((info.rcode() == Rcode::kNxDomain || info.rcode() == Rcode::kNoError) &&
             info.negativeTtl) {
    lifetime = std::clamp(*info.negativeTtl, limits_.minTtl,
                          std::min(limits_.maxTtl, limits_.maxNegativeTtl));
  } else {
    return nullptr;
  }
  if (lifetime == 0) return nullptr;

  Entry e;
  e.wire.assign(response.begin(), response.end());
  e.questionEnd = info.questionEnd;
  e.minAnswerTtl = positive ? lifetime : 0;
  e.addresses = info.addresses;
  e.stored = now;
  e.expires = now + std::chrono::seconds(lifetime);
  e.ttls.reserve(info.records.size());
  for (const RecordRef& r : info.records) {
    const std::uint32_t ttl = std::clamp(r.ttl, limits_.minTtl, limits_.maxTtl);
    write32(e.wire, r.ttlOffset, ttl);
    e.ttls.emplace_back(static_cast<std::uint32_t>(r.ttlOffset), ttl);
  }
  setKey(query);
  e.key = key_;
  e.cost = e.wire.size() + e.key.size() + e.ttls.size() * 8 +
           e.addresses.size() * sizeof(net::IpAddress) + kEntryOverhead;
  if (e.cost > limits_.maxBytes) return nullptr;

  if (auto found = map_.find(key_); found != map_.end()) erase(found->second);
  while (bytes_ + e.cost > limits_.maxBytes && !lru_.empty()) {
    erase(std::prev(lru_.end()));
    ++evictions_;
  }
  bytes_ += e.cost;
  lru_.push_front(std::move(e));
  map_.emplace(lru_.front().key, lru_.begin());
  return &lru_.front().memo;
}

std::optional<Cache::Hit> Cache::lookup(std::span<const std::uint8_t> queryWire, const Query& query,
                                        Clock::time_point now, std::vector<std::uint8_t>& out) {
  setKey(query);
  auto found = map_.find(key_);
  if (found == map_.end()) return std::nullopt;
  auto it = found->second;
  if (now >= it->expires) {
    erase(it);
    return std::nullopt;
  }
  // The client's question bytes replace the cached ones (the case of the
  // name may differ); they are the same length for the same name.
  if (query.questionEnd != it->questionEnd) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it);

  out.assign(it->wire.begin(), it->wire.end());
  std::memcpy(out.data() + kHeaderSize, queryWire.data() + kHeaderSize,
              query.questionEnd - kHeaderSize);
  write16(out, 0, query.id);
  // Keep the cached flags except the client's RD and CD.
  const std::uint16_t flags = read16(out, 2);
  write16(out, 2,
          static_cast<std::uint16_t>((flags & ~(flag::kRd | flag::kCd)) |
                                     (query.flags & (flag::kRd | flag::kCd))));
  const auto elapsed = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(now - it->stored).count());
  for (const auto& [offset, ttl] : it->ttls)
    write32(out, offset, ttl > elapsed ? ttl - elapsed : 0);

  Hit hit;
  hit.addresses = &it->addresses;
  hit.memo = &it->memo;
  hit.remainingTtl = it->minAnswerTtl > elapsed ? it->minAnswerTtl - elapsed : 0;
  return hit;
}

void Cache::erase(std::list<Entry>::iterator it) {
  bytes_ -= it->cost;
  map_.erase(it->key);
  lru_.erase(it);
}

void Cache::clear() {
  map_.clear();
  lru_.clear();
  bytes_ = 0;
}

}  // namespace lens::dns
