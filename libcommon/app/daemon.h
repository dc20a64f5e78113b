#pragma once

#include <cstdint>
#include <string>

#include "libcommon/util/result.h"

namespace lens::app {

// Helpers the daemons (lens-dns, lens-proxy) share.

// A socket mark given as decimal or 0x-hex ("0x4e585553").
[[nodiscard]] Result<std::uint32_t> parseMark(const std::string& text);

// Blocks SIGTERM, SIGINT, SIGUSR1 and SIGHUP in the calling thread before
// any other starts, so every thread inherits the mask and the signals are
// taken only through the daemon's signalfds.
void blockDaemonSignals();

}  // namespace lens::app
