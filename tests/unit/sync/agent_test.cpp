#include "libcommon/sync/agent.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "libcommon/approval/broker.h"
#include "libcommon/net/unix_socket.h"
#include "libcommon/sync/protocol.h"
#include "libcommon/util/hash.h"

#include "tests/unit/temp_dir.h"

namespace {

using lens::sync::Agent;
namespace approval = lens::approval;
namespace net = lens::net;

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

TEST_CASE("decision frames answer the broker's prompts; others are logged and counted",
          "[sync][agent]") {
  TempDir dir;
  approval::Broker::Options b;
  b.path = (dir.path / "approval.sock").string();
  b.controlPlane = true;
  auto broker = approval::Broker::open(b);
  REQUIRE(broker);
  (*broker)->start();
  (*broker)->connected(true);
  Agent::Options o;
  o.policyPath = (dir.path / "policy.json").string();
  o.broker = broker->get();
  Agent agent(o);

  (void)agent.onText(R"({"type":"request_decision","id":"r1","decision":"deny_once"})");
  CHECK(agent.counters().decisionsLogged == 1);

  auto daemon = net::connectUnix(b.path, SOCK_SEQPACKET);
  REQUIRE(daemon);
  approval::Item item;
  item.host = "api.example";
  item.action = "CONNECT api.example:443";
  item.reason = "policy-ask";
  const std::string ask = approval::encodeAsk(5, item);
  REQUIRE(::send(daemon->get(), ask.data(), ask.size(), 0) == static_cast<ssize_t>(ask.size()));
  std::vector<std::string> frames;
  for (int i = 0; i < 200 && frames.empty(); ++i) {
    frames = (*broker)->takeOutbox();
    if (frames.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(frames.size() == 1);
  const std::string id = frames[0].substr(frames[0].find("\"id\":\"") + 6, 32);
  (void)agent.onText(R"({"type":"request_decision","id":")" + id +
                     R"(","decision":"allow_once","extra":1})");
  CHECK(agent.counters().decisionsForwarded == 1);
  pollfd p{daemon->get(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, 2000) == 1);
  char buf[1024];
  const ssize_t n = ::recv(daemon->get(), buf, sizeof buf, 0);
  REQUIRE(n > 0);
  auto reply = approval::parseReply(std::string_view(buf, static_cast<std::size_t>(n)));
  REQUIRE(reply);
  CHECK(reply->ref == 5);
  CHECK(reply->answer == approval::Answer::kAllowOnce);
  CHECK(reply->id == id);
  // The same id again answers nothing.
  (void)agent.onText(R"({"type":"request_decision","id":")" + id + R"(","decision":"deny_once"})");
  CHECK(agent.counters().decisionsLogged == 2);
}
