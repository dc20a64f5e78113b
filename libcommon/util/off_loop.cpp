#include "libcommon/util/off_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>

#include "libcommon/util/system_error.h"

namespace lens::util {

OffLoop::OffLoop() : notify_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!notify_) throw std::runtime_error(systemError("eventfd").message);
}

OffLoop::~OffLoop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void OffLoop::post(Job job) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(job));
    if (!worker_.joinable()) worker_ = std::thread([this] { work(); });
  }
  wake_.notify_one();
}

void OffLoop::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    Finish finish = job();
    lock.lock();
    finished_.push_back(std::move(finish));
    const std::uint64_t one = 1;
    (void)!::write(notify_.get(), &one, sizeof one);
  }
}

void OffLoop::collect() {
  std::uint64_t count = 0;
  (void)!::read(notify_.get(), &count, sizeof count);
  std::vector<Finish> ready;
  {
    std::lock_guard lock(mutex_);
    ready.swap(finished_);
  }
  for (Finish& finish : ready) {
    if (finish) finish();
  }
}

}  // namespace lens::util
