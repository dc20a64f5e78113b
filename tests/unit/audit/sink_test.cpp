#include "libcommon/audit/sink.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using lens::audit::DatagramSink;
using lens::audit::Event;
using lens::audit::FdSink;
using lens::audit::openSink;
using lens::audit::Outcome;
using lens::audit::RateLimitedSink;
using lens::audit::RecordingSink;
using lens::audit::Sink;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A private directory under the system temp dir, removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "lens-audit-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) FAIL("mkdtemp: " << std::strerror(errno));
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// A bound Unix datagram socket, closed at scope exit.
class Receiver {
 public:
  explicit Receiver(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof addr.sun_path);
    std::memcpy(addr.sun_path, path.data(), path.size());
    const int rc = ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    INFO("bind " << path << ": " << std::strerror(errno));
    REQUIRE(rc == 0);
  }
  ~Receiver() { close(); }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // One datagram, or "" when none arrives within `wait`.
  std::string receive(std::chrono::milliseconds wait = std::chrono::milliseconds(3000)) const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) != 1) return {};
    std::string buf(256 * 1024, '\0');
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) return {};
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }

 private:
  int fd_ = -1;
};

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  if (start != text.size()) lines.push_back(text.substr(start));  // unterminated tail
  return lines;
}

Event fixedEvent(std::string_view action) {
  Event e("lens-test", action);
  e.time(std::chrono::sys_days{std::chrono::year{2026} / 11 / 27} + 7h);
  return e;
}

Event failure(std::string_view action, std::string_view reason,
              Outcome outcome = Outcome::kFailure) {
  Event e = fixedEvent(action);
  e.outcome(outcome).meta("reason", reason);
  return e;
}

// Runs `/usr/bin/python3 -c script` with stdin from `stdinPath` through
// posix_spawn; returns the exit status, or -1 if it did not exit normally.
int runPython(const std::string& script, const std::string& stdinPath) {
  std::string program = "/usr/bin/python3";
  std::string dashC = "-c";
  std::string code = script;
  std::vector<char*> argv{program.data(), dashC.data(), code.data(), nullptr};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, stdinPath.c_str(), O_RDONLY, 0);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string toHex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += kHex[b >> 4];
    out += kHex[b & 0x0f];
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// File and stdout

TEST_CASE("file sink appends across opens, mode 0600", "[audit][sink]") {
  TempDir dir;
  const std::string path = dir.file("audit.jsonl");
  const Event first = fixedEvent("first");
  const Event second = fixedEvent("second");
  {
    auto sink = openSink(path);
    REQUIRE(sink.ok());
    REQUIRE((*sink)->write(first).ok());
  }
  {
    auto sink = openSink(path);
    REQUIRE(sink.ok());
    REQUIRE((*sink)->write(second).ok());
    CHECK((*sink)->droppedCount() == 0);
  }
  CHECK(readFile(path) == first.toJson() + "\n" + second.toJson() + "\n");

  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("file sink lines from concurrent writers do not interleave", "[audit][sink]") {
  TempDir dir;
  const std::string path = dir.file("audit.jsonl");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  const std::string padding(8000, 'x');  // longer than PIPE_BUF and a typical page

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread opens its own descriptor, as separate processes would.
      auto sink = FdSink::openFile(path);
      if (!sink) return;
      for (int i = 0; i < kPerThread; ++i) {
        Event e = fixedEvent("writer " + std::to_string(t));
        e.meta("i", i).meta("pad", padding);
        (void)(*sink)->write(e);
      }
    });
  }
  for (auto& thread : threads) thread.join();

  const std::vector<std::string> lines = splitLines(readFile(path));
  REQUIRE(lines.size() == kThreads * kPerThread);
  std::set<std::string> expected;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      Event e = fixedEvent("writer " + std::to_string(t));
      e.meta("i", i).meta("pad", padding);
      expected.insert(e.toJson());
    }
  }
  const std::set<std::string> got(lines.begin(), lines.end());
  CHECK(got == expected);
}

TEST_CASE("openSink(\"-\") writes to standard output", "[audit][sink]") {
  auto sink = openSink("-");
  REQUIRE(sink.ok());
  CHECK(dynamic_cast<FdSink*>(sink->get()) != nullptr);
}

