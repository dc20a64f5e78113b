#pragma once

#include <string_view>

namespace lens::audit {

// The reasons of approval outcomes (the original's, section 8.5 and 8.6 of
// the reference): every one is reported, never rate-limited
// (RateLimitedSink lets them through).
namespace approval_reason {
inline constexpr std::string_view kAllowedOnce = "user-allowed-once";
inline constexpr std::string_view kAllowedPersisted = "user-allowed-persisted";
inline constexpr std::string_view kDeniedOnce = "user-denied-once";
inline constexpr std::string_view kDeniedPersisted = "user-denied-persisted";
inline constexpr std::string_view kDenied = "user-denied";  // the credential gate's deny
inline constexpr std::string_view kTimeout = "decision-timeout";
inline constexpr std::string_view kNoApprover = "no-approver";
}  // namespace approval_reason

[[nodiscard]] constexpr bool isApprovalReason(std::string_view reason) {
  using namespace approval_reason;
  return reason == kAllowedOnce || reason == kAllowedPersisted || reason == kDeniedOnce ||
         reason == kDeniedPersisted || reason == kDenied || reason == kTimeout ||
         reason == kNoApprover;
}

}  // namespace lens::audit
