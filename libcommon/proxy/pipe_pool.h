#pragma once

#include <cstddef>
#include <vector>

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
