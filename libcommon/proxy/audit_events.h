#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "libcommon/audit/event.h"
#include "libcommon/decision/decision.h"
#include "libcommon/decision/engine.h"
#include "libcommon/net/ip_address.h"
#include "libcommon/sign/boundary.h"

namespace lens::proxy {

struct UpstreamRoute;

// Who a connection's events are about: the same on every event of it.
struct EventParty {
  std::string_view tool;  // the event's source
  audit::Endpoint peer;
  std::optional<audit::ProcessInfo> caller;  // actor.process, when known
};

// What one decision event reports: the request as the client asked it,
// and what decided.
struct DecisionFacts {
  std::string_view action;  // "CONNECT host:port", "GET https://host/path", ...
  std::string_view method;  // empty: none shown
  std::string_view host;
  std::string_view path;  // without the query; empty: none shown
  std::string_view door;  // metadata.door
  bool mitm = false;      // a request inside an intercepted TLS connection (or the tunnel that was)
  const decision::Decision* decision = nullptr;  // null: nothing was decided (a bad request)
  const decision::Engine* engine = nullptr;      // the snapshot that decided
  std::optional<net::IpAddress> address;         // the destination address dialled
  bool bridge = false;                           // a forward bridge's: tls_bridge
  const UpstreamRoute* route = nullptr;          // when through the upstream proxy
  std::optional<std::uint64_t> bytesUp;          // the request's bytes, once it went through
  std::optional<std::uint64_t> bytesDown;
  // The credentials stage: what it injected or re-signed (credential ids,
  // injection types, aws_resign and service; never a value), and the
  // credential of a refusal.
  const sign::BoundaryReport* credentials = nullptr;
  std::string_view credentialRefused;
  // Approvals: an approver allowed the request; the prompt's id; the
  // credential gate refused it.
  bool approved = false;
  std::string_view approvalId;
  bool credentialGateDenied = false;
  // Body rules: what the body was (graphql_operation, mcp_method, mcp_tool).
  const decision::BodyFacts* body = nullptr;
};

// One event per decision (phase "decision"): outcome, status the client
// got, reason (the proxy's own when it differs from the engine's, which is
// then decision_reason), rule, transport, policy version, address, detail.
[[nodiscard]] audit::Event decisionEvent(const EventParty& party, const DecisionFacts& facts,
                                         audit::Outcome outcome, int status,
                                         std::string_view reason, std::string_view detail);

// What the close event of a connection reports.
struct CloseFacts {
  std::string_view action;
  std::string_view method;
  std::string_view host;
  std::string_view reason;
  bool failure = false;
  bool mitm = false;
  std::uint64_t bytesUp = 0;
  std::uint64_t bytesDown = 0;
  std::int64_t durationMs = 0;
  std::uint32_t requests = 0;
  // A policy change closed it: what the new policy said.
  const decision::Decision* decision = nullptr;
  const decision::Engine* engine = nullptr;
};

// The event (phase "close") a connection emits when it ends.
[[nodiscard]] audit::Event closeEvent(const EventParty& party, const CloseFacts& facts);

}  // namespace lens::proxy
