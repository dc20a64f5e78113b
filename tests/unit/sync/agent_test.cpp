#include "libcommon/sync/agent.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "libcommon/sync/protocol.h"
#include "libcommon/util/hash.h"

#include "tests/unit/temp_dir.h"

namespace {

using lens::sync::Agent;

using lens::test::TempDir;

using lens::test::slurp;

const std::string kGood =
    R"({"type":"policy","proxyUpstream":"http://up:3128","network":{"defaultVerdict":"deny","defaultTransport":"upstream"}})";
const std::string kBad =
    R"({"type":"policy","network":{"defaultVerdict":"maybe","defaultTransport":"upstream"}})";

}  // namespace

TEST_CASE("a policy frame is installed and acknowledged with its version", "[sync][agent]") {
  TempDir dir;
  std::vector<std::string> events;
  std::vector<std::string> installed;
  Agent::Options o;
  o.policyPath = (dir.path / "policy.json").string();
  o.emit = [&](const lens::audit::Event& e) { events.push_back(e.toJson()); };
  o.onInstalled = [&](const std::string& v) { installed.push_back(v); };
  Agent agent(o);

  const auto reply = agent.onText(kGood);
  const std::string version = lens::util::sha256Hex(kGood);
  REQUIRE(reply.frames.size() == 1);
  CHECK(reply.frames[0] == lens::sync::policyAppliedFrame(version));
  CHECK_FALSE(reply.recycle);
  CHECK(slurp(o.policyPath) == kGood);  // transport fields kept for lens-proxy
  CHECK(agent.installedVersion() == version);
  CHECK(installed == std::vector<std::string>{version});
  REQUIRE(events.size() == 1);
  CHECK(events[0].find("\"reason\":\"policy-applied\"") != std::string::npos);

  SECTION("an invalid policy is rejected with located errors; the file stays") {
    const auto rejected = agent.onText(kBad);
    REQUIRE(rejected.frames.size() == 1);
    CHECK(rejected.frames[0].rfind(
              R"({"type":"policy_rejected","version":")" + lens::util::sha256Hex(kBad) +
                  R"(","errors":["policy frame:1:46: network.defaultVerdict: unknown value)",
              0) == 0);
    CHECK(slurp(o.policyPath) == kGood);
    CHECK(agent.installedVersion() == version);
    CHECK(agent.counters().policiesRejected == 1);
  }
  SECTION("the same policy again is acknowledged without rewriting the file") {
    struct stat before {};
    REQUIRE(::stat(o.policyPath.c_str(), &before) == 0);
    const auto again = agent.onText(kGood);
    REQUIRE(again.frames.size() == 1);
    CHECK(again.frames[0] == lens::sync::policyAppliedFrame(version));
    struct stat after {};
    REQUIRE(::stat(o.policyPath.c_str(), &after) == 0);
    CHECK(before.st_ino == after.st_ino);
    CHECK(agent.counters().policiesApplied == 1);
  }
  SECTION("a policy for a newer protocol asks for a recycle and is not installed") {
    const std::string newer = R"({"type":"policy","minProtocolDate":"2999-01-01"})";
    const auto r = agent.onText(newer);
    CHECK(r.recycle);
    REQUIRE(r.frames.size() == 1);
    CHECK(r.frames[0].find("\"type\":\"policy_rejected\"") != std::string::npos);
    CHECK(r.frames[0].find("the sandbox must be recycled") != std::string::npos);
    CHECK(slurp(o.policyPath) == kGood);
  }
  SECTION("a restarted agent knows the installed version") {
    Agent restarted(o);
    restarted.loadInstalled();
    CHECK(restarted.installedVersion() == version);
  }
}

TEST_CASE("refused and ignored frames are counted", "[sync][agent]") {
  TempDir dir;
  Agent::Options o;
  o.policyPath = (dir.path / "policy.json").string();
  Agent agent(o);
  CHECK(agent.onText("{not json").frames.empty());
  CHECK(agent.onText(R"({"type":"exec_attach"})").frames.empty());
  agent.onBinary(10);
  agent.onOversized(5000, 1024);
  CHECK(agent.counters().refusedMalformed == 1);
  CHECK(agent.counters().unknownTypes == 1);
  CHECK(agent.counters().refusedBinary == 1);
  CHECK(agent.counters().refusedOversized == 1);
  CHECK(agent.counters().framesReceived == 4);
  CHECK_FALSE(std::filesystem::exists(o.policyPath));

  const auto watch = agent.onText(R"({"type":"watch","id":"w7","waitMs":0})");
  REQUIRE(watch.watch);
  CHECK(watch.watch->id == "w7");
  const std::string result = agent.watchResult("w7");
  CHECK(result.rfind(R"({"type":"watch_result","id":"w7","output":")", 0) == 0);
  CHECK(result.find("refused a binary frame of 10 bytes") != std::string::npos);
  CHECK(result.find("\"frames_refused_oversized\":1") != std::string::npos);
}

TEST_CASE("decisions go to the decision socket, or are logged when nobody listens",
          "[sync][agent]") {
  TempDir dir;
  const std::string path = (dir.path / "decision.sock").string();
  Agent::Options o;
  o.policyPath = (dir.path / "policy.json").string();
  o.decisionSocket = path;
  Agent agent(o);

  (void)agent.onText(R"({"type":"request_decision","id":"r1","decision":"deny_once"})");
  CHECK(agent.counters().decisionsLogged == 1);

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  (void)agent.onText(R"({"type":"credential_decision","id":"c1","decision":"allow","extra":1})");
  char buf[512] = {};
  const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  ::close(fd);
  REQUIRE(n > 0);
  CHECK(std::string(buf, static_cast<std::size_t>(n)) ==
        "{\"type\":\"credential_decision\",\"id\":\"c1\",\"decision\":\"allow\"}\n");
  CHECK(agent.counters().decisionsForwarded == 1);
}
