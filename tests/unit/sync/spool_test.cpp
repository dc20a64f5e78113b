#include "libcommon/sync/spool.h"

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/unit/temp_dir.h"

namespace {

using lens::sync::Spool;

using lens::test::TempDir;

std::string record(int n) {
  return R"({"id":"i-)" + std::to_string(n) +
         R"(","type":"audit_event","source":"t","action":"A )" + std::to_string(n) + R"("})";
}

std::unique_ptr<Spool> openSpool(const std::filesystem::path& dir,
                                 std::uint64_t maxBytes = 64u << 20,
                                 std::uint64_t segmentBytes = 0) {
  Spool::Options o;
  o.dir = dir.string();
  o.maxBytes = maxBytes;
  o.segmentBytes = segmentBytes;
  o.overflowRecord = [](std::uint64_t dropped) {
    return R"({"id":"overflow","type":"audit_event","source":"lens-policy-sync","action":"SPOOL overflow","metadata":{"dropped":)" +
           std::to_string(dropped) + "}}";
  };
  o.overflowCount = [](std::string_view line) -> std::optional<std::uint64_t> {
    if (line.find("\"id\":\"overflow\"") == std::string_view::npos) return std::nullopt;
    return std::stoull(std::string(line.substr(line.find("\"dropped\":") + 10)));
  };
  auto spool = Spool::open(o);
  REQUIRE(spool.ok());
  return std::move(*spool);
}

// Everything pending, sent and committed batch by batch.
std::vector<std::string> drain(Spool& spool) {
  std::vector<std::string> out;
  while (true) {
    auto batch = spool.peek(7);
    if (batch.records.empty()) {
      spool.commit(batch.end);
      return out;
    }
    out.insert(out.end(), batch.records.begin(), batch.records.end());
    spool.commit(batch.end);
  }
}

// A small tmpfs mounted on a fresh directory (needs CAP_SYS_ADMIN), unmounted at the end.
struct SmallFileSystem {
  TempDir dir;
  bool mounted = false;
  explicit SmallFileSystem(const char* size) {
    const std::string options = std::string("size=") + size + ",mode=0700";
    mounted = ::mount("lens-spool-test", dir.path.c_str(), "tmpfs", 0, options.c_str()) == 0;
  }
  ~SmallFileSystem() {
    if (mounted) ::umount2(dir.path.c_str(), MNT_DETACH);
  }
};

// What a drain delivered: the records' numbers and the counts of overflow records.
struct Delivered {
  std::vector<int> numbers;
  std::uint64_t reportedLost = 0;
};

Delivered tally(const std::vector<std::string>& out) {
  Delivered d;
  for (const std::string& r : out) {
    if (r.find("\"id\":\"overflow\"") != std::string::npos) {
      d.reportedLost += std::stoull(r.substr(r.find("\"dropped\":") + 10));
    } else {
      d.numbers.push_back(std::stoi(r.substr(r.find("\"A ") + 3)));
    }
  }
  return d;
}

}  // namespace

TEST_CASE("spool records: JSON objects with a string type and id", "[sync][spool]") {
  CHECK(lens::sync::isSpoolRecord(record(1)));
  CHECK_FALSE(lens::sync::isSpoolRecord(R"({"type":"audit_event"})"));
  CHECK_FALSE(lens::sync::isSpoolRecord(R"({"id":1,"type":"audit_event"})"));
  CHECK_FALSE(lens::sync::isSpoolRecord(R"({"id":"x","type":"audit_event")"));
  CHECK_FALSE(lens::sync::isSpoolRecord(""));
  CHECK_FALSE(lens::sync::isSpoolRecord("[]"));
}

