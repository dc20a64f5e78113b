#include "libcommon/decision/host_index.h"

#include <algorithm>

namespace lens::decision {

using policy::MatchPattern;

void HostIndex::add(const MatchPattern& pattern, std::uint32_t id) {
  switch (pattern.kind()) {
    case MatchPattern::Kind::kAny:
      anyHost_.push_back(id);
      break;
    case MatchPattern::Kind::kExact:
      exact_[pattern.host()].push_back(id);
      break;
    case MatchPattern::Kind::kSuffix:
      suffix_[pattern.host()].push_back(id);
      break;
    case MatchPattern::Kind::kMidWildcard: {
      // "bedrock-runtime.*.amazonaws.com": the host must end with the labels
      // after the first dot of the suffix ("amazonaws.com").
      const std::string& suffix = pattern.suffix();
      const std::size_t dot = suffix.find('.');
      if (dot == std::string::npos || dot + 1 >= suffix.size()) {
        anyHost_.push_back(id);
      } else {
        mid_[suffix.substr(dot + 1)].push_back(id);
      }
      break;
    }
    case MatchPattern::Kind::kCidr:
      cidrs_.insert(pattern.cidr(), id);
      break;
  }
}

void HostIndex::lookup(const Map& map, std::string_view key, std::vector<std::uint32_t>& out) {
  if (map.empty()) return;
  if (auto it = map.find(key); it != map.end()) out.insert(out.end(), it->second.begin(), it->second.end());
}

void HostIndex::candidates(std::string_view host, const std::optional<net::IpAddress>& address,
                           std::vector<std::uint32_t>& out) const {
  const std::size_t start = out.size();
  if (!host.empty()) {
    lookup(exact_, host, out);
    // Every label-aligned suffix: "a.b.c" -> "a.b.c", "b.c", "c".
    for (std::string_view rest = host;;) {
      lookup(suffix_, rest, out);
      if (rest.size() < host.size()) lookup(mid_, rest, out);  // a tail, not the whole host
      const std::size_t dot = rest.find('.');
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
    out.insert(out.end(), anyHost_.begin(), anyHost_.end());
  } else if (address) {
    out.insert(out.end(), anyHost_.begin(), anyHost_.end());
  }
  if (address && !cidrs_.empty()) cidrs_.collect(*address, out);
  std::sort(out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
  out.erase(std::unique(out.begin() + static_cast<std::ptrdiff_t>(start), out.end()), out.end());
}

}  // namespace lens::decision
