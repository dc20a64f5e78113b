#include "libcommon/decision/engine.h"

#include <algorithm>

#include "libcommon/decision/safety_floor.h"
#include "libcommon/policy/path_glob.h"
#include "libcommon/util/strings.h"

namespace lens::decision {

using policy::Scheme;
using policy::Transport;
using policy::Verdict;

std::string_view toString(Door door) {
  switch (door) {
    case Door::kDns:
      return "dns";
    case Door::kConnect:
      return "connect";
    case Door::kForward:
      return "forward";
    case Door::kTransparentTls:
      return "transparent-tls";
    case Door::kTransparentHttp:
      return "transparent-http";
    case Door::kRawTcp:
      return "raw-tcp";
    case Door::kUdp:
      return "udp";
  }
  return "connect";
}

std::optional<Door> parseDoor(std::string_view text) {
  for (Door d : {Door::kDns, Door::kConnect, Door::kForward, Door::kTransparentTls,
                 Door::kTransparentHttp, Door::kRawTcp, Door::kUdp}) {
    if (toString(d) == text) return d;
  }
  return std::nullopt;
}

std::string_view toString(Table table) {
  switch (table) {
    case Table::kHttp:
      return "http";
    case Table::kTcp:
      return "tcp";
    case Table::kUdp:
      return "udp";
  }
  return "http";
}

namespace {

constexpr std::uint32_t kInjectionBits = 16;

// Per-thread candidate lists, reused so a decision does not allocate them.
std::vector<std::uint32_t>& ruleScratch() {
  thread_local std::vector<std::uint32_t> ids;
  ids.clear();
  return ids;
}
std::vector<std::uint32_t>& injectionScratch() {
  thread_local std::vector<std::uint32_t> ids;
  ids.clear();
  return ids;
}

Decision deny(std::string_view why, std::string detail) {
  Decision d;
  d.verdict = Verdict::kDeny;
  d.reason = why;
  d.detail = std::move(detail);
  return d;
}

Scheme doorScheme(Door door) {
  return (door == Door::kForward || door == Door::kTransparentHttp) ? Scheme::kHttp
                                                                    : Scheme::kHttps;
}

Scheme requestScheme(const Request& request) {
  return request.scheme.value_or(doorScheme(request.door));
}

// The destination port; a request without one uses its scheme's default.
std::uint16_t destinationPort(const Request& request) {
  if (request.port != 0) return request.port;
  return requestScheme(request) == Scheme::kHttp ? 80 : 443;
}

// True when the caller (or an ancestor) is one of the listed executables.
bool callerAllowed(const std::vector<std::string>& binaries,
                   const std::vector<std::string>& chain) {
  if (binaries.empty()) return true;
  return std::any_of(chain.begin(), chain.end(), [&](const std::string& exe) {
    return std::find(binaries.begin(), binaries.end(), exe) != binaries.end();
  });
}

bool methodMatches(const std::string& ruleMethod, std::string_view method) {
  return ruleMethod.empty() || util::iequals(ruleMethod, method);
}

// Whether a rules list covers the request; an empty list covers everything.
bool rulesCover(const std::vector<policy::HttpRule>& rules, std::string_view method,
                std::string_view normalizedPath) {
  if (rules.empty()) return true;
  return std::any_of(rules.begin(), rules.end(), [&](const policy::HttpRule& r) {
    return methodMatches(r.method, method) && (!r.path || r.path->matches(normalizedPath));
  });
}

// The kind of body rule that decides a request: GraphQL when any rule
// covering its method and path carries graphql, else MCP when any carries
// mcp (original-behaviour 1.7: rule order does not change which kind wins).
BodyKind bodyKindOf(const std::vector<const policy::HttpRule*>& covering) {
  auto carries = [&](auto member) {
    return std::any_of(covering.begin(), covering.end(),
                       [&](const policy::HttpRule* r) { return (r->*member).has_value(); });
  };
  if (carries(&policy::HttpRule::graphql)) return BodyKind::kGraphql;
  if (carries(&policy::HttpRule::mcp)) return BodyKind::kMcp;
  return BodyKind::kNone;
}

// Every operation covered whole by one GraphQL matcher of the covering
// rules: "rules[i] covers OPERATION" for each; the first operation none
// covers is returned in `uncovered`.
std::string coverOperations(const std::vector<policy::HttpRule>& entries,
                            const std::vector<const policy::HttpRule*>& covering,
                            const std::vector<graphql::Operation>& operations,
                            const graphql::Operation*& uncovered) {
  std::string out;
  uncovered = nullptr;
  for (const graphql::Operation& op : operations) {
    auto by = std::find_if(covering.begin(), covering.end(), [&](const policy::HttpRule* r) {
      return r->graphql && graphql::covers(*r->graphql, op);
    });
    if (by == covering.end()) {
      uncovered = &op;
      return out;
    }
    if (!out.empty()) out += "; ";
    out += "rules[" + std::to_string(*by - entries.data()) + "] covers " +
           std::string(graphql::toString(op.type)) + (op.name.empty() ? "" : " " + op.name);
  }
  return out;
}

std::string describeOperation(const graphql::Operation& op) {
  std::string out(graphql::toString(op.type));
  if (!op.name.empty()) out += " " + op.name;
  out += " {";
  for (std::size_t i = 0; i < op.rootFields.size(); ++i) out += (i ? ", " : " ") + op.rootFields[i];
  return out + " }";
}

std::string describe(const Request& r, std::string_view host) {
  std::string out =
      host.empty() ? (r.address ? r.address->toString() : std::string("?")) : std::string(host);
  if (r.port != 0) out += ":" + std::to_string(r.port);
  return out;
}

}  // namespace

Engine::Engine(std::shared_ptr<const policy::PolicyDocument> policy) : policy_(std::move(policy)) {
  if (!policy_) return;
  if (policy_->network) {
    network_ = &*policy_->network;
    http_.reserve(network_->http.size());
    tcp_.reserve(network_->tcp.size());
    udp_.reserve(network_->udp.size());
    for (std::uint32_t i = 0; i < network_->http.size(); ++i) http_.add(network_->http[i].match, i);
    for (std::uint32_t i = 0; i < network_->tcp.size(); ++i) tcp_.add(network_->tcp[i].match, i);
    for (std::uint32_t i = 0; i < network_->udp.size(); ++i) udp_.add(network_->udp[i].match, i);
    auto named = [](const auto& rule) { return !rule.binaries.empty(); };
    needsCaller_ = std::any_of(network_->http.begin(), network_->http.end(), named) ||
                   std::any_of(network_->tcp.begin(), network_->tcp.end(), named) ||
                   std::any_of(network_->udp.begin(), network_->udp.end(), named);
  }
  // Ids pack credential and injection into 16 bits each; anything beyond
  // would wrap onto another credential's id, so it is left out (never injected).
  for (std::uint32_t c = 0; c < policy_->credentials.size() && c < (1u << kInjectionBits); ++c) {
    const auto& injections = policy_->credentials[c].injections;
    for (std::uint32_t i = 0; i < injections.size() && i < (1u << kInjectionBits); ++i) {
      injections_.add(injections[i].domain, (c << kInjectionBits) | i);
    }
  }
}

Destination normalizeDestination(const Request& request) {
  Destination out{policy::normalizeHost(request.host), request.address};
  std::string_view literal = out.host;
  if (literal.size() > 2 && literal.front() == '[' && literal.back() == ']') {
    literal = literal.substr(1, literal.size() - 2);
  }
  if (auto ip = net::IpAddress::parse(literal)) {
    if (!out.address) out.address = ip;
    out.host = std::string(literal);
  }
  return out;
}

std::optional<Decision> floorDecision(const Request& request) {
  if (!request.host.empty()) {
    if (auto v = checkHostFloor(request.host)) return deny(reason::kBlockedDestination, v->detail);
  } else if (!request.address) {
    return deny(reason::kInvalidRequest, "request names neither a host nor an address");
  }
  if (request.address) {
    if (auto v = checkAddressFloor(*request.address))
      return deny(reason::kBlockedDestination, v->detail);
  }
  return std::nullopt;
}

Decision Engine::decide(const Request& request) const {
  // The safety floor comes before everything, even before "no policy yet".
  if (auto refused = floorDecision(request)) return *refused;
  if (!policy_) return deny(reason::kNoPolicy, "no valid policy loaded yet");

  const Destination destination = normalizeDestination(request);
  const std::string_view hostName = destination.host;
  const std::optional<net::IpAddress>& address = destination.address;

  if (request.door == Door::kDns) return decideDns(request, hostName);

  if (!network_) {  // no network section: allow everything through the upstream
    if (request.door == Door::kUdp)
      return deny(reason::kPolicyDeny, "udp is denied unless a rule allows it");
    Decision d;
    d.verdict = Verdict::kAllow;
    d.transport = Transport::kUpstream;
    d.reason = reason::kPolicyAllow;
    d.detail = "the policy has no network section: everything is allowed";
    addCredentials(request, hostName, d);
    d.intercept = requestScheme(request) == Scheme::kHttps && request.door != Door::kRawTcp &&
                  !d.credentials.empty();
    return d;
  }

  if (request.door == Door::kUdp) {
    if (auto d = decideRaw(request, hostName, address, Table::kUdp)) return *d;
    return deny(reason::kPolicyDeny, "no udp rule matches " + describe(request, hostName));
  }
  if (auto d = decideRaw(request, hostName, address, Table::kTcp)) return *d;
  if (request.door == Door::kRawTcp) {
    Decision d;
    // A protocol no proxy can see into is never let through by the default
    // verdict alone (as the original): a default deny refuses it, any other
    // default asks. Only a tcp rule opens it.
    d.verdict = network_->defaultVerdict == Verdict::kDeny ? Verdict::kDeny : Verdict::kAsk;
    d.transport = Transport::kDirect;
    d.reason = reason::kUnknownProtocol;
    d.detail = "no tcp rule matches " + describe(request, hostName) +
               "; an unrecognised protocol is " +
               (d.verdict == Verdict::kDeny ? "refused by the default deny" : "asked for");
    return d;
  }
  return decideHttp(request, hostName, address, requestScheme(request));
}

std::optional<Decision> Engine::decideRaw(const Request& request, std::string_view host,
                                          const std::optional<net::IpAddress>& address,
                                          Table table) const {
  const auto& rules = table == Table::kTcp ? network_->tcp : network_->udp;
  if (rules.empty()) return std::nullopt;
  const HostIndex& index = table == Table::kTcp ? tcp_ : udp_;
  const std::uint16_t port = destinationPort(request);
  std::vector<std::uint32_t>& ids = ruleScratch();
  index.candidates(host, address, ids);
  for (std::uint32_t id : ids) {
    const policy::RawRule& rule = rules[id];
    const bool destination = (!host.empty() && rule.match.matchesHost(host)) ||
                             (address && rule.match.matchesAddress(*address));
    if (!destination || !rule.match.matchesPort(port)) continue;
    Decision d;
    d.rule = RuleRef{table, id, rule.match.text()};
    d.transport = Transport::kDirect;
    if (!callerAllowed(rule.binaries, request.callerChain)) {
      d.verdict = Verdict::kDeny;
      d.reason = reason::kBinaryNotAllowed;
      d.detail = "the caller is not one of the rule's binaries";
      return d;
    }
    d.verdict = rule.verdict;
    d.reason = verdictReason(rule.verdict);
    d.detail = std::string(toString(table)) + " rule " + std::to_string(id) + " matches";
    return d;
  }
  return std::nullopt;
}

Decision Engine::decideHttp(const Request& request, std::string_view host,
                            const std::optional<net::IpAddress>& address, Scheme scheme) const {
  const std::uint16_t port = destinationPort(request);
  std::vector<std::uint32_t>& ids = ruleScratch();
  http_.candidates(host, address, ids);
  for (std::uint32_t id : ids) {
    const policy::RouteRule& rule = network_->http[id];
    const bool destination = (!host.empty() && rule.match.matchesHost(host)) ||
                             (address && rule.match.matchesAddress(*address));
    if (!destination || !rule.match.matchesPort(port) || (rule.scheme && *rule.scheme != scheme))
      continue;
    Decision d;
    d.rule = RuleRef{Table::kHttp, id, rule.match.text()};
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
    if (!request.method.empty() && !judgeRules(rule, request, d)) return d;
    addCredentials(request, host, d);
    const bool tls = scheme == Scheme::kHttps;
    d.intercept = tls && ((rule.tlsTerminate && rule.transport == Transport::kUpstream) ||
                          !rule.rules.empty() || !d.credentials.empty() || rule.forward);
    // A forward bridge dials its own address, never through the upstream proxy.
    if (tls && rule.forward) d.transport = Transport::kDirect;
    return d;
  }
  Decision d;
  d.verdict = network_->defaultVerdict;
  d.transport = network_->defaultTransport;
  d.reason = verdictReason(d.verdict);
  d.detail = "no rule matches " + describe(request, host) + "; default verdict";
  if (d.verdict != Verdict::kDeny) {
    addCredentials(request, host, d);
    d.intercept = scheme == Scheme::kHttps && !d.credentials.empty();
  }
  return d;
}

// The rules list of a matching rule against a visible request: true when
// it lets the request go on (d unchanged), false when `d` now refuses it or
// waits for the body (DESIGN.md 5a, original-behaviour 1.7).
bool Engine::judgeRules(const policy::RouteRule& rule, const Request& request, Decision& d) const {
  if (rule.rules.empty()) return true;
  const std::string path = policy::normalizePath(request.path);
  std::vector<const policy::HttpRule*> covering;
  for (const policy::HttpRule& r : rule.rules) {
    if (methodMatches(r.method, request.method) && (!r.path || r.path->matches(path)))
      covering.push_back(&r);
  }
  auto refuse = [&](std::string_view why, std::string detail) {
    d.verdict = Verdict::kDeny;
    d.reason = why;
    d.detail = std::move(detail);
    return false;
  };
  if (covering.empty())
    return refuse(reason::kHttpRuleDenied,
                  "no entry of the rule's rules list covers " + request.method + " " + path);
  const BodyKind kind = bodyKindOf(covering);
  if (kind == BodyKind::kNone) return true;
  if (kind == BodyKind::kGraphql && request.upgrade && !request.body) {
    // A subscription socket: granted by a subscription (or "*") matcher
    // only; its frames are judged one by one.
    const bool granted = std::any_of(covering.begin(), covering.end(), [](const auto* r) {
      return r->graphql &&
             (!r->graphql->type || *r->graphql->type == graphql::OperationType::kSubscription);
    });
    if (!granted)
      return refuse(reason::kHttpRuleDenied,
                    "a WebSocket upgrade on " + path +
                        ", and no GraphQL rule covering it permits subscriptions");
    d.graphqlFrames = true;
    return true;
  }
  if (kind == BodyKind::kMcp && request.upgrade)
    return refuse(reason::kHttpRuleDenied, "an upgrade on " + path + ", which MCP rules judge");
  if (!request.body || request.body->kind != kind) {
    d.body = kind;
    return refuse(reason::kBodyRequired, std::string(toString(kind)) + " rules judge the body of " +
                                             request.method + " " + path + ": it is read first");
  }
  const BodyFacts& body = *request.body;
  if (body.problem) {
    return refuse(
        body.problem->code == ErrorCode::kLimit ? reason::kBodyTooLarge : reason::kBodyMalformed,
        body.problem->message);
  }
  if (kind == BodyKind::kGraphql) {
    const graphql::Operation* uncovered = nullptr;
    const std::string covered = coverOperations(rule.rules, covering, body.operations, uncovered);
    if (uncovered)
      return refuse(reason::kHttpRuleDenied,
                    "no GraphQL rule covers " + describeOperation(*uncovered));
    d.detail += "; " + covered;
    return true;
  }
  std::string what = "MCP " + body.mcpMethod();
  if (!body.mcpTool().empty()) what += " " + body.mcpTool();
  auto by = std::find_if(covering.begin(), covering.end(), [&](const policy::HttpRule* r) {
    return body.mcp && r->mcp && mcp::covers(*r->mcp, *body.mcp);
  });
  if (by == covering.end()) return refuse(reason::kHttpRuleDenied, "no MCP rule covers " + what);
  d.detail += "; rules[" + std::to_string(*by - rule.rules.data()) + "] covers " + what;
  return true;
}

std::vector<CredentialRef> Engine::injectionsFor(const Request& request) const {
  if (!policy_) return {};
  Decision d;
  addCredentials(request, normalizeDestination(request).host, d);
  return std::move(d.credentials);
}

void Engine::addCredentials(const Request& request, std::string_view host, Decision& d) const {
  if (policy_->credentials.empty() || host.empty()) return;
  // An address or prefix domain applies to a host sent as that IP literal,
  // never to a name that merely resolves into it.
  const std::optional<net::IpAddress> literal = net::IpAddress::parse(host);
  const std::uint16_t port = destinationPort(request);
  std::vector<std::uint32_t>& ids = injectionScratch();
  injections_.candidates(host, literal, ids);
  const std::string path =
      request.method.empty() ? std::string() : policy::normalizePath(request.path);
  for (std::uint32_t id : ids) {
    const std::uint32_t c = id >> kInjectionBits;
    const std::uint32_t i = id & ((1u << kInjectionBits) - 1);
    const policy::Credential& cred = policy_->credentials[c];
    const policy::Injection& inj = cred.injections[i];
    const bool destination =
        inj.domain.matchesHost(host) || (literal && inj.domain.matchesAddress(*literal));
    // A domain with an explicit port applies to that port only (host:port).
    if (!destination || !inj.domain.matchesPort(port)) continue;
    if (!request.method.empty() && !rulesCover(inj.rules, request.method, path)) continue;
    d.credentials.push_back(CredentialRef{c, i, cred.id, inj.type});
  }
}

Decision Engine::decideDns(const Request& request, std::string_view host) const {
  if (host.empty()) return deny(reason::kInvalidRequest, "empty query name");
  if (!network_) {
    Decision d;
    d.verdict = Verdict::kAllow;
    d.transport = Transport::kUpstream;
    d.reason = reason::kPolicyAllow;
    d.detail = "the policy has no network section: every name resolves";
    return d;
  }
  // The name resolves when some table allows it; CIDR rules never match a name.
  auto allows = [&](const policy::MatchPattern& m, Verdict v,
                    const std::vector<std::string>& binaries) {
    return m.isHostPattern() && m.matchesHost(host) && v != Verdict::kDeny &&
           (request.callerChain.empty() || callerAllowed(binaries, request.callerChain));
  };
  std::vector<std::uint32_t>& ids = ruleScratch();
  // egress.http: strict first match by host (ports and schemes ignored).
  http_.candidates(host, std::nullopt, ids);
  for (std::uint32_t id : ids) {
    const policy::RouteRule& rule = network_->http[id];
    if (!rule.match.isHostPattern() || !rule.match.matchesHost(host)) continue;
    if (allows(rule.match, rule.verdict, rule.binaries)) {
      Decision d;
      d.verdict = Verdict::kAllow;
      d.transport = rule.transport;
      d.rule = RuleRef{Table::kHttp, id, rule.match.text()};
      d.reason = reason::kPolicyAllow;
      d.detail = "http rule " + std::to_string(id) + " allows the name";
      return d;
    }
    break;
  }
  // egress.tcp / egress.udp: an allow counts unless an earlier deny on the same port matches.
  for (Table table : {Table::kTcp, Table::kUdp}) {
    const auto& rules = table == Table::kTcp ? network_->tcp : network_->udp;
    ids.clear();
    (table == Table::kTcp ? tcp_ : udp_).candidates(host, std::nullopt, ids);
    std::vector<std::uint16_t> deniedPorts;
    for (std::uint32_t id : ids) {
      const policy::RawRule& rule = rules[id];
      if (!rule.match.isHostPattern() || !rule.match.matchesHost(host)) continue;
      const std::uint16_t port = rule.match.port().value_or(0);
      if (rule.verdict == Verdict::kDeny) {
        deniedPorts.push_back(port);
        continue;
      }
      if (std::find(deniedPorts.begin(), deniedPorts.end(), port) != deniedPorts.end()) continue;
      if (allows(rule.match, rule.verdict, rule.binaries)) {
        Decision d;
        d.verdict = Verdict::kAllow;
        d.transport = Transport::kDirect;
        d.rule = RuleRef{table, id, rule.match.text()};
        d.reason = reason::kPolicyAllow;
        d.detail =
            std::string(toString(table)) + " rule " + std::to_string(id) + " allows the name";
        return d;
      }
    }
  }
  return deny(reason::kDnsDenied, "no rule allows the name " + std::string(host));
}

std::vector<Engine::RawPort> Engine::pinnablePorts(std::string_view host) const {
  std::vector<RawPort> out;
  if (!network_ || host.empty()) return out;
  const std::string name = policy::normalizeHost(host);
  for (Table table : {Table::kTcp, Table::kUdp}) {
    const auto& rules = table == Table::kTcp ? network_->tcp : network_->udp;
    std::vector<std::uint32_t>& ids = ruleScratch();
    ids.clear();
    (table == Table::kTcp ? tcp_ : udp_).candidates(name, std::nullopt, ids);
    std::vector<std::uint16_t> decided;
    for (std::uint32_t id : ids) {
      const policy::RawRule& rule = rules[id];
      if (!rule.match.isHostPattern() || !rule.match.matchesHost(name)) continue;
      const std::uint16_t port = rule.match.port().value_or(0);
      if (std::find(decided.begin(), decided.end(), port) != decided.end()) continue;
      decided.push_back(port);
      if (rule.verdict == Verdict::kAllow && rule.binaries.empty()) out.push_back({table, port});
    }
  }
  return out;
}

}  // namespace lens::decision