TEST_CASE("spool cursor text", "[sync][spool]") {
  const auto pos = lens::sync::parseCursor("12 3456\n");
  REQUIRE(pos);
  CHECK(pos->segment == 12);
  CHECK(pos->offset == 3456);
  CHECK(lens::sync::formatCursor(*pos) == "12 3456\n");
  CHECK_FALSE(lens::sync::parseCursor("12"));
  CHECK_FALSE(lens::sync::parseCursor("-1 2"));
  CHECK_FALSE(lens::sync::parseCursor("1 2 3"));
  CHECK_FALSE(lens::sync::parseCursor("01 2"));
}

TEST_CASE("spool hands out records in order and forgets them once committed", "[sync][spool]") {
  TempDir dir;
  auto spool = openSpool(dir.path, 1u << 20, 4096);
  for (int i = 0; i < 500; ++i) REQUIRE(spool->append(record(i)).ok());
  CHECK_FALSE(spool->empty());
  const auto out = drain(*spool);
  REQUIRE(out.size() == 500);
  for (int i = 0; i < 500; ++i) CHECK(out[static_cast<std::size_t>(i)] == record(i));
  CHECK(spool->empty());
  CHECK(spool->stats().segments == 1);  // sent segments are deleted
}

TEST_CASE("spool survives a restart: uncommitted records come back, committed ones do not",
          "[sync][spool]") {
  TempDir dir;
  {
    auto spool = openSpool(dir.path, 1u << 20, 4096);
    for (int i = 0; i < 100; ++i) REQUIRE(spool->append(record(i)).ok());
    auto batch = spool->peek(40);
    REQUIRE(batch.records.size() == 40);
    spool->commit(batch.end);
    auto unsent = spool->peek(10);  // peeked but never committed: sent again after a crash
    REQUIRE(unsent.records.size() == 10);
    REQUIRE(spool->sync().ok());
  }
  auto spool = openSpool(dir.path, 1u << 20, 4096);
  const auto out = drain(*spool);
  REQUIRE(out.size() == 60);
  CHECK(out.front() == record(40));
  CHECK(out.back() == record(99));
}

TEST_CASE("spool cuts a torn last line and skips corrupt lines", "[sync][spool]") {
  TempDir dir;
  {
    auto spool = openSpool(dir.path);
    REQUIRE(spool->append(record(1)).ok());
    REQUIRE(spool->append("not a record").ok());
    REQUIRE(spool->append(record(2)).ok());
    REQUIRE(spool->sync().ok());
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir.path)) {
    if (entry.path().extension() == ".jsonl")
      std::ofstream(entry.path(), std::ios::app) << R"({"id":"torn","ty)";
  }
  auto spool = openSpool(dir.path);
  const auto out = drain(*spool);
  REQUIRE(out.size() == 2);
  CHECK(out[0] == record(1));
  CHECK(out[1] == record(2));
  CHECK(spool->stats().corrupt == 1);
  REQUIRE(spool->append(record(3)).ok());  // appending after the cut stays line-aligned
  const auto more = drain(*spool);
  REQUIRE(more.size() == 1);
  CHECK(more[0] == record(3));
}

TEST_CASE("a full spool drops the oldest records and counts them", "[sync][spool]") {
  TempDir dir;
  const std::uint64_t maxBytes = 64 * 1024;
  auto spool = openSpool(dir.path, maxBytes, 4096);
  const int total = 3000;
  for (int i = 0; i < total; ++i) REQUIRE(spool->append(record(i)).ok());
  CHECK(spool->stats().pendingBytes <= maxBytes);
  const auto stats = spool->stats();
  CHECK(stats.dropped > 0);
  const auto out = drain(*spool);
  // Every record is either delivered or counted as dropped, never both, never invented.
  std::uint64_t overflowReported = 0;
  std::vector<int> delivered;
  for (const std::string& r : out) {
    if (r.find("\"id\":\"overflow\"") != std::string::npos) {
      const auto at = r.find("\"dropped\":") + 10;
      overflowReported += std::stoull(r.substr(at));
    } else {
      const auto at = r.find("\"A ") + 3;
      delivered.push_back(std::stoi(r.substr(at)));
    }
  }
  CHECK(overflowReported == stats.dropped);
  CHECK(delivered.size() + stats.dropped == total);
  CHECK(std::is_sorted(delivered.begin(), delivered.end()));
  CHECK(delivered.back() == total - 1);
}

