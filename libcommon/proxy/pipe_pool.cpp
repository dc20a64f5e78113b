#include "libcommon/proxy/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace lens::proxy {

Pipe PipePool::acquire() {
  if (!free_.empty()) {
    Pipe p = std::move(free_.back());
    free_.pop_back();
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
  Pipe p;
  p.read.reset(fds[0]);
  p.write.reset(fds[1]);
  // Larger pipes mean fewer splice() calls per byte on bulk tunnels; the
  // pages are only taken while bytes are in flight.
  int size = ::fcntl(p.write.get(), F_SETPIPE_SZ, static_cast<int>(kPipeSize));
  if (size <= 0) size = std::max(::fcntl(p.write.get(), F_GETPIPE_SZ), 4096);
  p.capacity = static_cast<std::size_t>(size);
  return p;
}

void PipePool::release(Pipe& pipe) {
  if (!pipe.open()) return;
  if (pipe.fill == 0 && free_.size() < kMaxKept) free_.push_back(std::move(pipe));
  pipe = Pipe{};  // closes it when it was not kept
}

IoResult spliceIn(Pipe& pipe, int fd, std::size_t max) {
  const std::size_t room = std::min(max, pipe.capacity - std::min(pipe.fill, pipe.capacity));
  if (room == 0) return {IoStatus::kWouldBlock, 0};
  const ssize_t n =
      ::splice(fd, nullptr, pipe.write.get(), nullptr, room, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n > 0) {
    pipe.fill += static_cast<std::size_t>(n);
    return {IoStatus::kOk, static_cast<std::size_t>(n)};
  }
  if (n == 0) return {IoStatus::kEof, 0};
  if (errno == EAGAIN || errno == EINTR) return {IoStatus::kWouldBlock, 0};
  return {IoStatus::kError, 0};
}

IoResult spliceOut(Pipe& pipe, int fd) {
  if (pipe.fill == 0) return {IoStatus::kOk, 0};
  const ssize_t n =
      ::splice(pipe.read.get(), nullptr, fd, nullptr, pipe.fill, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n > 0) {
    pipe.fill -= static_cast<std::size_t>(n);
    return {IoStatus::kOk, static_cast<std::size_t>(n)};
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return {IoStatus::kWouldBlock, 0};
  return {IoStatus::kError, 0};
}

}  // namespace lens::proxy
