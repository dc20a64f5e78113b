#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

  [[nodiscard]] bool allowed() const { return verdict == policy::Verdict::kAllow; }
};

}  // namespace lens::decision
