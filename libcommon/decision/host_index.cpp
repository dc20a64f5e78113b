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
      names_[pattern.host()].exact.push_back(id);
      break;
    case MatchPattern::Kind::kSuffix:
      names_[pattern.host()].suffix.push_back(id);
      break;
    case MatchPattern::Kind::kMidWildcard: {
      // "bedrock-runtime.*.amazonaws.com": the host must end with the labels
      // after the first dot of the suffix ("amazonaws.com").
      const std::string_view suffix = pattern.suffix();
      const std::size_t dot = suffix.find('.');
      if (dot == std::string_view::npos || dot + 1 >= suffix.size()) {
        anyHost_.push_back(id);
      } else {
        names_[suffix.substr(dot + 1)].mid.push_back(id);
      }
      break;
    }
    case MatchPattern::Kind::kCidr:
      cidrs_.insert(pattern.cidr(), id);
      break;
  }
}

void HostIndex::candidates(std::string_view host, const std::optional<net::IpAddress>& address,
                           std::vector<std::uint32_t>& out) const {
  const std::size_t start = out.size();
  auto append = [&out](const std::vector<std::uint32_t>& ids) {
    out.insert(out.end(), ids.begin(), ids.end());
  };
  if (!host.empty() && !names_.empty()) {
    // Every label-aligned suffix: "a.b.c" -> "a.b.c", "b.c", "c".
    for (std::string_view rest = host;;) {
      if (auto it = names_.find(rest); it != names_.end()) {
        const Bucket& b = it->second;
        if (rest.size() == host.size()) append(b.exact);
        append(b.suffix);
        if (rest.size() < host.size()) append(b.mid);  // a tail, not the whole host
      }
      const std::size_t dot = rest.find('.');
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
  }
  if (!host.empty() || address) append(anyHost_);
  if (address && !cidrs_.empty()) cidrs_.collect(*address, out);
  if (out.size() - start > 1) {
    std::sort(out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
    out.erase(std::unique(out.begin() + static_cast<std::ptrdiff_t>(start), out.end()), out.end());
  }
}

}  // namespace lens::decision
