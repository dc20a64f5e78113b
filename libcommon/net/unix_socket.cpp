#include "libcommon/net/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "libcommon/util/system_error.h"

namespace lens::net {

namespace {

Result<sockaddr_un> addressOf(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return makeError(ErrorCode::kInvalidArgument,
                     "socket path \"" + path + "\" is empty or too long");
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

}  // namespace

Result<util::UniqueFd> bindUnix(const std::string& path, int type, mode_t mode,
                                std::string_view option) {
  auto addr = addressOf(path);
  if (!addr) return addr.error();
  util::UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return util::systemError("socket(AF_UNIX)");
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return makeError(
          ErrorCode::kIo,
          path + " exists and is not a socket; remove it or choose another " + std::string(option));
    ::unlink(path.c_str());
  }
  // The mode from the start: no moment when anyone else could connect.
  const mode_t old = ::umask(static_cast<mode_t>(~mode & 0777));
  const int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
  const int err = errno;
  ::umask(old);
  if (rc != 0) return util::systemError("cannot bind " + path, err);
  if (type == SOCK_STREAM || type == SOCK_SEQPACKET) {
    if (::listen(fd.get(), 128) != 0) {
      const int e = errno;
      ::unlink(path.c_str());
      return util::systemError("listen " + path, e);
    }
  }
  return fd;
}

Result<util::UniqueFd> connectUnix(const std::string& path, int type) {
  auto addr = addressOf(path);
  if (!addr) return addr.error();
  util::UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return util::systemError("socket(AF_UNIX)");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ECONNREFUSED)
      return makeError(ErrorCode::kNotFound,
                       "nothing listens on " + path + ": " + std::strerror(err));
    return util::systemError("connect " + path, err);
  }
  return fd;
}

}  // namespace lens::net