TEST_CASE("fd sink reports write errors", "[audit][sink]") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  ::close(fds[1]);
  // The read end is not writable: write() fails with EBADF.
  FdSink sink(fds[0], true, "test pipe");
  const auto status = sink.write(fixedEvent("x"));
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().code == lens::ErrorCode::kIo);
  CHECK(status.error().message.find("\"test pipe\"") != std::string::npos);
  CHECK(status.error().message.find(std::strerror(EBADF)) != std::string::npos);
}

// ---------------------------------------------------------------------------
// Unix datagram

TEST_CASE("datagram sink delivers one event per datagram", "[audit][sink]") {
  TempDir dir;
  const std::string path = dir.file("sync.sock");
  Receiver receiver(path);

  auto sink = openSink("unix:" + path);
  REQUIRE(sink.ok());
  const Event a = failure("CONNECT a:443", "denied");
  const Event b = fixedEvent("DNS b.example");
  REQUIRE((*sink)->write(a).ok());
  REQUIRE((*sink)->write(b).ok());
  CHECK(receiver.receive() == a.toJson() + "\n");
  CHECK(receiver.receive() == b.toJson() + "\n");
  CHECK(receiver.receive(std::chrono::milliseconds(100)).empty());
  CHECK((*sink)->droppedCount() == 0);
}

TEST_CASE("datagram sink counts drops when nobody listens", "[audit][sink]") {
  TempDir dir;
  const std::string path = dir.file("absent.sock");

  SECTION("no socket file (ENOENT)") {
    auto sink = DatagramSink::open(path);
    REQUIRE(sink.ok());
    CHECK((*sink)->write(fixedEvent("a")).ok());
    CHECK((*sink)->write(fixedEvent("b")).ok());
    (*sink)->flush();
    CHECK((*sink)->droppedCount() == 2);
  }
  SECTION("stale socket file (ECONNREFUSED)") {
    Receiver gone(path);
    gone.close();  // the socket file stays behind
    REQUIRE(fs::exists(path));
    auto sink = DatagramSink::open(path);
    REQUIRE(sink.ok());
    CHECK((*sink)->write(fixedEvent("a")).ok());
    (*sink)->flush();
    CHECK((*sink)->droppedCount() == 1);
  }
  SECTION("receiver starts later") {
    auto sink = DatagramSink::open(path);
    REQUIRE(sink.ok());
    CHECK((*sink)->write(fixedEvent("early")).ok());
    (*sink)->flush();
    CHECK((*sink)->droppedCount() == 1);
    Receiver late(path);
    const Event e = fixedEvent("late");
    CHECK((*sink)->write(e).ok());
    CHECK(late.receive() == e.toJson() + "\n");
    CHECK((*sink)->droppedCount() == 1);
  }
}

TEST_CASE("datagram sink never blocks the writer and loses nothing to a slow receiver",
          "[audit][sink]") {
  TempDir dir;
  const std::string path = dir.file("slow.sock");
  Receiver receiver(path);  // reads only after every event was written
  auto sink = DatagramSink::open(path);
  REQUIRE(sink.ok());

  // Far more than the receiver's queue holds (net.unix.max_dgram_qlen).
  constexpr int kEvents = 3000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kEvents; ++i) {
    Event e = fixedEvent("burst");
    e.meta("n", std::to_string(i)).meta("pad", std::string(1000, 'p'));
    REQUIRE((*sink)->write(e).ok());
  }
  CHECK(std::chrono::steady_clock::now() - start < 1s);  // queued, not sent inline
  int received = 0;
  bool inOrder = true;
  for (std::string line; !(line = receiver.receive()).empty(); ++received) {
    inOrder =
        inOrder && line.find("\"n\":\"" + std::to_string(received) + "\"") != std::string::npos;
  }
  CHECK(received == kEvents);
  CHECK(inOrder);
  CHECK((*sink)->droppedCount() == 0);
}

TEST_CASE("datagram sink gives a stuck receiver a bounded time at exit", "[audit][sink]") {
  TempDir dir;
  const std::string path = dir.file("stuck.sock");
  Receiver receiver(path);  // never reads
  auto sink = DatagramSink::open(path);
  REQUIRE(sink.ok());
  for (int i = 0; i < 200; ++i) REQUIRE((*sink)->write(fixedEvent("stuck")).ok());
  const auto start = std::chrono::steady_clock::now();
  sink->reset();
  CHECK(std::chrono::steady_clock::now() - start < 2 * DatagramSink::kSendTimeout + 1s);
  CHECK_FALSE(receiver.receive(std::chrono::milliseconds(0)).empty());  // what fitted arrived
}

