#include "libcommon/sync/audit_intake.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "libcommon/audit/event.h"

#include "tests/unit/temp_dir.h"

namespace {

using lens::test::TempDir;

}  // namespace

TEST_CASE("acceptAuditLine inserts the id and keeps the event as sent", "[sync][intake]") {
  const std::string line =
      lens::audit::Event("lens-dns", "DNS example.com").meta("reason", "dns-denied").toJson() +
      "\n";
  auto record = lens::sync::acceptAuditLine(line, "abc-1");
  REQUIRE(record.ok());
  CHECK(*record == "{\"id\":\"abc-1\"," + line.substr(1, line.size() - 2));
}

TEST_CASE("acceptAuditLine flattens whitespace newlines onto one line", "[sync][intake]") {
  auto record = lens::sync::acceptAuditLine(
      "{\n \"type\": \"audit_event\",\r\n \"source\": \"s\", \"action\": \"a\"\n}\n", "x-2");
  REQUIRE(record.ok());
  CHECK(record->find('\n') == std::string::npos);
  CHECK(*record == R"({"id":"x-2",  "type": "audit_event",   "source": "s", "action": "a" })");
}

TEST_CASE("acceptAuditLine refuses malformed lines", "[sync][intake]") {
  struct Case {
    std::string text;
    const char* message;
  };
  const Case cases[] = {
      {"", "empty line"},
      {"hello", "not JSON: 1:1: "},
      {"[1]", "not a JSON object"},
      {R"({"type":"policy","source":"s","action":"a"})", "\"type\" is not \"audit_event\""},
      {R"({"type":"audit_event","action":"a"})", "no \"source\""},
      {R"({"type":"audit_event","source":"s","action":""})", "no \"action\""},
      {R"({"type":"audit_event","source":"s","action":"a","id":"forged"})",
       "\"id\" is assigned by lens-policy-sync"},
      {R"({"type":"audit_event","source":"s","action":"a"} trailing)", "not JSON: "},
      {std::string(lens::sync::kMaxAuditLine + 1, ' '), "line longer than"},
  };
  for (const Case& c : cases) {
    INFO(c.text.substr(0, 80));
    auto record = lens::sync::acceptAuditLine(c.text, "i-1");
    REQUIRE_FALSE(record.ok());
    CHECK(record.error().message.rfind(c.message, 0) == 0);
  }
}

TEST_CASE("event ids are unique within and across instances", "[sync][intake]") {
  lens::sync::EventIds a;
  lens::sync::EventIds b;
  CHECK(a.instance() != b.instance());
  CHECK(a.instance().size() == 16);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    CHECK(seen.insert(a.next()).second);
    CHECK(seen.insert(b.next()).second);
  }
}

TEST_CASE("AuditIntake receives datagrams in order, counts malformed ones", "[sync][intake]") {
  TempDir dir;
  const std::string path = (dir.path / "audit.sock").string();
  lens::sync::EventIds ids;
  std::mutex mutex;
  std::vector<std::string> got;
  lens::sync::AuditIntake::Options o;
  o.path = path;
  o.ids = &ids;
  o.onRecords = [&](std::vector<std::string>&& records) {
    std::lock_guard lock(mutex);
    got.insert(got.end(), records.begin(), records.end());
  };
  auto intake = lens::sync::AuditIntake::open(o);
  REQUIRE(intake.ok());
  (*intake)->start();

  // A blocking sender: it waits while the intake queue is full (the audit
  // sink does not; it drops and counts instead).
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  for (int i = 0; i < 20; ++i) {
    const std::string line = lens::audit::Event("t", "A " + std::to_string(i)).toJson() + "\n";
    REQUIRE(::sendto(fd, line.data(), line.size(), 0, reinterpret_cast<sockaddr*>(&addr),
                     sizeof addr) > 0);
  }
  const char bad[] = "not json";
  REQUIRE(::sendto(fd, bad, sizeof bad - 1, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) >
          0);
  ::close(fd);

  for (int i = 0; i < 200; ++i) {
    if ((*intake)->accepted() + (*intake)->malformed() >= 21) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  (*intake)->stop();
  CHECK((*intake)->malformed() == 1);
  REQUIRE(got.size() == 20);
  for (int i = 0; i < 20; ++i) {
    CHECK(got[static_cast<std::size_t>(i)].find("\"action\":\"A " + std::to_string(i) + "\"") !=
          std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(path));  // stop() removes the socket
}

namespace {

// An intake on `path` that drops what it receives.
lens::sync::AuditIntake::Options discarding(const std::string& path, lens::sync::EventIds& ids) {
  lens::sync::AuditIntake::Options o;
  o.path = path;
  o.ids = &ids;
  o.onRecords = [](std::vector<std::string>&&) {};
  return o;
}

}  // namespace

TEST_CASE("an audit socket path that holds a regular file is refused and the file left alone",
          "[sync][intake]") {
  TempDir dir;
  const std::string path = (dir.path / "audit.sock").string();
  { std::ofstream(path) << "somebody's data\n"; }
  lens::sync::EventIds ids;
  auto intake = lens::sync::AuditIntake::open(discarding(path, ids));
  REQUIRE_FALSE(intake.ok());
  CHECK(intake.error().message ==
        path + " exists and is not a socket; remove it or choose another --audit-socket");
  CHECK(std::filesystem::is_regular_file(path));
}

TEST_CASE("the audit socket the intake made is removed when it stops", "[sync][intake]") {
  TempDir dir;
  const std::string path = (dir.path / "audit.sock").string();
  lens::sync::EventIds ids;
  {
    auto intake = lens::sync::AuditIntake::open(discarding(path, ids));
    REQUIRE(intake.ok());
    CHECK(std::filesystem::is_socket(path));
  }
  CHECK_FALSE(std::filesystem::exists(path));
}
