#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "libcommon/audit/sink.h"
#include "libcommon/decision/engine.h"
#include "libcommon/util/exit_code.h"
#include "libcommon/util/result.h"

namespace lens::app {

// Helpers the daemons (lens-dns, lens-proxy) share.

// Blocks SIGTERM, SIGINT, SIGUSR1 and SIGHUP in the calling thread before
// any other starts, so every thread inherits the mask and the signals are
// taken only through the daemon's signalfds.
void blockDaemonSignals();

// The --audit sink: `spec` empty means unix:STATE_DIR/audit.sock, "off"
// means none (a null sink). Repeated identical failures are counted rather
// than repeated (RateLimitedSink). The error message names --audit.
[[nodiscard]] Result<std::unique_ptr<audit::Sink>> openAuditSink(const std::string& spec,
                                                                 const std::string& stateDir);

// The exit status for a server that could not start: a bad address is a
// usage error, the rest by their error code.
[[nodiscard]] ExitCode startupExitCode(const Error& error);

// "a, b, c".
[[nodiscard]] std::string joinAddresses(const std::vector<std::string>& addresses);

// The life of a daemon once its server is built: load the policy and keep
// it current (inotify, SIGHUP), hand every new engine to the server, say
// "TOOL: ready: ..." on standard error and create the ready file with the
// first policy, run the server until it stops, print its statistics.
struct DaemonRun {
  std::string tool;  // "lens-proxy"
  std::string policyPath;
  audit::Sink* sink = nullptr;
  std::string readyFile;    // empty: none
  std::string waitingNote;  // what happens until a policy arrives ("every request is answered 503")
  std::function<void(std::shared_ptr<const decision::Engine>)> setEngine;
  std::function<std::string()> readyText;  // after "TOOL: ready: ", before "; policy VERSION"
  std::function<Status()> serve;
  std::function<std::string()> statsJson;
};
[[nodiscard]] int runDaemon(const DaemonRun& daemon);

}  // namespace lens::app
