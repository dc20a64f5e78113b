#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "libcommon/util/result.h"

namespace lens::sync {

// Sends SIGHUP to the pid written in each file. Returns one message per
// file that could not be used (missing, not a pid, no such process); the
// others are signalled.
[[nodiscard]] std::vector<std::string> notifyPidfiles(const std::vector<std::string>& pidfiles);

}  // namespace lens::sync
