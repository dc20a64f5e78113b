// libFuzzer target: the policy parser, the only parser of untrusted input
// that every daemon runs (policy files, control-plane frames). A policy that
// parses is then compiled into a decision::Engine and asked about hosts taken
// from the input and from its own rules.
//
// Besides crashes and sanitizer reports, the target aborts when an invariant
// breaks:
//   - parsePolicy returns a policy exactly when it reports no error, and every
//     diagnostic has a position and formats to text;
//   - a document valid without the control-plane transport fields is also
//     valid with them allowed;
//   - the same request gets the same decision twice;
//   - the rule that decides is the first rule in table order that matches
//     (a linear scan over the same rules), so the engine's indexes never
//     change the outcome (DESIGN.md section 5).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/decision/engine.h"
#include "libcommon/policy/policy_parser.h"

namespace {

using lens::decision::Decision;
using lens::decision::Door;
using lens::decision::Request;
using lens::decision::Table;
using lens::net::IpAddress;
using lens::policy::MatchPattern;
using lens::policy::ParseOptions;
using lens::policy::ParseOutcome;
using lens::policy::PolicyDocument;
using lens::policy::Scheme;

constexpr std::size_t kMaxHosts = 24;
constexpr std::size_t kMaxHostLength = 300;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "policy_parser_fuzz: invariant broken: %s\n", what.c_str());
  std::abort();
}

void checkOutcome(const ParseOutcome& out) {
  if (out.ok() != out.errors.empty()) fail("ok() disagrees with the error list");
  for (const auto* list : {&out.errors, &out.warnings}) {
    for (const auto& d : *list) {
      if (d.pos.line < 1 || d.pos.column < 1) fail("diagnostic without a position: " + d.format());
      if (d.message.empty()) fail("diagnostic without a message at " + d.path);
    }
  }
  if (out.ok() && out.policy->version.size() != 64)
    fail("policy version is not a sha256 hex digest");
}

// Candidate hosts: a few strings of the input, and names built from the
// policy's own patterns (which reach the interesting branches of matching).
std::vector<std::string> hostsFor(std::string_view text, const PolicyDocument& doc) {
  std::vector<std::string> hosts;
  auto add = [&](std::string_view h) {
    if (hosts.size() < kMaxHosts && !h.empty() && h.size() <= kMaxHostLength) hosts.emplace_back(h);
  };
  auto fromPattern = [&](const MatchPattern& m) {
    switch (m.kind()) {
      case MatchPattern::Kind::kAny:
        add("any.example");
        break;
      case MatchPattern::Kind::kExact:
        add(m.host());
        add("x." + m.host());
        break;
      case MatchPattern::Kind::kSuffix:
        add(m.host());
        add("a.b." + m.host());
        break;
      case MatchPattern::Kind::kMidWildcard:
        add(m.host() + "x" + m.suffix());
        add(m.host() + m.suffix());
        break;
      case MatchPattern::Kind::kCidr:
        add(m.cidr().network().toString());
        break;
    }
  };
  // Up to a few quoted strings of the input, as a client might send them.
  std::size_t pos = 0;
  for (int n = 0; n < 6; ++n) {
    const std::size_t open = text.find('"', pos);
    if (open == std::string_view::npos) break;
    const std::size_t close = text.find('"', open + 1);
    if (close == std::string_view::npos) break;
    add(text.substr(open + 1, close - open - 1));
    pos = close + 1;
  }
  if (doc.network) {
    for (const auto& r : doc.network->http) fromPattern(r.match);
    for (const auto& r : doc.network->tcp) fromPattern(r.match);
    for (const auto& r : doc.network->udp) fromPattern(r.match);
  }
  for (const auto& c : doc.credentials) {
    for (const auto& i : c.injections) fromPattern(i.domain);
  }
  return hosts;
}

// The host and address the engine matches on, derived as Engine::decide does.
struct Destination {
  std::string host;  // normalised; the unbracketed literal for an IP
  std::optional<IpAddress> address;
};

Destination destinationOf(const Request& r) {
  Destination d{lens::policy::normalizeHost(r.host), r.address};
  std::string_view literal = d.host;
  if (literal.size() > 2 && literal.front() == '[' && literal.back() == ']')
    literal = literal.substr(1, literal.size() - 2);
  if (auto ip = IpAddress::parse(literal)) {
    if (!d.address) d.address = ip;
    d.host = std::string(literal);
  }
  return d;
}

template <class Rule>
bool destinationMatches(const Rule& rule, const Destination& d) {
  return (!d.host.empty() && rule.match.matchesHost(d.host)) ||
         (d.address && rule.match.matchesAddress(*d.address));
}

