#pragma once

#include <cstddef>
#include <string>

#include "libcommon/util/result.h"

namespace lens::util {

// Reads a whole file of at most `maxBytes` bytes (refusing a larger one
// before reading it all). Errors (ErrorCode::kIo, kLimit for the size) are
// short sentences without the path: "cannot open: No such file or
// directory", "is a directory", "file is larger than the limit of N bytes",
// "read error: ...".
[[nodiscard]] Result<std::string> readFile(const std::string& path, std::size_t maxBytes);

}  // namespace lens::util
