#include "libcommon/sync/policy_installer.h"
#include "libcommon/util/file.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/unit/temp_dir.h"

namespace {

using lens::test::TempDir;

using lens::test::slurp;

}  // namespace

TEST_CASE("writeFileAtomically replaces the file whole, mode 0600, no temporary left",
          "[sync][install]") {
  TempDir dir;
  const auto file = dir.path / "policy.json";
  std::ofstream(file) << "old";
  REQUIRE(lens::util::writeFileAtomically(file.string(), "new content").ok());
  CHECK(slurp(file) == "new content");
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path)) ++entries;
  CHECK(entries == 1);
}

TEST_CASE("writeFileAtomically fails cleanly and leaves the old file", "[sync][install]") {
  TempDir dir;
  const auto file = dir.path / "missing-dir" / "policy.json";
  auto s = lens::util::writeFileAtomically(file.string(), "x");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == lens::ErrorCode::kIo);
  CHECK(s.error().message.find("cannot create a temporary file in") == 0);

  // The target is a directory: rename fails, nothing is left behind.
  const auto target = dir.path / "target";
  std::filesystem::create_directories(target / "child");
  REQUIRE_FALSE(lens::util::writeFileAtomically(target.string(), "x").ok());
  CHECK(std::filesystem::is_directory(target / "child"));
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path)) ++entries;
  CHECK(entries == 1);
}

TEST_CASE("notifyPidfiles sends SIGHUP and reports unusable pidfiles", "[sync][install]") {
  TempDir dir;
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Other tests block SIGHUP in this process (the policy reloader): undo it.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    ::signal(SIGHUP, SIG_DFL);
    ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
    while (true) ::pause();  // SIGHUP's default action ends it
  }
  std::ofstream(dir.path / "good.pid") << child << "\n";
  std::ofstream(dir.path / "bad.pid") << "nope\n";
  const auto problems =
      lens::sync::notifyPidfiles({(dir.path / "good.pid").string(), (dir.path / "bad.pid").string(),
                                  (dir.path / "absent.pid").string()});
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGHUP);
  REQUIRE(problems.size() == 2);
  CHECK(problems[0] == (dir.path / "bad.pid").string() + ": \"nope\" is not a pid");
  CHECK(problems[1] == (dir.path / "absent.pid").string() + ": cannot read a pid");
}
