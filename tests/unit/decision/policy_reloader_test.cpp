#include "libcommon/decision/policy_reloader.h"

#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "libcommon/audit/sink.h"

namespace {

using lens::decision::Door;
using lens::decision::PolicyReloader;
using lens::decision::Request;
using lens::policy::Verdict;

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "lens-reload-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// Replaces the file the way writers must: write a temp file, then rename.
void atomicWrite(const std::filesystem::path& file, const std::string& text) {
  const auto tmp = file.string() + ".tmp";
  std::ofstream(tmp) << text;
  std::filesystem::rename(tmp, file);
}

std::string allowOnly(const std::string& host) {
  return R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct",
             "egress": {"http": [{"match": ")" +
         host + R"(", "verdict": "allow", "transport": "direct"}]}}})";
}

Verdict verdictFor(const PolicyReloader& r, const std::string& host) {
  Request req;
  req.door = Door::kConnect;
  req.host = host;
  req.port = 443;
  return r.engine()->decide(req).verdict;
}

// Waits until the sink holds `count` events (the watcher runs in its own thread).
bool waitForEvents(const lens::audit::RecordingSink& sink, std::size_t count) {
  for (int i = 0; i < 500 && sink.size() < count; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return sink.size() >= count;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("before the first good policy everything is denied with no-policy", "[policy][reload]") {
  TempDir dir;
  lens::audit::RecordingSink sink;
  PolicyReloader reloader({(dir.path / "policy.json").string(), "test", &sink, false, {}});
  CHECK_FALSE(reloader.reload("startup"));
  CHECK_FALSE(reloader.ready());
  Request req;
  req.host = "example.com";
  const auto d = reloader.engine()->decide(req);
  CHECK(d.verdict == Verdict::kDeny);
  CHECK(d.reason == "no-policy");
  REQUIRE(sink.size() == 1);
  CHECK(contains(sink.lines()[0], "\"reason\":\"policy-rejected\""));
}

TEST_CASE("reloader accepts the transport fields lens-policy-sync keeps with the policy",
          "[policy][reload]") {
  TempDir dir;
  const auto file = dir.path / "policy.json";
  atomicWrite(file, R"({"type": "policy", "proxyUpstream": "http://proxy.example:3128",
                        "proxyCaCert": "-----BEGIN CERTIFICATE-----", "minProtocolDate": "2026-01-01",
                        "network": {"defaultVerdict": "deny", "defaultTransport": "direct"}})");
  lens::audit::RecordingSink sink;
  PolicyReloader reloader({file.string(), "test", &sink, false, {}});
  REQUIRE(reloader.reload("startup"));
  CHECK(reloader.ready());
  REQUIRE(sink.size() == 1);
  CHECK(contains(sink.lines()[0], "\"reason\":\"policy-applied\""));
}

TEST_CASE("reloader applies, rejects and keeps the last good policy", "[policy][reload]") {
  TempDir dir;
  const auto file = dir.path / "policy.json";
  atomicWrite(file, allowOnly("a.example"));
  lens::audit::RecordingSink sink;
  PolicyReloader reloader({file.string(), "test", &sink, true, {}});
  REQUIRE(reloader.reload("startup"));
  CHECK(reloader.ready());
  CHECK(verdictFor(reloader, "a.example") == Verdict::kAllow);
  REQUIRE(sink.size() == 1);
  const std::string applied = sink.lines()[0];
  CHECK(contains(applied, "\"reason\":\"policy-applied\""));
  CHECK(contains(applied, "\"policy_version\":\"" + reloader.engine()->policy()->version + "\""));
  REQUIRE(reloader.start().ok());

  SECTION("a new valid file replaces the policy") {
    atomicWrite(file, allowOnly("b.example"));
    REQUIRE(waitForEvents(sink, 2));
    CHECK(contains(sink.lines()[1], "\"reason\":\"policy-applied\""));
    CHECK(contains(sink.lines()[1], "\"trigger\":\"file-changed\""));
    CHECK(verdictFor(reloader, "b.example") == Verdict::kAllow);
    CHECK(verdictFor(reloader, "a.example") == Verdict::kDeny);
  }

  SECTION("an invalid file is rejected with located errors and the old policy stays") {
    atomicWrite(file, R"({"network": {"defaultVerdict": "alow", "defaultTransport": "direct"}})");
    REQUIRE(waitForEvents(sink, 2));
    const std::string rejected = sink.lines()[1];
    CHECK(contains(rejected, "\"reason\":\"policy-rejected\""));
    CHECK(contains(rejected, "\"result\":\"failure\""));
    CHECK(
        contains(rejected, "policy.json:1:32: network.defaultVerdict: unknown value \\\"alow\\\""));
    CHECK(verdictFor(reloader, "a.example") == Verdict::kAllow);
    CHECK(reloader.ready());

    SECTION("SIGHUP re-reads the file and reports again") {
      REQUIRE(::kill(::getpid(), SIGHUP) == 0);
      REQUIRE(waitForEvents(sink, 3));
      CHECK(contains(sink.lines()[2], "\"trigger\":\"sighup\""));
      CHECK(verdictFor(reloader, "a.example") == Verdict::kAllow);
    }
  }

  SECTION("removing the file keeps the policy in force") {
    std::filesystem::remove(file);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(verdictFor(reloader, "a.example") == Verdict::kAllow);
    CHECK(sink.size() == 1);
  }

  SECTION("rewriting identical content emits nothing") {
    atomicWrite(file, allowOnly("a.example"));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(sink.size() == 1);
  }
  reloader.stop();
}
