#include "libcommon/net/socket_mark.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace lens::net {

Result<MarkResult> markSocket(int fd, std::uint32_t mark) {
  if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) == 0) return MarkResult::kMarked;
  if (errno == EPERM) return MarkResult::kNotPermitted;
  return makeError(ErrorCode::kIo, std::string("setsockopt(SO_MARK): ") + std::strerror(errno));
}

}  // namespace lens::net
