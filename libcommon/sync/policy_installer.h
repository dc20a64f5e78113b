#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "libcommon/util/result.h"

namespace lens::sync {

// Replaces `path` with `content` so that a reader sees either the old file
// or the new one, never a part: a temporary file in the same directory,
// written whole, fsync'd, renamed over `path`, then the directory fsync'd so
// the rename survives a crash. Mode 0600 (a policy can hold credentials).
// On any failure the temporary file is removed and `path` is untouched.
[[nodiscard]] Status writeFileAtomically(const std::string& path, std::string_view content);

// Sends SIGHUP to the pid written in each file. Returns one message per
// file that could not be used (missing, not a pid, no such process); the
// others are signalled.
[[nodiscard]] std::vector<std::string> notifyPidfiles(const std::vector<std::string>& pidfiles);

}  // namespace lens::sync
