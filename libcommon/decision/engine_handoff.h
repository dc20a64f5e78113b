#pragma once

#include <memory>
#include <mutex>

#include "libcommon/decision/engine.h"
#include "libcommon/util/result.h"
#include "libcommon/util/unique_fd.h"

namespace lens::decision {

// Hands the engine of a new policy from any thread to an event loop:
// post() keeps the engine posted last and makes fd() readable; the loop,
// when fd() is readable, calls take(). wake() makes fd() readable without
// an engine (a stop request).
class EngineHandoff {
 public:
  EngineHandoff() = default;
  EngineHandoff(const EngineHandoff&) = delete;
  EngineHandoff& operator=(const EngineHandoff&) = delete;

  [[nodiscard]] Status open();  // the eventfd behind fd()
  [[nodiscard]] int fd() const { return fd_.get(); }

  void post(std::shared_ptr<const Engine> engine);  // any thread
  void wake();                                      // any thread
  // Drains fd(); the engine posted since the last take, or null.
  [[nodiscard]] std::shared_ptr<const Engine> take();

 private:
  util::UniqueFd fd_;
  std::mutex mutex_;
  std::shared_ptr<const Engine> pending_;
};

}  // namespace lens::decision
