#include "libcommon/sync/policy_installer.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "libcommon/util/strings.h"

namespace lens::sync {

std::vector<std::string> notifyPidfiles(const std::vector<std::string>& pidfiles) {
  std::vector<std::string> problems;
  for (const std::string& file : pidfiles) {
    std::ifstream in(file);
    std::string text;
    if (!in || !std::getline(in, text)) {
      problems.push_back(file + ": cannot read a pid");
      continue;
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\r' || text.back() == '\t'))
      text.pop_back();
    const auto pid = util::parseDecimal(text, 4194304);  // PID_MAX_LIMIT
    if (!pid || *pid < 2) {
      problems.push_back(file + ": \"" + text.substr(0, 32) + "\" is not a pid");
      continue;
    }
    if (::kill(static_cast<pid_t>(*pid), SIGHUP) != 0) {
      problems.push_back(file + ": cannot signal pid " + text + ": " + std::strerror(errno));
    }
  }
  return problems;
}

}  // namespace lens::sync
