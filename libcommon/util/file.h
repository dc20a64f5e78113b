#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "libcommon/util/result.h"

namespace lens::util {

// Reads a whole file of at most `maxBytes` bytes (refusing a larger one
// before reading it all). Errors (ErrorCode::kIo, kLimit for the size) are
// short sentences without the path: "cannot open: No such file or
// directory", "is a directory", "file is larger than the limit of N bytes",
// "read error: ...".
[[nodiscard]] Result<std::string> readFile(const std::string& path, std::size_t maxBytes);

// Replaces `path` with `content` so that a reader sees either the old file
// or the new one, never a part: a temporary file in the same directory,
// given `mode` before anything is written, written whole, fsync'd, renamed
// over `path`, then the directory fsync'd so the rename survives a crash.
// On any failure the temporary file is removed and `path` is untouched.
[[nodiscard]] Status writeFileAtomically(const std::string& path, std::string_view content,
                                         mode_t mode = 0600);

}  // namespace lens::util
