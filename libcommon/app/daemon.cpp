#include "libcommon/app/daemon.h"

#include <signal.h>

#include <charconv>
#include <string_view>

namespace lens::app {

Result<std::uint32_t> parseMark(const std::string& text) {
  std::string_view digits = text;
  int base = 10;
  if (digits.starts_with("0x") || digits.starts_with("0X")) {
    digits.remove_prefix(2);
    base = 16;
  }
  std::uint32_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
    return makeError(ErrorCode::kInvalidArgument, "invalid --mark \"" + text + "\": give a 32-bit number");
  }
  return value;
}

void blockDaemonSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGHUP}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace lens::app
