#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "libcommon/audit/event.h"
#include "libcommon/util/result.h"

namespace lens::approval {

// Approvals (DESIGN.md 5b): a daemon asks the broker in lens-policy-sync
// (on $STATE/approval.sock, SOCK_SEQPACKET, one JSON object per packet)
// and the broker answers from the control plane or a local program.
//
//   daemon → broker  {"op":"ask","ref":7,"kind":"request","host":"h","action":"CONNECT h:443",
//                     "reason":"policy-ask","treatment":"raw","caller":{"name":..,"pid":..,"exe":..}}
//                    {"op":"ask","ref":8,"kind":"credential","host":"h","action":"GET https://h/",
//                     "reason":"placeholder-unauthorized","credentialId":"github"}
//                    {"op":"cancel","ref":7}
//   broker → daemon  {"ref":7,"answer":"allow_once","id":"<prompt id>","detail":".."}
//
// `ref` is the daemon's own number for the ask; `id` the prompt's (shared
// by the asks it coalesced).

inline constexpr std::size_t kMaxMessage = 16 * 1024;

enum class Kind : std::uint8_t { kRequest, kCredential };

// What a daemon asks about.
struct Item {
  Kind kind = Kind::kRequest;
  std::string host;          // bare host name or address (no port, no brackets)
  std::string action;        // "CONNECT h:443", "GET https://h/path", "TRANSPARENT ip:port"
  std::string reason;        // why the policy asks: policy-ask, unknown-protocol, ...
  std::string treatment;     // request: inspected | raw | datagram
  std::string credentialId;  // credential: the placeholder's credential
  std::optional<audit::ProcessInfo> caller;  // the program that opened the connection
};

enum class Answer : std::uint8_t {
  kAllowOnce,
  kAllowAlways,
  kDenyOnce,
  kDenyAlways,
  kAllow,  // credential gate
  kDeny,   // credential gate
  kTimeout,
  kNoApprover,
};

[[nodiscard]] bool allows(Answer answer);
// The audit reason of the outcome (audit/approval.h).
[[nodiscard]] std::string_view auditReason(Answer answer);
// The word on the wire: allow_once, ..., allow, deny, timeout, no-approver.
[[nodiscard]] std::string_view word(Answer answer);
// A decision of the control plane (request_decision, credential_decision)
// or of an --approve-with program, for an item of `kind`: a request takes
// allow_once, allow_always, deny_once, deny_always (and allow / deny as
// the once forms); a credential allow or deny (and the once forms).
[[nodiscard]] std::optional<Answer> parseDecision(Kind kind, std::string_view decision);

struct Ask {
  std::uint64_t ref = 0;
  Item item;
};
struct Cancel {
  std::uint64_t ref = 0;
};
using DaemonMessage = std::variant<Ask, Cancel>;

struct Reply {
  std::uint64_t ref = 0;
  Answer answer = Answer::kNoApprover;
  std::string id;
  std::string detail;
};

[[nodiscard]] std::string encodeAsk(std::uint64_t ref, const Item& item);
[[nodiscard]] std::string encodeCancel(std::uint64_t ref);
[[nodiscard]] std::string encodeReply(const Reply& reply);
// Strict: unknown keys, missing fields, wrong types and oversized text are
// kInvalidInput with the reason.
[[nodiscard]] Result<DaemonMessage> parseDaemonMessage(std::string_view text);
[[nodiscard]] Result<Reply> parseReply(std::string_view text);

// The control-plane frame of a prompt: request_pending {id, host, action,
// reason, treatment, actor.process} or credential_pending {id,
// credentialId, action, reason}. `actor.process` (name, pid, exe of the
// caller, as in audit events) is an addition of ours: a server that does
// not know it ignores it.
[[nodiscard]] std::string pendingFrame(std::string_view id, const Item& item);

}  // namespace lens::approval
