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
// every rule: exact hosts by hash, "*.domain" and mid-label wildcards by the
// label-aligned suffixes of the host (one hash lookup per label), prefixes in
// a CidrIndex. candidates() returns rule ids in ascending order (rule order),
// a superset of the matching rules for patterns that need a final check
// (mid-label wildcards); the caller confirms each with MatchPattern.
class HostIndex {
 public:
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
  using Map = std::unordered_map<std::string, std::vector<std::uint32_t>, Hash, std::equal_to<>>;

  static void lookup(const Map& map, std::string_view key, std::vector<std::uint32_t>& out);

  Map exact_;
  Map suffix_;  // "*.example.com" under "example.com"
  Map mid_;     // "a*b.example.com" under "example.com" (label-aligned tail)
  std::vector<std::uint32_t> anyHost_;  // "*" and mid-label wildcards without a tail
  CidrIndex cidrs_;
};

}  // namespace lens::decision
