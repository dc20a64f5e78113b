#include "libcommon/app/daemon.h"

#include <signal.h>

#include "libcommon/util/strings.h"

namespace lens::app {

Result<std::uint32_t> parseMark(const std::string& text) {
  const auto value = util::parseUint32(text);
  if (!value) return makeError(ErrorCode::kInvalidArgument, "invalid --mark \"" + text + "\": give a 32-bit number");
  return *value;
}

void blockDaemonSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGHUP}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Result<std::unique_ptr<audit::Sink>> openAuditSink(const std::string& spec, const std::string& stateDir) {
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

}  // namespace lens::app