TEST_CASE("datagram sink waits once for a stalled receiver, then drops until it reads again",
          "[audit][sink]") {
  TempDir dir;
  const std::string path = dir.file("stalled.sock");
  Receiver receiver(path);  // reads nothing until the end
  auto sink = DatagramSink::open(path);
  REQUIRE(sink.ok());
  for (int i = 0; i < 200; ++i) REQUIRE((*sink)->write(fixedEvent("stalled")).ok());
  const auto start = std::chrono::steady_clock::now();
  (*sink)->flush();
  CHECK(std::chrono::steady_clock::now() - start <
        DatagramSink::kSendTimeout + 1s);  // one wait, not one per event
  const std::uint64_t dropped = (*sink)->droppedCount();
  CHECK(dropped > 100);
  int received = 0;
  while (!receiver.receive(std::chrono::milliseconds(0)).empty()) ++received;
  CHECK(received + dropped == 200);
  const Event e = fixedEvent("after");
  REQUIRE((*sink)->write(e).ok());  // room again: delivered
  CHECK(receiver.receive() == e.toJson() + "\n");
  CHECK((*sink)->droppedCount() == dropped);
}

TEST_CASE("datagram sink refuses an event too large for a datagram", "[audit][sink]") {
  TempDir dir;
  const std::string path = dir.file("big.sock");
  Receiver receiver(path);
  auto sink = DatagramSink::open(path);
  REQUIRE(sink.ok());
  Event e = fixedEvent("huge");
  e.meta("pad", std::string(4 * 1024 * 1024, 'p'));
  const auto status = (*sink)->write(e);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().code == lens::ErrorCode::kLimit);
  CHECK_THAT(status.error().message, Catch::Contains("larger than a datagram may be"));
  CHECK((*sink)->droppedCount() == 1);
  CHECK(receiver.receive(std::chrono::milliseconds(100)).empty());
}

// ---------------------------------------------------------------------------
// openSink errors

TEST_CASE("openSink rejects bad specifications precisely", "[audit][sink]") {
  SECTION("empty") {
    auto sink = openSink("");
    REQUIRE_FALSE(sink.ok());
    CHECK(sink.error().code == lens::ErrorCode::kInvalidArgument);
    CHECK(sink.error().message ==
          "audit sink: empty specification (use \"-\" for standard output, a file path, or "
          "unix:PATH)");
  }
  SECTION("unix: without a path") {
    auto sink = openSink("unix:");
    REQUIRE_FALSE(sink.ok());
    CHECK(sink.error().code == lens::ErrorCode::kInvalidArgument);
    CHECK(sink.error().message ==
          "audit sink \"unix:\": empty socket path (use unix:/path/to/socket)");
  }
  SECTION("socket path too long") {
    const std::string longPath = "/tmp/" + std::string(103, 'a');  // 108 bytes
    auto sink = openSink("unix:" + longPath);
    REQUIRE_FALSE(sink.ok());
    CHECK(sink.error().code == lens::ErrorCode::kInvalidArgument);
    CHECK(sink.error().message == "audit sink \"unix:" + longPath +
                                      "\": socket path too long (108 bytes, at most 107 fit "
                                      "in a Unix socket address)");
    // One byte shorter fits.
    CHECK(openSink("unix:" + longPath.substr(1)).ok());
  }
  SECTION("NUL byte in a path") {
    auto file = openSink(std::string_view("/tmp/a\0b", 8));
    REQUIRE_FALSE(file.ok());
    CHECK(file.error().code == lens::ErrorCode::kInvalidArgument);
    auto unix = openSink(std::string_view("unix:/tmp/a\0b", 13));
    REQUIRE_FALSE(unix.ok());
    CHECK(unix.error().code == lens::ErrorCode::kInvalidArgument);
  }
  SECTION("file in a missing directory") {
    TempDir dir;
    const std::string path = dir.file("missing/audit.jsonl");
    auto sink = openSink(path);
    REQUIRE_FALSE(sink.ok());
    CHECK(sink.error().code == lens::ErrorCode::kIo);
    CHECK(sink.error().message ==
          "audit sink: cannot open \"" + path + "\" for appending: " + std::strerror(ENOENT));
  }
  SECTION("a directory") {
    TempDir dir;
    const std::string path = dir.file("");
    auto sink = openSink(path);
    REQUIRE_FALSE(sink.ok());
    CHECK(sink.error().message.find(std::strerror(EISDIR)) != std::string::npos);
  }
}