// The first rule a linear scan finds for a non-DNS door, or nullopt for the default.
std::optional<std::pair<Table, std::uint32_t>> linearScan(const lens::policy::NetworkPolicy& net,
                                                          const Request& r) {
  const Destination d = destinationOf(r);
  const bool plain = r.door == Door::kForward || r.door == Door::kTransparentHttp;
  const std::uint16_t doorPort = r.port != 0 ? r.port : (plain ? 80 : 443);
  if (r.door == Door::kUdp) {
    for (std::uint32_t i = 0; i < net.udp.size(); ++i) {
      if (destinationMatches(net.udp[i], d) && net.udp[i].match.matchesPort(doorPort))
        return std::pair{Table::kUdp, i};
    }
    return std::nullopt;
  }
  for (std::uint32_t i = 0; i < net.tcp.size(); ++i) {
    if (destinationMatches(net.tcp[i], d) && net.tcp[i].match.matchesPort(doorPort))
      return std::pair{Table::kTcp, i};
  }
  if (r.door == Door::kRawTcp) return std::nullopt;
  const Scheme scheme = r.scheme.value_or(plain ? Scheme::kHttp : Scheme::kHttps);
  const std::uint16_t port = r.port != 0 ? r.port : (scheme == Scheme::kHttp ? 80 : 443);
  for (std::uint32_t i = 0; i < net.http.size(); ++i) {
    const auto& rule = net.http[i];
    if (destinationMatches(rule, d) && rule.match.matchesPort(port) &&
        (!rule.scheme || *rule.scheme == scheme)) {
      return std::pair{Table::kHttp, i};
    }
  }
  return std::nullopt;
}

std::string describe(const Request& r) {
  return std::string(lens::decision::toString(r.door)) + " \"" + r.host + "\" port " +
         std::to_string(r.port);
}

void checkDecision(const lens::decision::Engine& engine, const PolicyDocument& doc,
                   const Request& r) {
  const Decision a = engine.decide(r);
  const Decision b = engine.decide(r);
  if (a.verdict != b.verdict || a.rule.has_value() != b.rule.has_value() || a.detail != b.detail) {
    fail("two decisions differ for " + describe(r));
  }
  if (a.rule) {
    const auto& net = *doc.network;
    const std::size_t size = a.rule->table == Table::kHttp  ? net.http.size()
                             : a.rule->table == Table::kTcp ? net.tcp.size()
                                                            : net.udp.size();
    if (a.rule->index >= size)
      fail("decision names rule " + std::to_string(a.rule->index) + " of a table of " +
           std::to_string(size));
  }
  if (r.door == Door::kDns || !doc.network) return;
  const std::string_view why = a.reason;
  if (why == lens::decision::reason::kBlockedDestination ||
      why == lens::decision::reason::kInvalidRequest)
    return;
  const auto expected = linearScan(*doc.network, r);
  const bool same =
      expected.has_value() == a.rule.has_value() &&
      (!expected || (expected->first == a.rule->table && expected->second == a.rule->index));
  if (!same) {
    fail("the engine decided " + describe(r) + " by " +
         (a.rule ? std::string(lens::decision::toString(a.rule->table)) + " rule " +
                       std::to_string(a.rule->index)
                 : std::string("the default")) +
         ", a linear scan by " +
         (expected ? std::string(lens::decision::toString(expected->first)) + " rule " +
                         std::to_string(expected->second)
                   : std::string("the default")));
  }
}

void exerciseEngine(std::string_view text, const std::shared_ptr<const PolicyDocument>& doc) {
  const lens::decision::Engine engine(doc);
  const std::vector<std::string> hosts = hostsFor(text, *doc);
  constexpr Door kDoors[] = {
      Door::kDns,    Door::kConnect, Door::kForward, Door::kTransparentTls, Door::kTransparentHttp,
      Door::kRawTcp, Door::kUdp};
  std::size_t n = 0;
  for (const std::string& host : hosts) {
    for (Door door : kDoors) {
      Request r;
      r.door = door;
      r.host = host;
      r.port = static_cast<std::uint16_t>(n % 3 == 0 ? 0 : n % 3 == 1 ? 443 : 8443);
      if (n % 4 == 1) {
        r.method = "GET";
        r.path = "/" + host + "/../a//b?q";
      }
      if (n % 5 == 2) r.callerChain = {"/usr/bin/curl"};
      if (n % 7 == 3) r.address = IpAddress::parse(host);  // host and a known address
      checkDecision(engine, *doc, r);
      if (n % 6 == 0) {  // address only, as on a transparent door without SNI
        if (auto ip = IpAddress::parse(host)) {
          r.host.clear();
          r.address = ip;
          checkDecision(engine, *doc, r);
        }
      }
      ++n;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ParseOptions options;
  options.fileName = "fuzz.json";
  const ParseOutcome plain = lens::policy::parsePolicy(text, options);
  checkOutcome(plain);
  options.allowTransportFields = true;
  const ParseOutcome frame = lens::policy::parsePolicy(text, options);
  checkOutcome(frame);
  if (plain.ok() && !frame.ok())
    fail("a valid policy is rejected when transport fields are allowed");
  if (frame.ok()) exerciseEngine(text, frame.policy);
  return 0;
}
