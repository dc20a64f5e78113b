#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lens::bench {

// How many rules of each kind a generated egress.http table holds. The last
// rule is always the catch-all {"match": "*", "verdict": "deny"}.
struct RuleCounts {
  std::size_t exact = 0;
  std::size_t suffix = 0;  // "*.s7.example.io"
  std::size_t mid = 0;     // "bedrock-runtime.*.m7.amazonaws.com", "api-*.m7.example.dev"
  std::size_t cidr = 0;    // IPv4 /24, /25, /32, prefix with :443, IPv6 /48
  [[nodiscard]] std::size_t total() const { return exact + suffix + mid + cidr + 1; }
};

// The mix for a table of `rules` rules (at least 5): about 80% exact hosts,
// 8% "*.suffix", 4% mid-label wildcards, 8% CIDRs, one of each at least.
RuleCounts ruleMix(std::size_t rules);

// A generated policy and the destinations to ask about. Deterministic for a
// given seed.
struct GeneratedPolicy {
  RuleCounts counts;
  std::string json;  // the policy text, parsed by the benchmark with parsePolicy
  // Host names as a client would send them (CONNECT host), about 70% matching
  // some rule before the catch-all and 30% near misses and strangers.
  std::vector<std::string> hosts;
  // IP literals (IPv6 in brackets), about 70% inside some CIDR rule.
  std::vector<std::string> addresses;
};

GeneratedPolicy generatePolicy(const RuleCounts& counts, std::size_t requests, std::uint64_t seed);

}  // namespace lens::bench
