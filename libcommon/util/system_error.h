#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "libcommon/util/result.h"

namespace lens::util {

// The error of a failed system call: "WHAT: strerror(err)", kPermission for
// EPERM and EACCES (exit 5), kIo otherwise. `err` defaults to errno at the
// call.
[[nodiscard]] inline Error systemError(std::string_view what, int err = errno) {
  return makeError(err == EPERM || err == EACCES ? ErrorCode::kPermission : ErrorCode::kIo,
                   std::string(what) + ": " + std::strerror(err));
}

}  // namespace lens::util