// ---------------------------------------------------------------------------
// Independent parser

TEST_CASE("emitted lines parse with Python's json and decode as expected", "[audit][sink]") {
  if (::access("/usr/bin/python3", X_OK) != 0) {
    FAIL("/usr/bin/python3 is required for this test (install python3)");
  }
  TempDir dir;
  const std::string path = dir.file("nasty.jsonl");
  auto sink = openSink(path);
  REQUIRE(sink.ok());

  // 0: every control byte, DEL, quote and backslash.
  std::string controls;
  for (int c = 0; c < 0x20; ++c) controls += static_cast<char>(c);
  controls += "\x7f\"\\";
  Event e0 = fixedEvent("controls");
  e0.host(controls);
  REQUIRE((*sink)->write(e0).ok());

  // 1: invalid UTF-8 in fields, keys and values; valid multibyte.
  Event e1 = fixedEvent("utf8");
  e1.path(std::string("a\xC0\x80") + "b")
      .meta("surrogate", "\xED\xA0\x80")
      .meta("above", "\xF4\x90\x80\x80")
      .meta("truncated", "x\xF0\x9F\x98")
      .meta("k\x01\xFF", "v")
      .meta("emoji", "\xF0\x9F\x98\x80 \xE2\x82\xAC \xC3\xA9")
      .src({"\xFF", 1})
      .actor({"\xE2\x82", 2, "/\x80"});
  REQUIRE((*sink)->write(e1).ok());

  // 2..: random byte strings; Python decodes the hex copy with
  // errors="replace" (maximal-subpart substitution) and compares.
  std::mt19937 rng(20261127);
  const unsigned char interesting[] = {0x00, 0x01, 0x0a, 0x1f, 0x22, 0x5c, 0x41, 0x7f, 0x80, 0x8f,
                                       0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1,
                                       0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xfe, 0xff};
  std::uniform_int_distribution<int> length(0, 40);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<std::size_t> pick(0, sizeof interesting - 1);
  constexpr int kRandom = 500;
  for (int i = 0; i < kRandom; ++i) {
    std::string s;
    const int n = length(rng);
    for (int j = 0; j < n; ++j) {
      s += static_cast<char>(byte(rng) < 128 ? interesting[pick(rng)] : byte(rng));
    }
    Event e = fixedEvent("random");
    e.meta("hex", toHex(s)).meta("s", s);
    REQUIRE((*sink)->write(e).ok());
  }

  const std::string script = R"PY(
import json, sys
data = sys.stdin.buffer.read()
assert data.endswith(b"\n"), "missing final newline"
raw_lines = data.split(b"\n")[:-1]
for raw in raw_lines:
    assert all(b >= 0x20 and b != 0x7f for b in raw), ("raw control byte", raw)
    raw.decode("utf-8")  # strict: the output itself must be valid UTF-8
objs = [json.loads(l) for l in raw_lines]
assert len(objs) == 2 + N, len(objs)

e0 = objs[0]
assert e0["host"] == "".join(map(chr, range(32))) + "\x7f\"\\", repr(e0["host"])
assert list(e0) == ["type", "ts", "source", "action", "host"], list(e0)

e1 = objs[1]
R = "\ufffd"
assert e1["path"] == "a" + R + R + "b", repr(e1["path"])
m = e1["metadata"]
assert m["surrogate"] == R * 3, repr(m["surrogate"])
assert m["above"] == R * 4, repr(m["above"])
assert m["truncated"] == "x" + R, repr(m["truncated"])
assert m["k\x01" + R] == "v", repr(m)
assert m["emoji"] == "\U0001F600 \u20ac \u00e9", repr(m["emoji"])
assert e1["src_endpoint"] == {"ip": R, "port": 1}, repr(e1["src_endpoint"])
assert e1["actor"] == {"process": {"name": R, "pid": 2, "exe": "/" + R}}, repr(e1["actor"])

for o in objs[2:]:
    md = o["metadata"]
    want = bytes.fromhex(md["hex"]).decode("utf-8", "replace")
    assert md["s"] == want, (md["hex"], md["s"], want)
print("python: %d events ok" % len(objs), file=sys.stderr)
)PY";
  const std::string withCount = "N = " + std::to_string(kRandom) + "\n" + script;
  CHECK(runPython(withCount, path) == 0);
  // And the plain check the design names.
  CHECK(runPython("import json,sys; [json.loads(l) for l in sys.stdin]", path) == 0);
}

