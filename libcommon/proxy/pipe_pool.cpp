#include "libcommon/proxy/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

namespace lens::proxy {

PipePool::~PipePool() {
  for (Pipe& p : free_) {
    ::close(p.read);
    ::close(p.write);
  }
}

Pipe PipePool::acquire() {
  if (!free_.empty()) {
    Pipe p = free_.back();
    free_.pop_back();
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
  // Larger pipes mean fewer splice() calls per byte on bulk tunnels; the
  // pages are only taken while bytes are in flight.
  int size = ::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(kPipeSize));
  if (size <= 0) size = std::max(::fcntl(fds[1], F_GETPIPE_SZ), 4096);
  return Pipe{fds[0], fds[1], 0, static_cast<std::size_t>(size)};
}

void PipePool::release(Pipe& pipe) {
  if (!pipe.open()) return;
  if (pipe.fill == 0 && free_.size() < kMaxKept) {
    free_.push_back(pipe);
  } else {
    ::close(pipe.read);
    ::close(pipe.write);
  }
  pipe = Pipe{};
}

}  // namespace lens::proxy
