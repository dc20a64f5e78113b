#include "libcommon/sync/policy_installer.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "libcommon/util/strings.h"

namespace lens::sync {

namespace {

Error ioError(const std::string& what, int err) {
  return makeError(ErrorCode::kIo, what + ": " + std::strerror(err));
}

}  // namespace

Status writeFileAtomically(const std::string& path, std::string_view content) {
  const std::filesystem::path target(path);
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  std::string tmp = dir + "/." + target.filename().string() + ".XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return ioError("cannot create a temporary file in " + dir, errno);
  auto fail = [&](const std::string& what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return ioError(what, err);
  };
  if (::fchmod(fd, 0600) != 0) return fail("fchmod " + tmp);
  std::string_view rest = content;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write " + tmp);
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(fd) != 0) return fail("fsync " + tmp);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return ioError("close " + tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return ioError("rename " + tmp + " to " + path, err);
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return ioError("open " + dir, errno);
  const int rc = ::fsync(dfd);
  const int err = errno;
  ::close(dfd);
  if (rc != 0) return ioError("fsync " + dir, err);
  return Ok{};
}

std::vector<std::string> notifyPidfiles(const std::vector<std::string>& pidfiles) {
  std::vector<std::string> problems;
  for (const std::string& file : pidfiles) {
    std::ifstream in(file);
    std::string text;
    if (!in || !std::getline(in, text)) {
      problems.push_back(file + ": cannot read a pid");
      continue;
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\r' || text.back() == '\t')) text.pop_back();
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