// ---------------------------------------------------------------------------
// RecordingSink

TEST_CASE("recording sink keeps lines and events", "[audit][sink]") {
  RecordingSink sink;
  const Event a = failure("a", "r");
  const Event b = fixedEvent("b");
  REQUIRE(sink.write(a).ok());
  REQUIRE(sink.write(b).ok());
  CHECK(sink.size() == 2);
  CHECK(sink.lines() == std::vector<std::string>{a.toJson(), b.toJson()});
  CHECK(sink.events().at(0).reason() == std::optional<std::string_view>("r"));
  sink.clear();
  CHECK(sink.size() == 0);
}

// ---------------------------------------------------------------------------
// Rate limiting

namespace {

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  RateLimitedSink::Clock fn() {
    return [this] { return now; };
  }
};

struct Limited {
  FakeClock clock;
  RecordingSink* recorded;
  std::unique_ptr<RateLimitedSink> sink;

  Limited() {
    auto rec = std::make_unique<RecordingSink>();
    recorded = rec.get();
    sink = std::make_unique<RateLimitedSink>(std::move(rec), 10s, clock.fn());
  }
};

std::optional<std::uint64_t> suppressedOf(const Event& e) {
  const auto* v = e.findMeta("suppressed");
  if (v == nullptr) return std::nullopt;
  return std::get<std::uint64_t>(*v);
}

}  // namespace

TEST_CASE("rate limiter suppresses identical failures and reports the count", "[audit][sink]") {
  Limited l;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(l.sink->write(failure("CONNECT a:443", "denied")).ok());
    l.clock.now += 1s;
  }
  CHECK(l.recorded->size() == 1);
  CHECK(l.sink->suppressedCount() == 4);
  CHECK_FALSE(suppressedOf(l.recorded->events().at(0)));

  l.clock.now += 4999ms;  // 9.999 s after the first: still inside the window
  REQUIRE(l.sink->write(failure("CONNECT a:443", "denied")).ok());
  CHECK(l.recorded->size() == 1);

  l.clock.now += 1ms;  // exactly 10 s: the window is over
  REQUIRE(l.sink->write(failure("CONNECT a:443", "denied")).ok());
  REQUIRE(l.recorded->size() == 2);
  CHECK(suppressedOf(l.recorded->events().at(1)) == 5u);
  CHECK(l.recorded->lines().at(1).find("\"suppressed\":5") != std::string::npos);

  // A new window began: the next one is suppressed again, then reported as 1.
  REQUIRE(l.sink->write(failure("CONNECT a:443", "denied")).ok());
  CHECK(l.recorded->size() == 2);
  l.clock.now += 10s;
  REQUIRE(l.sink->write(failure("CONNECT a:443", "denied")).ok());
  REQUIRE(l.recorded->size() == 3);
  CHECK(suppressedOf(l.recorded->events().at(2)) == 1u);

  // After a quiet window nothing was suppressed: no count.
  l.clock.now += 60s;
  REQUIRE(l.sink->write(failure("CONNECT a:443", "denied")).ok());
  REQUIRE(l.recorded->size() == 4);
  CHECK_FALSE(suppressedOf(l.recorded->events().at(3)));
}

