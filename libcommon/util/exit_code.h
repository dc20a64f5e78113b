#pragma once

#include "libcommon/util/result.h"

namespace lens {

// The one exit-code table of the toolkit (documented in every man page).
enum class ExitCode : int {
  kOk = 0,
  kFailure = 1,        // runtime failure
  kUsage = 2,          // bad command line
  kInvalidConfig = 3,  // invalid configuration or policy
  kDenied = 4,         // denied (or told to stop by the control plane)
  kPrivilege = 5,      // missing privilege or kernel feature
};

constexpr int toInt(ExitCode code) { return static_cast<int>(code); }

inline ExitCode exitCodeFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return ExitCode::kUsage;
    case ErrorCode::kInvalidPolicy:
      return ExitCode::kInvalidConfig;
    case ErrorCode::kDenied:
      return ExitCode::kDenied;
    case ErrorCode::kPermission:
      return ExitCode::kPrivilege;
    default:
      return ExitCode::kFailure;
  }
}

}  // namespace lens
