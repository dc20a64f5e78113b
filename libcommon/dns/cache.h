#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "libcommon/dns/message.h"
#include "libcommon/lockdown/allow_set.h"

namespace lens::dns {

// Upstream answers by (name, type, class): positive answers for their
// smallest answer TTL, negative ones (NXDOMAIN, NODATA) for the SOA's
// negative TTL (RFC 2308), every TTL clamped to [minTtl, maxTtl]. Bounded in
// bytes, least recently used first out. Served with the client's id and
// question and TTLs decremented by the time spent in the cache. Holds
// upstream data only: what a client may see is decided per query.
class Cache {
 public:
  using Clock = std::chrono::steady_clock;
  // The policy's decision for the entry's name, valid while the policy
  // generation is the same: a policy change invalidates decisions, not data.
  struct Memo {
    std::uint64_t generation = 0;  // 0 = not decided yet
    bool allowed = false;
    std::string reason;
    std::string rule;
    std::vector<std::pair<lockdown::Protocol, std::uint16_t>> pinPorts;
  };
  struct Limits {
    std::size_t maxBytes = 16u << 20;
    std::uint32_t minTtl = 0;
    std::uint32_t maxTtl = 86400;
    std::uint32_t maxNegativeTtl = 3600;
  };
  struct Hit {
    // A/AAAA of the answer's chain; valid until the cache is next changed.
    const std::vector<net::IpAddress>* addresses = nullptr;
    std::uint32_t remainingTtl = 0;  // of the smallest answer record
    Memo* memo = nullptr;            // valid until the cache is next changed
  };

  explicit Cache(Limits limits) : limits_(limits) {}

  // Stores a response (its OPT already stripped) for the query. Returns the
  // new entry's memo (valid until the cache is next changed), or null when
  // the response is not cacheable (SERVFAIL, truncated, negative without SOA...).
  Memo* insert(const Query& query, std::span<const std::uint8_t> response, const ResponseInfo& info,
               Clock::time_point now);

  // Writes the cached answer for the query into `out` (id and question from
  // the query, TTLs decremented), or returns nullopt on a miss.
  std::optional<Hit> lookup(std::span<const std::uint8_t> queryWire, const Query& query,
                            Clock::time_point now, std::vector<std::uint8_t>& out);

  void clear();
  [[nodiscard]] std::size_t entries() const { return map_.size(); }
  [[nodiscard]] std::size_t bytes() const { return bytes_; }
  [[nodiscard]] std::uint64_t evictions() const { return evictions_; }

 private:
  struct Entry {
    std::string key;
    std::vector<std::uint8_t> wire;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> ttls;  // (offset, stored TTL)
    std::vector<net::IpAddress> addresses;
    std::size_t questionEnd = 0;
    std::uint32_t minAnswerTtl = 0;
    Clock::time_point stored;
    Clock::time_point expires;
    std::size_t cost = 0;
    Memo memo;
  };

  void setKey(const Query& query);
  void erase(std::list<Entry>::iterator it);

  Limits limits_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
  std::string key_;  // scratch, reused between lookups
  std::size_t bytes_ = 0;
  std::uint64_t evictions_ = 0;
};

}  // namespace lens::dns
