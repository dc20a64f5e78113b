#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "libcommon/decision/cidr_index.h"
#include "libcommon/net/ip_address.h"
#include "libcommon/policy/match_pattern.h"

namespace lens::decision {

// Finds the rules whose `match` can cover a destination without scanning
// every rule. Names live in one hash map keyed by domain: the entry for
// "example.com" holds the exact rules for that host, the "*.example.com"
// rules, and the mid-label wildcards whose label-aligned tail is
// "example.com" ("a*b.example.com"). A lookup costs one probe per label of
// the host. Prefixes live in a CidrIndex. candidates() returns rule ids in
// ascending order (rule order); mid-label wildcards still need the final
// check with MatchPattern, which the caller does for every candidate.
//
// The index keys on views of the patterns' host text: every pattern added
// must outlive the index (the Engine holds the policy they belong to).
class HostIndex {
 public:
  // Room for `patterns` names, so that building does not rehash.
  void reserve(std::size_t patterns) { names_.reserve(patterns); }
  void add(const policy::MatchPattern& pattern, std::uint32_t id);

  // `host` normalised (lower case, no trailing dot), may be empty;
  // `address` is the destination address when known.
  void candidates(std::string_view host, const std::optional<net::IpAddress>& address,
                  std::vector<std::uint32_t>& out) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Bucket {
    std::vector<std::uint32_t> exact;   // "example.com"
    std::vector<std::uint32_t> suffix;  // "*.example.com"
    std::vector<std::uint32_t> mid;     // "a*b.example.com"
  };

  std::unordered_map<std::string_view, Bucket, Hash> names_;
  std::vector<std::uint32_t> anyHost_;  // "*" and mid-label wildcards without a tail
  CidrIndex cidrs_;
};

}  // namespace lens::decision
