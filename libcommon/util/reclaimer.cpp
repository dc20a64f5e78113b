#include "libcommon/util/reclaimer.h"

namespace lens::util {

void Reclaimer::Queue::push(std::shared_ptr<const void>&& object) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    items_.push_back(std::move(object));
  }
  ready_.notify_one();
}

void Reclaimer::Queue::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  ready_.notify_one();
}

bool Reclaimer::Queue::pop(std::shared_ptr<const void>& object) {
  std::unique_lock lock(mutex_);
  ready_.wait(lock, [this] { return closed_ || !items_.empty(); });
  if (items_.empty()) return false;
  object = std::move(items_.front());
  items_.pop_front();
  return true;
}

Reclaimer::Reclaimer() : queue_(std::make_shared<Queue>()) {
  thread_ = std::thread([queue = queue_] {
    std::shared_ptr<const void> object;
    while (queue->pop(object)) object.reset();  // the destruction, outside the lock
  });
}

Reclaimer::~Reclaimer() {
  queue_->close();
  thread_.join();
}

}  // namespace lens::util
