#include "libcommon/util/reclaimer.h"

#include <catch2/catch.hpp>
#include <future>
#include <memory>
#include <thread>

using lens::util::Reclaimer;

namespace {

// Says on which thread it was destroyed.
struct Probe {
  explicit Probe(std::promise<std::thread::id>* d) : destroyed(d) {}
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;
  ~Probe() { destroyed->set_value(std::this_thread::get_id()); }
  std::promise<std::thread::id>* destroyed;
};

}  // namespace

TEST_CASE("Reclaimer destroys an object on its own thread, not its last owner's",
          "[util][reclaimer][reload]") {
  Reclaimer reclaimer;
  std::promise<std::thread::id> destroyed;
  auto future = destroyed.get_future();
  std::shared_ptr<const Probe> object = reclaimer.adopt(std::make_unique<const Probe>(&destroyed));
  std::shared_ptr<const Probe> second = object;
  object.reset();
  second.reset();                                     // the last owner lets go here...
  CHECK(future.get() != std::this_thread::get_id());  // ...and does not pay for it
}

TEST_CASE("Reclaimer destroys what it holds before it goes", "[util][reclaimer]") {
  constexpr int kObjects = 50;
  std::promise<std::thread::id> destroyed[kObjects];
  {
    Reclaimer reclaimer;
    for (auto& d : destroyed) (void)reclaimer.adopt(std::make_unique<const Probe>(&d));
  }
  for (auto& d : destroyed) {
    auto f = d.get_future();
    CHECK(f.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
  }
}

TEST_CASE("An object outliving its Reclaimer is destroyed by its last owner", "[util][reclaimer]") {
  std::promise<std::thread::id> destroyed;
  auto future = destroyed.get_future();
  std::shared_ptr<const Probe> object;
  {
    Reclaimer reclaimer;
    object = reclaimer.adopt(std::make_unique<const Probe>(&destroyed));
  }
  object.reset();
  REQUIRE(future.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
  CHECK(future.get() == std::this_thread::get_id());
}
