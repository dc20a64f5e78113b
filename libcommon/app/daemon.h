#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "libcommon/audit/sink.h"
#include "libcommon/util/exit_code.h"
#include "libcommon/util/result.h"

namespace lens::app {

// Helpers the daemons (lens-dns, lens-proxy) share.

// A socket mark given as decimal or 0x-hex ("0x4e585553").
[[nodiscard]] Result<std::uint32_t> parseMark(const std::string& text);

// Blocks SIGTERM, SIGINT, SIGUSR1 and SIGHUP in the calling thread before
// any other starts, so every thread inherits the mask and the signals are
// taken only through the daemon's signalfds.
void blockDaemonSignals();

// The --audit sink: `spec` empty means unix:STATE_DIR/audit.sock, "off"
// means none (a null sink). Repeated identical failures are counted rather
// than repeated (RateLimitedSink). The error message names --audit.
[[nodiscard]] Result<std::unique_ptr<audit::Sink>> openAuditSink(const std::string& spec, const std::string& stateDir);

// The exit status for a server that could not start: a bad address is a
// usage error, the rest by their error code.
[[nodiscard]] ExitCode startupExitCode(const Error& error);

// "a, b, c".
[[nodiscard]] std::string joinAddresses(const std::vector<std::string>& addresses);

}  // namespace lens::app
