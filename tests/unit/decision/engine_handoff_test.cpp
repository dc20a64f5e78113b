#include "libcommon/decision/engine_handoff.h"

#include <poll.h>

#include <catch2/catch.hpp>
#include <thread>

namespace {

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

}  // namespace

TEST_CASE("EngineHandoff gives the loop the engine posted last, once", "[decision][handoff]") {
  lens::decision::EngineHandoff handoff;
  REQUIRE(handoff.open().ok());
  CHECK_FALSE(readable(handoff.fd()));
  CHECK(handoff.take() == nullptr);

  auto first = std::make_shared<const lens::decision::Engine>(nullptr);
  auto second = std::make_shared<const lens::decision::Engine>(nullptr);
  std::thread poster([&] {
    handoff.post(first);
    handoff.post(second);
  });
  poster.join();
  CHECK(readable(handoff.fd()));
  CHECK(handoff.take() == second);
  CHECK_FALSE(readable(handoff.fd()));
  CHECK(handoff.take() == nullptr);

  handoff.wake();  // a stop request: readable, no engine
  CHECK(readable(handoff.fd()));
  CHECK(handoff.take() == nullptr);
  CHECK_FALSE(readable(handoff.fd()));
}
