#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "libcommon/util/unique_fd.h"

namespace lens::util {

// Work an event loop must not wait for (minting a certificate, scanning
// /proc), done on a worker thread of its own. A job runs on the worker and
// returns what is to be done with its result on the loop's thread: that
// runs from collect(), which the loop calls when notifyFd() is readable.
// Jobs run one at a time, in the order posted; the worker starts with the
// first job and stops (finishing the job in hand) when the OffLoop goes.
class OffLoop {
 public:
  using Finish = std::function<void()>;  // runs on the loop's thread
  using Job = std::function<Finish()>;   // runs on the worker

  OffLoop();
  ~OffLoop();
  OffLoop(const OffLoop&) = delete;
  OffLoop& operator=(const OffLoop&) = delete;

  void post(Job job);
  // Readable (an eventfd) when finished jobs wait for collect().
  [[nodiscard]] int notifyFd() const { return notify_.get(); }
  // Runs what the finished jobs returned, in order.
  void collect();

 private:
  void work();

  UniqueFd notify_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  std::vector<Finish> finished_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace lens::util