TEST_CASE("an unreadable cursor sends the whole spool again", "[sync][spool]") {
  TempDir dir;
  {
    auto spool = openSpool(dir.path);
    for (int i = 0; i < 5; ++i) REQUIRE(spool->append(record(i)).ok());
    spool->commit(spool->peek(3).end);
    REQUIRE(spool->sync().ok());
  }
  std::ofstream(dir.path / "cursor") << "garbage";
  auto spool = openSpool(dir.path);
  CHECK(drain(*spool).size() == 5);
}

TEST_CASE("spool: a directory it may not create is a permission error (exit 5), not an I/O one",
          "[sync][spool]") {
  // sysfs refuses mkdir with EPERM, also for root.
  Spool::Options o;
  o.dir = "/sys/lens-spool-test";
  auto spool = Spool::open(o);
  REQUIRE_FALSE(spool);
  CHECK(spool.error().code == lens::ErrorCode::kPermission);
  CHECK(spool.error().message == "mkdir /sys/lens-spool-test: Operation not permitted");
}

TEST_CASE("spool on a full file system: what cannot be written is counted, sent segments make room",
          "[sync][spool]") {
  // The default bound (64 MiB, 4 MiB segments) on a 64 KiB file system: the
  // one tail segment fills it; and 16 KiB segments, where sent ones go.
  const std::uint64_t segmentBytes = GENERATE(0u, 16u * 1024);
  SmallFileSystem fs("64k");
  if (!fs.mounted) {
    WARN("cannot mount a tmpfs (needs CAP_SYS_ADMIN): not tested");
    return;
  }
  const auto spoolDir = fs.dir.path / "spool";
  auto spool = openSpool(spoolDir, 64u << 20, segmentBytes);

  // Offline: fill the file system, with batches of several sizes so that
  // some writes are cut short in the middle of a record.
  int next = 0;
  int failed = 0;
  std::uint64_t failedRecords = 0;
  while (failed < 20 && next < 20000) {
    std::vector<std::string> batch;
    for (int k = 0; k < 1 + next % 37; ++k) batch.push_back(record(next++));
    if (!spool->append(batch).ok()) {
      ++failed;
      failedRecords += batch.size();
    }
  }
  INFO("segment bytes " << segmentBytes << ", " << failed << " appends failed");
  const auto full = spool->stats();
  CHECK(full.dropped > 0);
  CHECK(full.dropped >= failedRecords);  // with small segments, old unsent ones go too

  // The control plane takes the spool: every record written comes out whole.
  const Delivered first = tally(drain(*spool));
  CHECK(spool->stats().corrupt == 0);
  CHECK(std::is_sorted(first.numbers.begin(), first.numbers.end()));

  // Room comes back: with the control plane taking each record as it comes,
  // every new record is written, after an overflow record that counts
  // everything lost while the file system was full.
  const int later = next;
  std::vector<std::string> sent;
  for (int i = 0; i < 200; ++i) {
    REQUIRE(spool->append(record(next++)).ok());
    const auto out = drain(*spool);
    sent.insert(sent.end(), out.begin(), out.end());
  }
  const Delivered second = tally(sent);
  CHECK(spool->stats().corrupt == 0);
  CHECK(first.reportedLost + second.reportedLost == spool->stats().dropped);
  CHECK(first.numbers.size() + second.numbers.size() + spool->stats().dropped ==
        static_cast<std::size_t>(next));
  REQUIRE(second.numbers.size() == 200);
  CHECK(second.numbers.front() == later);
  REQUIRE(spool->sync().ok());
}
