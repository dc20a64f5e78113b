#include "bench/decision/policy_generator.h"

#include <algorithm>
#include <cctype>
#include <random>
#include <stdexcept>

namespace lens::bench {

namespace {

enum class Kind : std::uint8_t { kExact, kSuffix, kMid, kCidr };

std::string hex(std::uint64_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[n % 16]);
    n /= 16;
  } while (n != 0);
  return out;
}

std::string num(std::uint64_t n) { return std::to_string(n); }

// Concatenation by appending (GCC 12 warns falsely, -Wrestrict, about
// "literal" + std::string&& at -O3).
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string out;
  (out.append(parts), ...);
  return out;
}

// Host names by kind and ordinal. Ordinals are unique per kind, so every
// exact host, suffix apex and mid-wildcard tail is distinct, except that one
// mid wildcard in ten shares the tail "amazonaws.com" as real policies do.
std::string exactHost(std::uint64_t n) {
  switch (n % 3) {
    case 0:
      return cat("h", num(n), ".example.com");
    case 1:
      return cat("api.h", num(n), ".corp.example.org");
    default:
      return cat("h", num(n), ".eu.cdn.example.net");
  }
}

std::string suffixApex(std::uint64_t n) { return cat("s", num(n), ".example.io"); }

// Prefix and suffix around the '*' of mid wildcard n.
std::pair<std::string, std::string> midParts(std::uint64_t n) {
  if (n % 10 == 0) return {cat("bedrock", num(n), "-"), ".amazonaws.com"};
  if (n % 2 == 0) return {"bedrock-runtime.", cat(".m", num(n), ".amazonaws.com")};
  return {"api-", cat(".m", num(n), ".example.dev")};
}

// CIDR rule n: IPv4 rules live in 10.A.B.0/24 with A.B = n (n < 65536).
std::string cidrText(std::uint64_t n) {
  const std::string ab = cat("10.", num((n >> 8) & 0xff), ".", num(n & 0xff), ".");
  switch (n % 10) {
    case 0:
      return cat("2001:db8:", hex(n), "::/48");
    case 1:
      return cat(ab, "7");
    case 2:
      return cat(ab, "0/24:443");
    case 3:
      return cat(ab, "0/25");
    default:
      return cat(ab, "0/24");
  }
}

std::string matchingAddress(std::uint64_t n, std::mt19937_64& rng) {
  const std::string ab = cat("10.", num((n >> 8) & 0xff), ".", num(n & 0xff), ".");
  switch (n % 10) {
    case 0:
      return cat("[2001:db8:", hex(n), "::", hex(1 + rng() % 0xfffe), "]");
    case 1:
      return cat(ab, "7");
    case 3:
      return cat(ab, num(1 + rng() % 127));
    default:
      return cat(ab, num(1 + rng() % 254));
  }
}

std::string strangerAddress(std::mt19937_64& rng) {
  switch (rng() % 3) {
    case 0:
      return cat("198.", num(18 + rng() % 2), ".", num(rng() % 256), ".", num(1 + rng() % 254));
    case 1:
      return cat("10.255.", num(rng() % 256), ".", num(1 + rng() % 254));  // A.B beyond any rule
    default:
      return cat("[2001:db9::", hex(1 + rng() % 0xfffe), "]");
  }
}

void appendRule(std::string& json, const std::string& match, std::size_t index) {
  // Verdicts: mostly allow, some deny and ask; transports alternate; a few
  // rules are restricted by scheme (an http-only rule never matches CONNECT).
  const char* verdict = index % 20 == 7 ? "deny" : index % 20 == 13 ? "ask" : "allow";
  json.append(R"({"match":")").append(match).append(R"(","verdict":")").append(verdict);
  json.append(R"(","transport":")").append(index % 2 == 0 ? "upstream" : "direct").append("\"");
  if (index % 40 == 5) {
    json += R"(,"scheme":"https")";
  } else if (index % 97 == 3) {
    json += R"(,"scheme":"http")";
  }
  json += "}";
}

}  // namespace

