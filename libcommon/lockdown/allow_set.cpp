#include "libcommon/lockdown/allow_set.h"

#include <algorithm>
#include <array>
#include <map>
#include <span>

namespace lens::lockdown {

namespace {

__extension__ using Uint128 = unsigned __int128;

// An inclusive range of addresses of one family, as integers.
struct Range {
  Uint128 first = 0;
  Uint128 last = 0;
};
using RangeList = std::vector<Range>;  // sorted, non-overlapping

Uint128 toInteger(const net::IpAddress& address) {
  Uint128 value = 0;
  const int bytes = address.isV4() ? 4 : 16;
  for (int i = 0; i < bytes; ++i)
    value = (value << 8) | address.bytes()[static_cast<std::size_t>(i)];
  return value;
}

net::IpAddress fromInteger(Uint128 value, bool v4) {
  if (v4) return net::IpAddress::fromV4(static_cast<std::uint32_t>(value));
  std::array<std::uint8_t, 16> bytes{};
  for (int i = 15; i >= 0; --i) {
    bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(value & 0xff);
    value >>= 8;
  }
  return net::IpAddress::fromV6(bytes);
}

Range toRange(const net::Cidr& cidr) {
  const int bits = cidr.network().bitLength();
  const int hostBits = bits - cidr.prefixLength();
  const Uint128 first = toInteger(cidr.network());
  const Uint128 span = hostBits >= 128 ? ~Uint128{0} : ((Uint128{1} << hostBits) - 1);
  return {first, first | span};
}

Range fullRange(bool v4) { return {0, v4 ? Uint128{0xffffffffU} : ~Uint128{0}}; }

// A set of addresses as disjoint, non-adjacent ranges keyed by their first
// address: insert and subtract in O(log n + k).
class IntervalSet {
 public:
  void insert(Range r) {
    auto it = ranges_.upper_bound(r.first);
    if (it != ranges_.begin()) {
      auto prev = std::prev(it);
      if (prev->second == ~Uint128{0} || prev->second + 1 >= r.first) it = prev;
    }
    while (it != ranges_.end() && (r.last == ~Uint128{0} || it->first <= r.last + 1)) {
      r.first = std::min(r.first, it->first);
      r.last = std::max(r.last, it->second);
      it = ranges_.erase(it);
    }
    ranges_.emplace(r.first, r.last);
  }

  // The parts of `r` this set does not cover.
  [[nodiscard]] RangeList uncovered(Range r) const {
    RangeList out;
    Uint128 next = r.first;
    auto it = ranges_.upper_bound(r.first);
    if (it != ranges_.begin()) --it;
    for (; it != ranges_.end() && it->first <= r.last; ++it) {
      if (it->second < next) continue;
      if (it->first > next) out.push_back({next, it->first - 1});
      if (it->second >= r.last) return out;
      next = it->second + 1;
    }
    out.push_back({next, r.last});
    return out;
  }

  [[nodiscard]] RangeList ranges() const {
    RangeList out;
    for (const auto& [first, last] : ranges_) out.push_back({first, last});
    return out;
  }

 private:
  std::map<Uint128, Uint128> ranges_;
};

// The safety floor, as ranges (see decision/safety_floor.h).
IntervalSet floorRanges(bool v4) {
  IntervalSet list;
  const char* const v4Blocks[] = {"0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16"};
  const char* const v6Blocks[] = {"::/96", "::ffff:0:0/96", "fe80::/10"};
  for (const char* text :
       v4 ? std::span<const char* const>(v4Blocks) : std::span<const char* const>(v6Blocks)) {
    // Cidr::parse turns ::ffff:0:0/96 into 0.0.0.0/0; build the mapped block by hand.
    if (std::string_view(text) == "::ffff:0:0/96") {
      list.insert({Uint128{0xffff} << 32, (Uint128{0xffff} << 32) | 0xffffffffU});
      continue;
    }
    list.insert(toRange(*net::Cidr::parse(text)));
  }
  return list;
}

struct Key {
  bool v6;  // IPv4 sorts first
  Protocol protocol;
  std::uint16_t port;
  friend auto operator<=>(const Key&, const Key&) = default;
};

struct PortState {
  IntervalSet decided;  // covered by some earlier rule
  IntervalSet allowed;
};

void collect(const std::vector<policy::RawRule>& rules, Protocol protocol,
             std::map<Key, PortState>& state) {
  for (const policy::RawRule& rule : rules) {
    const policy::MatchPattern& match = rule.match;
    const auto kind = match.kind();
    if (kind != policy::MatchPattern::Kind::kCidr && kind != policy::MatchPattern::Kind::kAny)
      continue;
    const std::uint16_t port = match.port().value_or(0);
    for (bool v4 : {true, false}) {
      if (kind == policy::MatchPattern::Kind::kCidr && match.cidr().network().isV4() != v4)
        continue;
      PortState& s = state[Key{!v4, protocol, port}];
      const Range range =
          kind == policy::MatchPattern::Kind::kAny ? fullRange(v4) : toRange(match.cidr());
      const bool opens = kind == policy::MatchPattern::Kind::kCidr &&
                         rule.verdict == policy::Verdict::kAllow && rule.binaries.empty();
      if (opens) {
        for (const Range& part : s.decided.uncovered(range)) s.allowed.insert(part);
      }
      s.decided.insert(range);
    }
  }
}

}  // namespace

std::string_view toString(Protocol p) { return p == Protocol::kTcp ? "tcp" : "udp"; }

std::string AllowElement::toNft() const {
  std::string text = first.toString();
  if (!(first == last)) {
    const Uint128 a = toInteger(first);
    const Uint128 b = toInteger(last);
    const Uint128 span = b - a;
    // A whole aligned block prints as a prefix, anything else as a range.
    const bool block = ((span + 1) & span) == 0 && (a & span) == 0;
    if (block) {
      int hostBits = 0;
      for (Uint128 s = span; s != 0; s >>= 1) ++hostBits;
      text += "/" + std::to_string(first.bitLength() - hostBits);
    } else {
      text += "-" + last.toString();
    }
  }
  return text + " . " + std::string(toString(protocol)) + " . " + std::to_string(port);
}

std::vector<AllowElement> staticAllowElements(const policy::PolicyDocument& policy) {
  std::vector<AllowElement> out;
  if (!policy.network) return out;
  std::map<Key, PortState> state;
  collect(policy.network->tcp, Protocol::kTcp, state);
  collect(policy.network->udp, Protocol::kUdp, state);
  for (const auto& [key, s] : state) {
    const bool v4 = !key.v6;
    const IntervalSet floor = floorRanges(v4);
    IntervalSet allowed;
    for (const Range& r : s.allowed.ranges()) {
      for (const Range& part : floor.uncovered(r)) allowed.insert(part);
    }
    for (const Range& r : allowed.ranges()) {
      out.push_back({fromInteger(r.first, v4), fromInteger(r.last, v4), key.protocol, key.port});
    }
  }
  return out;
}

}  // namespace lens::lockdown
