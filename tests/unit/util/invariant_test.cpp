// LENS_INVARIANT stays on in every build and stops the process with where
// and what; a holding one costs nothing visible.
#include "libcommon/util/invariant.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <csignal>
#include <string>
#include <utility>

namespace {

// Runs `body` in a child with stderr on a pipe: its wait status and what it wrote.
template <class Body>
std::pair<int, std::string> inChild(Body body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], STDERR_FILENO);
    body();
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buffer[512];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0)
    out.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return {status, out};
}

}  // namespace

TEST_CASE("a broken invariant stops the process saying where and what", "[util][invariant]") {
  const auto [status, err] = inChild([] {
    const int answers = 0;
    LENS_INVARIANT(answers > 0, "a resolved name has an address");
  });
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  CHECK(err.find("lens: invariant broken at ") == 0);
  CHECK(err.find("invariant_test.cpp:") != std::string::npos);
  CHECK(err.find("a resolved name has an address (answers > 0); stopping") != std::string::npos);
}

TEST_CASE("a holding invariant lets the process go on", "[util][invariant]") {
  const auto [status, err] = inChild([] { LENS_INVARIANT(1 + 1 == 2, "arithmetic"); });
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(err.empty());
}
