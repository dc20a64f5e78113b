#include "bench/decision/linear_scan_engine.h"

#include <algorithm>
#include <stdexcept>

#include "libcommon/decision/engine.h"

namespace lens::bench {

using decision::Decision;
using decision::Door;
using decision::Request;
using decision::verdictReason;
using policy::Scheme;
using policy::Transport;
using policy::Verdict;
namespace reason = decision::reason;

namespace {

Decision deny(std::string_view why, std::string detail) {
  Decision d;
  d.verdict = Verdict::kDeny;
  d.reason = why;
  d.detail = std::move(detail);
  return d;
}

bool callerAllowed(const std::vector<std::string>& binaries,
                   const std::vector<std::string>& chain) {
  if (binaries.empty()) return true;
  return std::any_of(chain.begin(), chain.end(), [&](const std::string& exe) {
    return std::find(binaries.begin(), binaries.end(), exe) != binaries.end();
  });
}

std::string describe(const Request& r, std::string_view host) {
  std::string out =
      host.empty() ? (r.address ? r.address->toString() : std::string("?")) : std::string(host);
  if (r.port != 0) out += ":" + std::to_string(r.port);
  return out;
}

template <class Rule>
bool destinationMatches(const Rule& rule, std::string_view host,
                        const std::optional<net::IpAddress>& address) {
  return (!host.empty() && rule.match.matchesHost(host)) ||
         (address && rule.match.matchesAddress(*address));
}

}  // namespace

LinearScanEngine::LinearScanEngine(std::shared_ptr<const policy::PolicyDocument> policy)
    : policy_(std::move(policy)) {
  if (policy_ && !policy_->credentials.empty()) {
    throw std::invalid_argument("LinearScanEngine does not implement credential injections");
  }
}

Decision LinearScanEngine::decide(const Request& request) const {
  if (request.door == Door::kDns || request.door == Door::kUdp || request.door == Door::kRawTcp) {
    throw std::invalid_argument("LinearScanEngine only covers the http doors");
  }
  if (auto refused = decision::floorDecision(request)) return *refused;
  if (!policy_) return deny(reason::kNoPolicy, "no valid policy loaded yet");

  const decision::Destination destination = decision::normalizeDestination(request);
  const std::string_view hostName = destination.host;
  const std::optional<net::IpAddress>& address = destination.address;
  if (!policy_->network) {
    Decision d;
    d.verdict = Verdict::kAllow;
    d.transport = Transport::kUpstream;
    d.reason = reason::kPolicyAllow;
    d.detail = "the policy has no network section: everything is allowed";
    return d;
  }
  const policy::NetworkPolicy& network = *policy_->network;
  const bool plain = request.door == Door::kForward || request.door == Door::kTransparentHttp;
  const Scheme scheme = request.scheme.value_or(plain ? Scheme::kHttp : Scheme::kHttps);

  const std::uint16_t rawPort = request.port != 0 ? request.port : (plain ? 80 : 443);
  for (std::uint32_t id = 0; id < network.tcp.size(); ++id) {
    const policy::RawRule& rule = network.tcp[id];
    if (!destinationMatches(rule, hostName, address) || !rule.match.matchesPort(rawPort)) continue;
    Decision d;
    d.rule = decision::RuleRef{decision::Table::kTcp, id, rule.match.text()};
    d.transport = Transport::kDirect;
    if (!callerAllowed(rule.binaries, request.callerChain)) {
      d.verdict = Verdict::kDeny;
      d.reason = reason::kBinaryNotAllowed;
      d.detail = "the caller is not one of the rule's binaries";
      return d;
    }
    d.verdict = rule.verdict;
    d.reason = verdictReason(rule.verdict);
    d.detail = "tcp rule " + std::to_string(id) + " matches";
    return d;
  }

  const std::uint16_t port =
      request.port != 0 ? request.port : (scheme == Scheme::kHttp ? 80 : 443);
  for (std::uint32_t id = 0; id < network.http.size(); ++id) {
    const policy::RouteRule& rule = network.http[id];
    if (!destinationMatches(rule, hostName, address) || !rule.match.matchesPort(port) ||
        (rule.scheme && *rule.scheme != scheme)) {
      continue;
    }
    Decision d;
    d.rule = decision::RuleRef{decision::Table::kHttp, id, rule.match.text()};
    d.transport = rule.transport;
    if (!callerAllowed(rule.binaries, request.callerChain)) {
      d.verdict = Verdict::kDeny;
      d.reason = reason::kBinaryNotAllowed;
      d.detail = "the caller is not one of the rule's binaries";
      return d;
    }
    d.verdict = rule.verdict;
    d.reason = verdictReason(rule.verdict);
    d.detail = "http rule " + std::to_string(id) + " matches";
    if (rule.verdict == Verdict::kDeny) return d;
    if (!request.method.empty() && !rule.rules.empty()) {
      throw std::invalid_argument("LinearScanEngine does not judge request lines");
    }
    d.intercept =
        scheme == Scheme::kHttps &&
        ((rule.tlsTerminate && rule.transport == Transport::kUpstream) || !rule.rules.empty());
    return d;
  }
  Decision d;
  d.verdict = network.defaultVerdict;
  d.transport = network.defaultTransport;
  d.reason = verdictReason(d.verdict);
  d.detail = "no rule matches " + describe(request, hostName) + "; default verdict";
  return d;
}

}  // namespace lens::bench
