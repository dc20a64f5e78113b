#include "libcommon/sync/backoff.h"

#include <algorithm>
#include <random>

namespace lens::sync {

Backoff::Backoff(Options options, Random random)
    : options_(options), random_(std::move(random)), step_(options.initial) {
  if (!random_) {
    random_ = [engine = std::minstd_rand(std::random_device{}())]() mutable {
      return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
    };
  }
}

Backoff::Duration Backoff::next() {
  const Duration step = step_;
  step_ = std::min(step_ * 2, options_.max);
  const double r = std::clamp(random_(), 0.0, 1.0);
  const auto half = step.count() / 2;
  return Duration(half + static_cast<Duration::rep>(r * static_cast<double>(step.count() - half)));
}

void Backoff::connectionEnded(Duration uptime) {
  if (uptime >= options_.stable) reset();
}

}  // namespace lens::sync
