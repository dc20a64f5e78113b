#pragma once

#include <string>

#include "libcommon/util/result.h"

namespace lens::sync {

// The control-plane bearer token: from `tokenFile` when given, otherwise
// from `envToken` (LENS_TOKEN); never from a command-line argument, which
// other users can read in /proc. Surrounding whitespace (a trailing newline)
// is removed. Errors name where the token was looked for, never the token:
// kInvalidArgument when neither is given, kIo when the file cannot be read,
// kInvalidInput when the token is empty, longer than 8 KiB, or holds bytes
// that cannot go into an HTTP header (controls, spaces, non-ASCII).
[[nodiscard]] Result<std::string> loadToken(const std::string& tokenFile, const char* envToken);

}  // namespace lens::sync
