#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libcommon/policy/policy_parser.h"
#include "libcommon/util/result.h"

namespace lens::sync {

// The control-plane protocol (DESIGN.md section 8): JSON text frames with a
// "type". This build speaks the protocol of this date; a policy frame whose
// minProtocolDate is later cannot be applied and the sandbox must be
// recycled.
inline constexpr std::string_view kProtocolDate = "2026-05-26";

// Inbound frame types. Anything else is kUnknown (logged and ignored).
enum class FrameType { kPolicy, kWatch, kRequestDecision, kCredentialDecision, kUnknown };

// watch: {id, waitMs?}. waitMs defaults to 5000 and is capped at kMaxWatchWait.
inline constexpr std::chrono::milliseconds kDefaultWatchWait{5000};
inline constexpr std::chrono::milliseconds kMaxWatchWait{60000};

// One inbound frame that passed the structural check. Policy frames carry
// only their type here; checkPolicyFrame() validates them.
struct InboundFrame {
  FrameType type = FrameType::kUnknown;
  std::string typeName;  // as sent (for logs; at most 64 bytes kept)
  std::string id;        // watch, request_decision, credential_decision
  std::chrono::milliseconds waitMs{kDefaultWatchWait};  // watch
  std::string decision;                                 // request_decision, credential_decision
};

// Parses one text frame: strict JSON (the policy scanner's rules and
// limits), an object, a string "type", and for the known non-policy types
// their fields. Errors are kInvalidInput with a message fit for a log line.
[[nodiscard]] Result<InboundFrame> parseFrame(std::string_view text,
                                              const json::JsonLimits& limits);

// The result of validating a policy frame.
struct PolicyFrameCheck {
  std::string version;                                   // sha256 of the frame text
  std::shared_ptr<const policy::PolicyDocument> policy;  // null when rejected
  std::vector<std::string> errors;  // located: "policy frame:LINE:COL: PATH: message"
  std::vector<std::string> warnings;
  std::optional<std::string> minProtocolDate;
  bool protocolTooOld = false;  // minProtocolDate is later than kProtocolDate
  [[nodiscard]] bool ok() const { return policy != nullptr && !protocolTooOld; }
};

// Validates a policy frame with the shared policy model (transport fields
// allowed) and checks its transport fields: proxyUpstream and proxyCaCert
// must be strings, minProtocolDate a date written YYYY-MM-DD. A
// minProtocolDate later than `ourDate` sets protocolTooOld and adds an error.
// Diagnostics name `fileName` ("policy frame" for frames, the path for a file).
[[nodiscard]] PolicyFrameCheck checkPolicyFrame(std::string_view text,
                                                const json::JsonLimits& limits,
                                                std::string_view fileName = "policy frame",
                                                std::string_view ourDate = kProtocolDate);

// True for a real calendar date written YYYY-MM-DD.
[[nodiscard]] bool isProtocolDate(std::string_view text);

// Outbound frames, one JSON object each.
[[nodiscard]] std::string policyAppliedFrame(std::string_view version);
[[nodiscard]] std::string policyRejectedFrame(std::string_view version,
                                              const std::vector<std::string>& errors);
// output: recent activity, one summary per line, at most kMaxWatchOutput
// bytes (older lines give way, with a "N earlier lines skipped" marker).
inline constexpr std::size_t kMaxWatchOutput = 256 * 1024;
[[nodiscard]] std::string watchResultFrame(
    std::string_view id, const std::vector<std::string>& activity,
    const std::vector<std::pair<std::string, std::uint64_t>>& counters);

}  // namespace lens::sync
