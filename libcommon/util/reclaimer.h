#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace lens::util {

// Destroys shared objects on a thread of its own. An event loop that drops
// the last reference to a decision engine of 100,000 rules would otherwise
// stop serving for the tens of milliseconds freeing it takes (more when
// another thread allocates at the same time). adopt() gives the object a
// deleter that hands it here, from whatever thread lets go of it last.
// Once the Reclaimer is gone (shutdown), a late last owner destroys the
// object itself.
class Reclaimer {
 public:
  Reclaimer();
  ~Reclaimer();  // destroys what is queued, then joins the thread
  Reclaimer(const Reclaimer&) = delete;
  Reclaimer& operator=(const Reclaimer&) = delete;

  template <class T>
  std::shared_ptr<const T> adopt(std::unique_ptr<const T> object) {
    std::weak_ptr<Queue> queue = queue_;
    return std::shared_ptr<const T>(object.release(), [queue](const T* p) {
      std::shared_ptr<const void> owned(p, std::default_delete<const T>());
      if (auto q = queue.lock()) q->push(std::move(owned));
      // Not taken (the Reclaimer is stopping or gone): `owned` frees it here.
    });
  }

 private:
  class Queue {
   public:
    // Takes the last reference to `object` unless the queue is closed (then
    // the caller's reference stays the last one).
    void push(std::shared_ptr<const void>&& object);
    void close();
    bool pop(std::shared_ptr<const void>& object);  // false once closed and empty

   private:
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::shared_ptr<const void>> items_;
    bool closed_ = false;
  };

  std::shared_ptr<Queue> queue_;
  std::thread thread_;
};

}  // namespace lens::util
