#include "libcommon/app/daemon.h"

#include <signal.h>

#include <fstream>
#include <iostream>
#include <mutex>

#include "libcommon/decision/policy_reloader.h"
#include "libcommon/util/strings.h"

namespace lens::app {

void blockDaemonSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGHUP}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Result<std::unique_ptr<audit::Sink>> openAuditSink(const std::string& spec,
                                                   const std::string& stateDir) {
  const std::string effective = spec.empty() ? "unix:" + stateDir + "/audit.sock" : spec;
  if (effective == "off") return std::unique_ptr<audit::Sink>();
  auto opened = audit::openSink(effective);
  if (!opened) return makeError(opened.error().code, "--audit: " + opened.error().message);
  return std::unique_ptr<audit::Sink>(std::make_unique<audit::RateLimitedSink>(std::move(*opened)));
}

ExitCode startupExitCode(const Error& error) {
  return error.code == ErrorCode::kInvalidArgument ? ExitCode::kUsage : exitCodeFor(error.code);
}

std::string joinAddresses(const std::vector<std::string>& addresses) {
  std::string out;
  for (const auto& a : addresses) out += (out.empty() ? "" : ", ") + a;
  return out;
}

int runDaemon(const DaemonRun& d) {
  auto fail = [&d](const std::string& message) {
    std::cerr << d.tool << ": " << message << '\n';
    return toInt(ExitCode::kFailure);
  };
  bool announced = false;
  std::mutex announceMutex;
  decision::PolicyReloader::Options reload;
  reload.path = d.policyPath;
  reload.source = d.tool;
  reload.sink = d.sink;
  reload.onApplied = [&](const std::shared_ptr<const decision::Engine>& engine) {
    d.setEngine(engine);
    std::lock_guard lock(announceMutex);
    if (announced) return;
    announced = true;
    std::cerr << d.tool << ": ready: " << d.readyText() << "; policy "
              << engine->policy()->version.substr(0, 12) << std::endl;
    if (!d.readyFile.empty()) std::ofstream(d.readyFile) << "ready\n";
  };
  decision::PolicyReloader reloader(reload);
  if (!reloader.reload("start")) {
    std::cerr << d.tool << ": no valid policy at " << reload.path << " yet: " << d.waitingNote
              << " until one is loaded\n";
  }
  if (auto ok = reloader.start(); !ok) return fail(ok.error().message);
  const Status result = d.serve();
  reloader.stop();
  std::cerr << d.statsJson() << std::endl;
  if (d.sink != nullptr && d.sink->droppedCount() != 0) {
    std::cerr << d.tool << ": " << d.sink->droppedCount()
              << " audit events could not be delivered (no listener, or it stalled)\n";
  }
  if (!result) return fail(result.error().message);
  return toInt(ExitCode::kOk);
}

}  // namespace lens::app
