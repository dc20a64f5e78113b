// The credentials stage of a request (libcommon/sign/boundary.h), as a
// Connection runs it between the decision and the origin.
#include <chrono>

#include "libcommon/proxy/bridge.h"
#include "libcommon/proxy/connection.h"
#include "libcommon/proxy/reply.h"

namespace lens::proxy {

bool Connection::exchangeCredentials() {
  // A forward bridge authenticates with its client certificate: what the
  // sandbox sends as Authorization stays here (the stage below may still
  // inject a configured one).
  if (bridge()) request_->head.removeHeaders("authorization");
  const auto& policy = engine_->policy();
  if (!policy || !sign::hasCredentials(*policy)) return true;
  // The credential gate may ask about a placeholder the guard refuses, and
  // run the stage again once allowed, on the head as it came: kept when
  // this host has injections that change it (without any, the stage leaves
  // the head as it is).
  if (ctx_.approvals && !approval_.answer && !decision_.credentials.empty())
    approval_.head = request_->head;
  boundary_.emplace(*engine_, engineRequest(), sign::BoundaryLimits{ctx_.options.maxSignedBody});
  if (!boundary_->begin(request_->head)) return refuseCredentials();
  request_->originTarget = request_->head.target;
  if (boundary_->needsBody()) {
    enter(State::kSignedBody);
    deadline_ = ctx_.now + ctx_.options.headerTimeout;
    return true;
  }
  return finishCredentials();
}

const policy::ForwardBridge* Connection::bridge() const {
  return mitm_ && decided_ && engine_ ? bridgeOf(*engine_, decision_) : nullptr;
}

bool Connection::finishCredentials() {
  const std::string_view body = boundary_->needsBody()
                                    ? std::string_view(in_).substr(0, boundary_->bodyLength())
                                    : std::string_view();
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  if (!boundary_->finish(request_->head, body, now)) return refuseCredentials();
  credentialReport_ = boundary_->report();
  if (const auto& answer = boundary_->answer()) {
    answerLocally(*answer);
    return false;
  }
  request_->originTarget = request_->head.target;  // a presigned request's query signed again
  return true;
}

// The stage answered the request itself (an OAuth token request): the
// form it read is consumed, and the connection goes on as after any
// response.
void Connection::answerLocally(const sign::TokenAnswer& answer) {
  in_.erase(0, boundary_->bodyLength());
  ++ctx_.stats.allowed;
  const bool keep = request_->keepAlive && !ctx_.draining;
  out_.append(tokenReply(answer.status, answer.body, keep));
  emitDecision(answer.status == 200 ? audit::Outcome::kSuccess : audit::Outcome::kFailure,
               answer.status, decision_.reason,
               "an OAuth client-credentials token request, answered by the proxy");
  answered(keep);
}

bool Connection::refuseCredentials() {
  const sign::BoundaryRefusal& r = boundary_->refusal();
  credentialReport_ = boundary_->report();
  credentialRefused_ = r.credentialId;
  if (gateCredential(r)) return false;  // asked; the answer goes on
  if (r.reason == sign::reason::kPlaceholderLeak && approval_.answer &&
      approval::allows(*approval_.answer)) {
    // Allowed by the gate, and the policy in force still has no injection.
    refuse(403, reason::kPolicyFrameMissing,
           "the credential was approved, but no policy arms it for this host yet", r.text);
    return false;
  }
  refuse(r.status, r.reason, r.text);
  return false;
}

// The body a re-signature covers arrives before anything goes to the
// origin (bounded by --max-signed-body, which begin() checked).
void Connection::readSignedBody() {
  while (in_.size() < boundary_->bodyLength()) {
    const ClientRead r = readClient(boundary_->bodyLength() - in_.size());
    if (r == ClientRead::kWait) return;
    if (r == ClientRead::kEnd) {
      close("client-closed-mid-body", true);
      return;
    }
  }
  if (finishCredentials()) dial();
}

}  // namespace lens::proxy
