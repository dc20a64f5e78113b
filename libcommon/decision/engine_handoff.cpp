#include "libcommon/decision/engine_handoff.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

#include "libcommon/util/system_error.h"

namespace lens::decision {

Status EngineHandoff::open() {
  fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd_) return util::systemError("eventfd");
  return Ok{};
}

void EngineHandoff::post(std::shared_ptr<const Engine> engine) {
  {
    std::lock_guard lock(mutex_);
    pending_ = std::move(engine);
  }
  wake();
}

void EngineHandoff::wake() {
  const std::uint64_t one = 1;
  (void)!::write(fd_.get(), &one, sizeof one);
}

std::shared_ptr<const Engine> EngineHandoff::take() {
  std::uint64_t drained = 0;
  (void)!::read(fd_.get(), &drained, sizeof drained);
  std::lock_guard lock(mutex_);
  return std::exchange(pending_, nullptr);
}

}  // namespace lens::decision
