#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace lens::sync {

// Reconnect delays: exponential from `initial` to `max`, each drawn
// uniformly from the upper half of its step ("equal jitter": step/2 ..
// step), so a fleet restarted together spreads out while no delay exceeds
// the bound. A connection that stayed up for `stable` resets the sequence.
class Backoff {
 public:
  using Duration = std::chrono::milliseconds;
  // Returns a number in [0, 1).
  using Random = std::function<double()>;

  struct Options {
    Duration initial = std::chrono::seconds(1);
    Duration max = std::chrono::seconds(60);
    Duration stable = std::chrono::seconds(60);
  };

  explicit Backoff(Options options, Random random = {});

  // The delay before the next attempt; advances the sequence.
  [[nodiscard]] Duration next();
  // The bound of the next delay (the current step).
  [[nodiscard]] Duration step() const { return step_; }
  // A connection ended after it was up for `uptime`.
  void connectionEnded(Duration uptime);
  void reset() { step_ = options_.initial; }

 private:
  Options options_;
  Random random_;
  Duration step_;
};

}  // namespace lens::sync