RuleCounts ruleMix(std::size_t rules) {
  if (rules < 5) throw std::invalid_argument("a generated policy needs at least 5 rules");
  RuleCounts c;
  const std::size_t body = rules - 1;  // the catch-all is the last rule
  c.suffix = std::max<std::size_t>(1, body * 8 / 100);
  c.mid = std::max<std::size_t>(1, body * 4 / 100);
  c.cidr = std::max<std::size_t>(1, body * 8 / 100);
  c.exact = body - c.suffix - c.mid - c.cidr;
  if (c.cidr > 65535) throw std::invalid_argument("too many CIDR rules for the 10.A.B.0/24 plan");
  return c;
}

GeneratedPolicy generatePolicy(const RuleCounts& counts, std::size_t requests, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  GeneratedPolicy out;
  out.counts = counts;

  std::vector<Kind> order;
  order.reserve(counts.total());
  order.insert(order.end(), counts.exact, Kind::kExact);
  order.insert(order.end(), counts.suffix, Kind::kSuffix);
  order.insert(order.end(), counts.mid, Kind::kMid);
  order.insert(order.end(), counts.cidr, Kind::kCidr);
  std::shuffle(order.begin(), order.end(), rng);

  out.json.reserve(counts.total() * 96 + 256);
  out.json +=
      R"({"network":{"defaultVerdict":"deny","defaultTransport":"upstream","egress":{"http":[)";
  std::uint64_t next[4] = {0, 0, 0, 0};
  for (std::size_t i = 0; i < order.size(); ++i) {
    const std::uint64_t n = next[static_cast<int>(order[i])]++;
    std::string match;
    switch (order[i]) {
      case Kind::kExact:
        match = exactHost(n);
        if (n % 25 == 4) match += ":443";
        if (n % 50 == 9) match += ":8443";  // never matches CONNECT to 443
        break;
      case Kind::kSuffix:
        match = cat("*.", suffixApex(n));
        break;
      case Kind::kMid: {
        auto [prefix, suffix] = midParts(n);
        match = cat(prefix, "*", suffix);
        break;
      }
      case Kind::kCidr:
        match = cidrText(n);
        break;
    }
    appendRule(out.json, match, i);
    out.json += ",\n";
  }
  out.json +=
      R"({"match":"*","verdict":"deny","transport":"direct","description":"catch-all"}]}}})";
  out.json += "\n";

  // Requests: pick a rule kind in proportion to the host rules, then an
  // ordinal uniformly, so a linear scan stops on average halfway.
  const std::size_t hostRules = counts.exact + counts.suffix + counts.mid;
  auto pick = [&](std::size_t n) { return static_cast<std::uint64_t>(rng() % n); };
  out.hosts.reserve(requests);
  for (std::size_t i = 0; i < requests; ++i) {
    std::string host;
    if (rng() % 10 < 7) {
      std::size_t r = pick(hostRules);
      if (r < counts.exact) {
        host = exactHost(r);
      } else if ((r -= counts.exact) < counts.suffix) {
        host = cat(rng() % 4 == 0 ? std::string() : cat("x", num(pick(1000)), "."), suffixApex(r));
      } else {
        r -= counts.suffix;
        auto [prefix, suffix] = midParts(r);
        host =
            cat(prefix,
                prefix.ends_with('.') ? cat("us-east-", num(1 + pick(2))) : cat("eu", num(pick(9))),
                suffix);
      }
      const auto style = rng() % 20;
      if (style == 0) host += '.';  // trailing dot
      if (style == 1)
        host[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(host[0])));  // case
    } else {
      switch (rng() % 4) {
        case 0:
          host = cat("www.", exactHost(pick(counts.exact)));
          break;  // below an exact host
        case 1:
          host = cat("s", num(pick(counts.suffix)), "x.example.io");
          break;   // not under the apex
        case 2: {  // empty '*' part
          auto [prefix, suffix] = midParts(pick(counts.mid));
          host = cat(prefix.substr(0, prefix.size() - 1), suffix);
          break;
        }
        default:
          host = cat("unknown", num(pick(100000)), ".example", num(pick(50)), ".org");
          break;
      }
    }
    out.hosts.push_back(std::move(host));
  }

  out.addresses.reserve(requests);
  for (std::size_t i = 0; i < requests; ++i) {
    out.addresses.push_back(rng() % 10 < 7 ? matchingAddress(pick(counts.cidr), rng)
                                           : strangerAddress(rng));
  }
  return out;
}

}  // namespace lens::bench
