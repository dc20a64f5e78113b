#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/decision/body.h"
#include "libcommon/policy/policy.h"

namespace lens::decision {

// Reason codes (audit metadata.reason). Refusals by rule or default keep the
// original's "policy-deny", which control planes key on.
namespace reason {
inline constexpr std::string_view kPolicyAllow = "policy-allow";
inline constexpr std::string_view kPolicyDeny = "policy-deny";
inline constexpr std::string_view kPolicyAsk = "policy-ask";
inline constexpr std::string_view kHttpRuleDenied = "http-rule-denied";
inline constexpr std::string_view kBinaryNotAllowed = "binary-not-allowed";
inline constexpr std::string_view kBlockedDestination = "blocked-destination";
inline constexpr std::string_view kDnsDenied = "dns-denied";
inline constexpr std::string_view kNoPolicy = "no-policy";
inline constexpr std::string_view kInvalidRequest = "invalid-request";
inline constexpr std::string_view kUnknownProtocol = "unknown-protocol";
// Body rules (original-behaviour 5.8): the body is still to be read; it is
// over the door's limit; it cannot be judged (malformed, encoded).
inline constexpr std::string_view kBodyRequired = "body-required";
inline constexpr std::string_view kBodyTooLarge = "body-too-large";
inline constexpr std::string_view kBodyMalformed = "body-malformed";
}  // namespace reason

// The reason of a decision a rule (or the default) made with verdict `v`.
[[nodiscard]] constexpr std::string_view verdictReason(policy::Verdict v) {
  switch (v) {
    case policy::Verdict::kAllow:
      return reason::kPolicyAllow;
    case policy::Verdict::kAsk:
      return reason::kPolicyAsk;
    case policy::Verdict::kDeny:
      return reason::kPolicyDeny;
  }
  return reason::kPolicyDeny;
}

enum class Table : std::uint8_t { kHttp, kTcp, kUdp };
std::string_view toString(Table table);

// The rule that decided: its table, its index in that table and its match.
struct RuleRef {
  Table table = Table::kHttp;
  std::uint32_t index = 0;
  std::string match;
};

// A credential injection that applies to the request.
struct CredentialRef {
  std::uint32_t credential = 0;  // index into PolicyDocument::credentials
  std::uint32_t injection = 0;   // index into Credential::injections
  std::string id;
  policy::InjectionType type = policy::InjectionType::kHeader;
};

struct Decision {
  policy::Verdict verdict = policy::Verdict::kDeny;
  policy::Transport transport = policy::Transport::kDirect;
  std::optional<RuleRef> rule;  // nullopt: the default (or floor / no policy)
  bool intercept = false;       // TLS must be terminated to judge or change requests
  std::vector<CredentialRef> credentials;
  std::string_view reason = reason::kPolicyDeny;
  std::string detail;  // human text for logs and explain output
  // Body rules decide and the request came without its body: the verdict is
  // deny (body-required) until the door reads the body (at most
  // BodyLimits::of(body)), classifies it and asks again with Request::body.
  BodyKind body = BodyKind::kNone;
  // A WebSocket upgrade GraphQL rules let through (a subscription or "*"
  // matcher covers its head): each client frame is judged as it comes.
  bool graphqlFrames = false;

  [[nodiscard]] bool allowed() const { return verdict == policy::Verdict::kAllow; }
};

}  // namespace lens::decision
