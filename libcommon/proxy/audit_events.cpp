#include "libcommon/proxy/audit_events.h"

#include "libcommon/proxy/context.h"
#include "libcommon/util/strings.h"

namespace lens::proxy {

namespace {

// Appends `item` to a comma-separated list unless it is there already.
void addOnce(std::string& list, std::string_view item) {
  if (item.empty()) return;
  for (std::string_view seen : util::split(list, ',')) {
    if (seen == item) return;
  }
  if (!list.empty()) list += ',';
  list += item;
}

void addCredentials(audit::Event& event, const DecisionFacts& facts) {
  std::string ids;
  std::string types;
  if (const sign::BoundaryReport* r = facts.credentials) {
    for (const sign::AppliedInjection& a : r->applied) {
      addOnce(ids, a.credentialId);
      addOnce(types, policy::toString(a.type));
    }
    if (!r->awsCredentialId.empty()) {
      addOnce(ids, r->awsCredentialId);
      addOnce(types, policy::toString(policy::InjectionType::kAwsSigv4));
    }
    if (!r->tokenCredentialId.empty()) {
      addOnce(ids, r->tokenCredentialId);
      addOnce(types, policy::toString(policy::InjectionType::kOauthClientCredentials));
      event.meta("token_answer", true);
    }
  }
  addOnce(ids, facts.credentialRefused);
  if (!ids.empty()) event.meta("credential_id", ids);
  if (!types.empty()) event.meta("injection", types);
  if (facts.credentials && !facts.credentials->awsCredentialId.empty()) {
    event.meta("aws_resign", true).meta("service", facts.credentials->service);
  }
}

}  // namespace

audit::Event decisionEvent(const EventParty& party, const DecisionFacts& facts,
                           audit::Outcome outcome, int status, std::string_view reason,
                           std::string_view detail) {
  audit::Event event(party.tool,
                     facts.action.empty() ? std::string_view("HTTP request") : facts.action);
  if (!facts.method.empty()) event.method(facts.method);
  if (!facts.host.empty()) event.host(facts.host);
  if (!facts.path.empty()) event.path(facts.path);
  event.outcome(outcome);
  if (status != 0) event.statusCode(status);
  event.meta("phase", "decision").meta("reason", reason);
  if (!facts.door.empty()) event.meta("door", facts.door);
  if (const decision::Decision* d = facts.decision) {
    if (d->rule) {
      event.meta("rule", d->rule->match).meta("rule_table", decision::toString(d->rule->table));
    }
    if (d->allowed() || facts.approved) event.meta("transport", policy::toString(d->transport));
    // Why the engine decided, when the proxy's reason is another (no-approver, ...).
    if (reason != d->reason) event.meta("decision_reason", d->reason);
    if (facts.engine) {
      if (const auto& policy = facts.engine->policy())
        event.meta("policy_version", policy->version);
    }
  }
  if (!facts.approvalId.empty()) event.meta("approval_id", facts.approvalId);
  if (facts.credentialGateDenied) event.meta("credential_gate_denied", true);
  if (const decision::BodyFacts* body = facts.body; body && !body->problem) {
    if (const std::string ops = body->graphqlOperations(); !ops.empty())
      event.meta("graphql_operation", ops);
    if (const std::string method = body->mcpMethod(); !method.empty())
      event.meta("mcp_method", method);
    if (const std::string tool = body->mcpTool(); !tool.empty()) event.meta("mcp_tool", tool);
  }
  if (facts.mitm) event.meta("mitm", true);
  if (facts.bridge) event.meta("tls_bridge", true);
  if (facts.address && !facts.route) event.meta("address", facts.address->toString());
  if (facts.route) event.meta("upstream_proxy", facts.route->proxy.redacted());
  if (facts.bytesUp) event.meta("bytes_up", *facts.bytesUp);
  if (facts.bytesDown) event.meta("bytes_down", *facts.bytesDown);
  addCredentials(event, facts);
  if (!detail.empty()) event.meta("detail", detail);
  event.src(party.peer);
  if (party.caller) event.actor(*party.caller);
  return event;
}

audit::Event closeEvent(const EventParty& party, const CloseFacts& facts) {
  audit::Event event(party.tool, facts.action);
  if (!facts.method.empty()) event.method(facts.method);
  if (!facts.host.empty()) event.host(facts.host);
  event.outcome(facts.failure ? audit::Outcome::kFailure : audit::Outcome::kSuccess)
      .meta("phase", "close")
      .meta("reason", facts.reason)
      .meta("bytes_up", facts.bytesUp)
      .meta("bytes_down", facts.bytesDown)
      .meta("duration_ms", facts.durationMs)
      .meta("requests", facts.requests);
  if (facts.mitm) event.meta("mitm", true);
  if (const decision::Decision* d = facts.decision) {
    event.meta("decision_reason", d->reason);
    if (d->rule) event.meta("rule", d->rule->match);
    if (facts.engine) {
      if (const auto& policy = facts.engine->policy())
        event.meta("policy_version", policy->version);
    }
  }
  event.src(party.peer);
  if (party.caller) event.actor(*party.caller);
  return event;
}

}  // namespace lens::proxy
