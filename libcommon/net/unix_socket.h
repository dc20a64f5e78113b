#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "libcommon/util/result.h"
#include "libcommon/util/unique_fd.h"

namespace lens::net {

// A Unix socket of `type` (SOCK_DGRAM, SOCK_SEQPACKET, ...; close-on-exec
// and non-blocking) bound at `path` with the permissions `mode` (0600: the
// owner only). A socket left at `path` by an earlier run is replaced; any
// other file there is an error (kIo, saying so and naming `option`, the
// setting that chose the path). A listening type listens.
[[nodiscard]] Result<util::UniqueFd> bindUnix(const std::string& path, int type, mode_t mode,
                                              std::string_view option);

// A non-blocking, close-on-exec client of the Unix socket at `path`.
// kNotFound when nothing listens there (no file, or refused).
[[nodiscard]] Result<util::UniqueFd> connectUnix(const std::string& path, int type);

}  // namespace lens::net
