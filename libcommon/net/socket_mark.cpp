#include "libcommon/net/socket_mark.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "libcommon/util/strings.h"

namespace lens::net {

Result<MarkResult> markSocket(int fd, std::uint32_t mark) {
  if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) == 0) return MarkResult::kMarked;
  if (errno == EPERM) return MarkResult::kNotPermitted;
  return makeError(ErrorCode::kIo, std::string("setsockopt(SO_MARK): ") + std::strerror(errno));
}

Result<std::uint32_t> parseMark(std::string_view option, const std::string& text) {
  const auto value = util::parseUint32(text);
  if (!value) {
    return makeError(ErrorCode::kInvalidArgument,
                     "invalid " + std::string(option) + " \"" + text +
                         "\": give a 32-bit number (0x4e585553 or 1314411859)");
  }
  return *value;
}

void growSocketBuffers(int fd, int bytes) {
  for (auto [force, plain] :
       {std::pair{SO_RCVBUFFORCE, SO_RCVBUF}, std::pair{SO_SNDBUFFORCE, SO_SNDBUF}}) {
    if (::setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof bytes) != 0) {
      (void)::setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes);
    }
  }
}

}  // namespace lens::net
