#pragma once

#include <cstddef>
#include <vector>

#include "libcommon/proxy/stream.h"
#include "libcommon/util/unique_fd.h"

namespace lens::proxy {

// A kernel pipe that splice() moves a tunnel's bytes through; owns both ends.
struct Pipe {
  util::UniqueFd read;
  util::UniqueFd write;
  std::size_t fill = 0;      // bytes in the pipe
  std::size_t capacity = 0;  // bytes it can hold
  [[nodiscard]] bool open() const { return read.valid(); }
};

// The two splice() steps every zero-copy path takes (TunnelRelay's
// directions, HttpExchange's response bodies), non-blocking both:
//   - spliceIn: at most `max` bytes from socket `fd` into the pipe's room;
//     kEof at the end of the stream, kWouldBlock when the socket has
//     nothing now or the pipe is full;
//   - spliceOut: what the pipe holds into socket `fd` (all of it, or the
//     socket buffer filled up: then bytes stays below the pipe's fill);
//     kWouldBlock when the socket takes nothing now.
// `fill` follows the bytes; kError leaves errno set.
[[nodiscard]] IoResult spliceIn(Pipe& pipe, int fd, std::size_t max);
[[nodiscard]] IoResult spliceOut(Pipe& pipe, int fd);

// Empty pipes kept for the next tunnels, so that a short-lived tunnel does
// not cost two pipe2() and four close() calls. Bounded.
class PipePool {
 public:
  static constexpr std::size_t kMaxKept = 64;
  // Bytes a pipe is asked to hold (the kernel may refuse: then its default).
  static constexpr std::size_t kPipeSize = 1 << 20;

  PipePool() = default;
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // A pipe, or one that is not open() when none can be created (EMFILE).
  Pipe acquire();
  // Takes the pipe back: kept when empty and room is left, else closed.
  void release(Pipe& pipe);

 private:
  std::vector<Pipe> free_;
};

}  // namespace lens::proxy
