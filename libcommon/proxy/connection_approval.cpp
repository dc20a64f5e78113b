// Approvals (DESIGN.md 5b), as a Connection waits for them: a request the
// policy asks about, and the credential gate of a placeholder bound for a
// host without its injection. The connection waits in kApproving without
// holding the loop (its client's bytes are kept as while dialling, within
// the same limit), with a deadline of its own, and is judged again first
// when the policy changes meanwhile.
#include <string>

#include "libcommon/audit/approval.h"
#include "libcommon/log/logging.h"
#include "libcommon/proxy/connection.h"
#include "libcommon/proxy/reply.h"

namespace lens::proxy {

namespace ar = audit::approval_reason;

bool Connection::approved() const {
  return approval_.answer && approval_.item && approval_.item->kind == approval::Kind::kRequest &&
         approval::allows(*approval_.answer);
}

bool Connection::permits(const decision::Decision& d) const {
  return d.allowed() || (d.verdict == policy::Verdict::kAsk && approved());
}

approval::Item Connection::requestItem() const {
  approval::Item item;
  item.kind = approval::Kind::kRequest;
  item.host = request_->host;
  item.action = requestAction_.empty() ? action_ : requestAction_;
  item.reason = std::string(decision_.reason);
  // What the proxy sees of it: HTTP requests (forward, redirected HTTP,
  // inside interception) are inspected; tunnels and raw streams are not.
  const bool http =
      (mitm_ && insideTls_) || (transparent_ ? door_ == decision::Door::kTransparentHttp
                                             : request_->kind == RequestKind::kForward);
  item.treatment = http ? "inspected" : "raw";
  return item;
}

void Connection::askApproval(approval::Item item) {
  approval_.item = std::move(item);
  approval_.answer.reset();
  approval_.id.clear();
  // The prompt names the program that asks, whether or not a rule names
  // binaries: found off the loop first (once per connection).
  if (!callerLooked_) {
    deadline_ = ctx_.now + ctx_.options.headerTimeout;
    if (identify(true)) return;  // afterCaller() sends the ask
  }
  sendAsk();
}

void Connection::sendAsk() {
  approval::Item& item = *approval_.item;
  item.caller = party_.caller;
  if (!ctx_.approvals) {
    approval::Reply none;
    none.answer = approval::Answer::kNoApprover;
    none.detail = "no approval broker is configured (--approval-socket off)";
    settleApproval(none);
    return;
  }
  auto sent = ctx_.approvals->ask(item, [&ctx = ctx_, id = id_](const approval::Reply& reply) {
    if (Connection* c = ctx.find(id)) c->onApproval(reply);
  });
  if (const auto* now = std::get_if<approval::Reply>(&sent)) {
    settleApproval(*now);
    return;
  }
  approval_.ref = std::get<std::uint64_t>(sent);
  enter(State::kApproving);
  deadline_ = ctx_.now + ctx_.options.approvalTimeout;
  updateInterest();
}

void Connection::onApproval(const approval::Reply& reply) {
  if (state_ != State::kApproving || reply.ref != approval_.ref) return;
  ctx_.now = Clock::now();
  approval_.ref = 0;
  settleApproval(reply);
  drive();
}

void Connection::settleApproval(const approval::Reply& reply) {
  approval_.answer = reply.answer;
  approval_.id = reply.id;
  if (approval_.item->kind == approval::Kind::kCredential) {
    credentialAnswered(reply);
    return;
  }
  if (approval::allows(reply.answer)) {
    act();  // approved(): on past the ask
    return;
  }
  std::string_view text = "the policy asks for approval and nobody can approve";
  if (reply.answer == approval::Answer::kTimeout) text = "nobody approved the request in time";
  if (reply.answer == approval::Answer::kDenyOnce || reply.answer == approval::Answer::kDenyAlways)
    text = "the approver refused the request";
  refuse(403, approval::auditReason(reply.answer), text, reply.detail);
}

bool Connection::gateCredential(const sign::BoundaryRefusal& refusal) {
  if (refusal.reason != sign::reason::kPlaceholderLeak || refusal.credentialId.empty() ||
      !ctx_.approvals)
    return false;
  if (approval_.item && approval_.item->kind == approval::Kind::kCredential) return false;
  approval::Item item;
  item.kind = approval::Kind::kCredential;
  item.host = request_->host;
  item.action = requestAction_;
  item.reason = "placeholder-unauthorized";
  item.credentialId = refusal.credentialId;
  credentialRefused_ = refusal.credentialId;
  askApproval(std::move(item));
  return true;
}

void Connection::credentialAnswered(const approval::Reply& reply) {
  const approval::Answer a = reply.answer;
  if (a == approval::Answer::kNoApprover) {
    // Nobody to ask: the guard's refusal stands, as without a broker.
    refuse(403, sign::reason::kPlaceholderLeak,
           "the request carries the placeholder of credential \"" + credentialRefused_ +
               "\", which has no injection for this host; nobody can approve it",
           reply.detail);
    return;
  }
  if (!approval::allows(a)) {
    approval_.gateDenied = true;
    refuse(403, approval::auditReason(a),
           a == approval::Answer::kTimeout ? "nobody approved the credential in time"
                                           : "the approver refused the credential",
           reply.detail);
    return;
  }
  // Allowed: the injections come from the policy in force now (the control
  // plane arms the credential with a policy frame before it answers); a
  // placeholder that would still leave is refused policy-frame-missing.
  if (approval_.head) request_->head = std::move(*approval_.head);
  approval_.head.reset();
  engine_ = ctx_.engine;
  decision_ = engine_->decide(engineRequest());
  if (!decision_.allowed()) {
    refuse(403, decision_.reason, "refused by policy", decision_.detail);
    return;
  }
  if (exchangeCredentials() && state_ != State::kSignedBody) dial();
}

void Connection::rejudgeWaiting() {
  decision::Decision d = ctx_.engine->decide(engineRequest());
  const bool request = approval_.item->kind == approval::Kind::kRequest;
  engine_ = ctx_.engine;
  if (request && d.verdict == policy::Verdict::kAsk) {
    decision_ = std::move(d);  // still asked: the answer is still awaited
    return;
  }
  log::get("proxy")->info("{}: the policy changed while it waited for an approval ({})",
                          requestAction_.empty() ? action_ : requestAction_, d.reason);
  cancelApproval();
  decision_ = std::move(d);
  if (!request && approval_.head) request_->head = std::move(*approval_.head);
  approval_ = {};
  act();
  drive();
}

void Connection::cancelApproval() {
  if (approval_.ref != 0 && ctx_.approvals) ctx_.approvals->cancel(approval_.ref);
  approval_.ref = 0;
}

}  // namespace lens::proxy
