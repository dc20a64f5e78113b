#pragma once

#include <memory>
#include <vector>

#include "libcommon/decision/decision.h"
#include "libcommon/decision/host_index.h"
#include "libcommon/decision/request.h"
#include "libcommon/policy/policy.h"

namespace lens::decision {

// The destination of a request as the rules see it: the host lower-cased
// without a trailing dot (an IP literal unbracketed), and the address to
// match prefixes against (the request's address, else the IP literal host).
struct Destination {
  std::string host;
  std::optional<net::IpAddress> address;
};
Destination normalizeDestination(const Request& request);

// The safety floor (and a request that names nothing) as a decision, or
// nullopt when the request may go on to the rules.
std::optional<Decision> floorDecision(const Request& request);

// The one decision engine every door uses (DESIGN.md section 5). Built once
// per policy snapshot (indexes compiled up front) and immutable afterwards,
// so it can be shared between threads as std::shared_ptr<const Engine>.
//
// Order of evaluation:
//   1. the safety floor on the host as sent and on the address;
//   2. egress.tcp (every TCP door): the first rule matching host or address
//      and port decides, never intercepted;
//   3. egress.http (connect, forward, transparent doors): first match by
//      destination, port and scheme; a non-empty `rules` list denies what it
//      does not cover once the request is visible; when an entry covering
//      the request carries graphql (else mcp) those entries alone decide, by
//      the body (Decision::body, Request::body);
//   4. the default verdict (not for udp, and never for dns, where a name
//      resolves only if some rule in any table allows it).
// A matching rule whose `binaries` excludes the caller denies
// (binary-not-allowed); it does not fall through to later rules.
class Engine {
 public:
  // A null policy is the state before the first good policy: deny everything.
  explicit Engine(std::shared_ptr<const policy::PolicyDocument> policy);

  [[nodiscard]] Decision decide(const Request& request) const;

  // The credential injections for a request: those whose domain matches its
  // host (and port, for a domain with one) and, when the request is visible
  // (method set), whose rules cover its method and path. Neither the rules
  // of the network section nor the safety floor are consulted, so the
  // caller applies these only to a request decide() lets through (lens-sign
  // applies them to whatever it is given). Empty without a policy.
  [[nodiscard]] std::vector<CredentialRef> injectionsFor(const Request& request) const;

  [[nodiscard]] const std::shared_ptr<const policy::PolicyDocument>& policy() const {
    return policy_;
  }

  // Whether some rule names `binaries`: only then does a decision depend on
  // the caller (the proxies skip the lookup otherwise).
  [[nodiscard]] bool needsCaller() const { return needsCaller_; }

  // The raw (egress.tcp / egress.udp) ports a resolved name's addresses may
  // be pinned for in the kernel's raw-allow sets: for each port, the first
  // host-name rule matching the name decides, and only an `allow` without
  // `binaries` pins (the kernel can neither ask nor see the caller).
  struct RawPort {
    Table table = Table::kTcp;
    std::uint16_t port = 0;
    friend bool operator==(const RawPort&, const RawPort&) = default;
  };
  [[nodiscard]] std::vector<RawPort> pinnablePorts(std::string_view host) const;

 private:
  Decision decideDns(const Request& request, std::string_view host) const;
  std::optional<Decision> decideRaw(const Request& request, std::string_view host,
                                    const std::optional<net::IpAddress>& address,
                                    decision::Table table) const;
  Decision decideHttp(const Request& request, std::string_view host,
                      const std::optional<net::IpAddress>& address, policy::Scheme scheme) const;
  bool judgeRules(const policy::RouteRule& rule, const Request& request, Decision& d) const;
  void addCredentials(const Request& request, std::string_view host, Decision& d) const;

  std::shared_ptr<const policy::PolicyDocument> policy_;
  const policy::NetworkPolicy* network_ = nullptr;
  bool needsCaller_ = false;
  HostIndex http_;
  HostIndex tcp_;
  HostIndex udp_;
  HostIndex injections_;  // ids: credential << 16 | injection
};

}  // namespace lens::decision
