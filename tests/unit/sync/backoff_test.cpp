#include "libcommon/sync/backoff.h"

#include <catch2/catch.hpp>

using lens::sync::Backoff;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("backoff doubles from 1 s to 60 s with jitter inside each step", "[sync][backoff]") {
  double r = 0.0;
  Backoff backoff({}, [&r] { return r; });
  const long steps[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000};
  for (long step : steps) {
    CHECK(backoff.step() == milliseconds(step));
    Backoff low = backoff;
    r = 0.0;
    CHECK(low.next() == milliseconds(step / 2));  // the lowest draw: half the step
    r = 0.999999;
    const auto high = backoff.next();  // the highest: never above the step
    CHECK(high <= milliseconds(step));
    CHECK(high > milliseconds(step * 9 / 10));
  }
}

TEST_CASE("backoff never exceeds 60 s and resets after a stable connection", "[sync][backoff]") {
  Backoff backoff({});
  for (int i = 0; i < 50; ++i) {
    const auto d = backoff.next();
    CHECK(d <= seconds(60));
    CHECK(d >= milliseconds(500));
  }
  CHECK(backoff.step() == seconds(60));
  backoff.connectionEnded(seconds(59));
  CHECK(backoff.step() == seconds(60));
  backoff.connectionEnded(seconds(60));
  CHECK(backoff.step() == seconds(1));
}