TEST_CASE("rate limiter keys on action, outcome and reason; successes pass", "[audit][sink]") {
  Limited l;
  REQUIRE(l.sink->write(failure("CONNECT a:443", "denied")).ok());
  REQUIRE(l.sink->write(failure("CONNECT a:443", "other reason")).ok());
  REQUIRE(l.sink->write(failure("CONNECT b:443", "denied")).ok());
  REQUIRE(l.sink->write(failure("CONNECT a:443", "denied", Outcome::kError)).ok());
  Event noReason = fixedEvent("CONNECT a:443");
  noReason.outcome(Outcome::kFailure);
  REQUIRE(l.sink->write(noReason).ok());
  Event emptyReason = failure("CONNECT a:443", "");
  REQUIRE(l.sink->write(emptyReason).ok());
  CHECK(l.recorded->size() == 6);
  CHECK(l.sink->keyCount() == 6);

  // Repeats of each are suppressed...
  REQUIRE(l.sink->write(failure("CONNECT a:443", "denied", Outcome::kError)).ok());
  REQUIRE(l.sink->write(noReason).ok());
  CHECK(l.recorded->size() == 6);

  // ...but successes and events without an outcome never are.
  for (int i = 0; i < 3; ++i) {
    Event ok = fixedEvent("CONNECT a:443");
    ok.outcome(Outcome::kSuccess).meta("reason", "denied");
    REQUIRE(l.sink->write(ok).ok());
    REQUIRE(l.sink->write(fixedEvent("CONNECT a:443")).ok());
  }
  CHECK(l.recorded->size() == 12);
  CHECK(l.sink->suppressedCount() == 2);
}

TEST_CASE("rate limiter flush reports pending counts", "[audit][sink]") {
  Limited l;
  REQUIRE(l.sink->write(failure("a", "r")).ok());
  Event last = failure("a", "r");
  last.meta("n", 3);
  REQUIRE(l.sink->write(failure("a", "r")).ok());
  REQUIRE(l.sink->write(last).ok());
  REQUIRE(l.sink->flush().ok());
  REQUIRE(l.recorded->size() == 2);
  const Event flushed = l.recorded->events().at(1);
  CHECK(suppressedOf(flushed) == 2u);
  REQUIRE(flushed.findMeta("n") != nullptr);  // the last suppressed event is the one reported
  // Nothing pending any more.
  REQUIRE(l.sink->flush().ok());
  CHECK(l.recorded->size() == 2);
  // Still inside the window: suppressed again.
  REQUIRE(l.sink->write(failure("a", "r")).ok());
  CHECK(l.recorded->size() == 2);
}

TEST_CASE("rate limiter destructor reports pending counts", "[audit][sink]") {
  TempDir dir;
  const std::string path = dir.file("audit.jsonl");
  {
    auto file = FdSink::openFile(path);
    REQUIRE(file.ok());
    RateLimitedSink sink(std::move(file).value(), 10s);
    for (int i = 0; i < 3; ++i) REQUIRE(sink.write(failure("a", "r")).ok());
  }
  const auto lines = splitLines(readFile(path));
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].find("\"suppressed\":2") != std::string::npos);
}

TEST_CASE("rate limiter bounds its key map", "[audit][sink]") {
  Limited l;
  for (std::size_t i = 0; i < RateLimitedSink::kMaxKeys; ++i) {
    REQUIRE(l.sink->write(failure("a", "reason " + std::to_string(i))).ok());
  }
  CHECK(l.sink->keyCount() == RateLimitedSink::kMaxKeys);
  REQUIRE(l.sink->write(failure("a", "reason 0")).ok());  // suppressed, pending
  CHECK(l.recorded->size() == RateLimitedSink::kMaxKeys);

  // One more key: pending counts are flushed, then the map restarts.
  REQUIRE(l.sink->write(failure("a", "one too many")).ok());
  CHECK(l.sink->keyCount() == 1);
  REQUIRE(l.recorded->size() == RateLimitedSink::kMaxKeys + 2);
  const auto events = l.recorded->events();
  CHECK(suppressedOf(events.at(RateLimitedSink::kMaxKeys)) == 1u);
  CHECK(events.back().reason() == std::optional<std::string_view>("one too many"));
}

TEST_CASE("rate limiter forwards the inner sink's drops", "[audit][sink]") {
  TempDir dir;
  auto inner = DatagramSink::open(dir.file("nobody.sock"));
  REQUIRE(inner.ok());
  DatagramSink* datagrams = inner->get();
  RateLimitedSink sink(std::move(inner).value());
  REQUIRE(sink.write(fixedEvent("a")).ok());
  datagrams->flush();
  CHECK(sink.droppedCount() == 1);
}
