#include "libcommon/approval/broker.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "libcommon/net/unix_socket.h"
#include "tests/unit/temp_dir.h"

namespace {

namespace approval = lens::approval;
using approval::Answer;
using approval::Broker;
using lens::test::TempDir;

// A daemon's end of the approval socket.
struct Daemon {
  lens::util::UniqueFd fd;
  explicit Daemon(const std::string& path) {
    auto c = lens::net::connectUnix(path, SOCK_SEQPACKET);
    REQUIRE(c);
    fd = std::move(*c);
  }
  void send(const std::string& text) const {
    REQUIRE(::send(fd.get(), text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()));
  }
  void ask(std::uint64_t ref, const std::string& action,
           approval::Kind kind = approval::Kind::kRequest) const {
    approval::Item item;
    item.kind = kind;
    item.host = "h.example";
    item.action = action;
    item.reason = "policy-ask";
    if (kind == approval::Kind::kCredential) item.credentialId = "github";
    send(approval::encodeAsk(ref, item));
  }
  // The next reply within `ms`, or nothing.
  [[nodiscard]] std::optional<approval::Reply> next(int ms = 3000) const {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) return std::nullopt;
    char buf[approval::kMaxMessage];
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    auto r = approval::parseReply(std::string_view(buf, static_cast<std::size_t>(n)));
    REQUIRE(r);
    return *r;
  }
};

struct Fixture {
  TempDir dir;
  Broker::Options options;
  std::unique_ptr<Broker> broker;
  explicit Fixture(bool controlPlane = true) {
    options.path = (dir.path / "approval.sock").string();
    options.controlPlane = controlPlane;
    options.timeout = std::chrono::seconds(30);
  }
  void start() {
    auto b = Broker::open(options);
    REQUIRE(b);
    broker = std::move(*b);
    broker->start();
  }
  // The frames the broker put out for the control plane, waiting up to 3 s for `n`.
  std::vector<std::string> frames(std::size_t n) {
    std::vector<std::string> all;
    for (int i = 0; i < 300 && all.size() < n; ++i) {
      for (auto& f : broker->takeOutbox()) all.push_back(std::move(f));
      if (all.size() < n) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return all;
  }
  void waitPending(std::size_t n) {
    for (int i = 0; i < 300 && broker->stats().pending != n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(broker->stats().pending == n);
  }
};

std::string idOf(const std::string& frame) {
  const auto at = frame.find("\"id\":\"");
  REQUIRE(at != std::string::npos);
  return frame.substr(at + 6, frame.find('"', at + 6) - at - 6);
}

std::string script(const TempDir& dir, const std::string& name, const std::string& body) {
  const auto path = dir.path / name;
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path.string();
}

}  // namespace

TEST_CASE("the approval socket is the owner's only", "[approval][broker]") {
  Fixture f;
  f.start();
  struct stat st {};
  REQUIRE(::stat(f.options.path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
  f.broker->stop();
  CHECK_FALSE(std::filesystem::exists(f.options.path));
}

TEST_CASE("without a control plane connected an ask is refused at once", "[approval][broker]") {
  Fixture f;
  f.start();
  Daemon d(f.options.path);
  d.ask(1, "CONNECT h.example:443");
  auto r = d.next();
  REQUIRE(r);
  CHECK(r->answer == Answer::kNoApprover);
  CHECK(r->detail == "the control plane is not connected");
  CHECK(f.broker->takeOutbox().empty());

  Fixture standalone(false);
  standalone.start();
  Daemon s(standalone.options.path);
  s.ask(2, "CONNECT h.example:443");
  r = s.next();
  REQUIRE(r);
  CHECK(r->answer == Answer::kNoApprover);
  CHECK(r->detail == "no control plane and no --approve-with program");
}

TEST_CASE("concurrent asks for one action share one prompt and its answer", "[approval][broker]") {
  Fixture f;
  f.start();
  f.broker->connected(true);
  Daemon a(f.options.path);
  Daemon b(f.options.path);
  a.ask(1, "CONNECT h.example:443");
  a.ask(2, "CONNECT h.example:443");
  b.ask(7, "CONNECT h.example:443");
  b.ask(8, "CONNECT other.example:443");  // another action: its own prompt
  auto frames = f.frames(2);
  REQUIRE(frames.size() == 2);
  f.waitPending(2);
  CHECK(f.broker->stats().asks == 4);
  const std::string id = idOf(frames[0]);
  CHECK_THAT(frames[0], Catch::Contains("\"action\":\"CONNECT h.example:443\""));
  std::string problem;
  REQUIRE(f.broker->decide(approval::Kind::kRequest, id, "allow_once", problem));
  for (const Daemon* d : {&a, &a, &b}) {
    auto r = d->next();
    REQUIRE(r);
    CHECK(r->answer == Answer::kAllowOnce);
    CHECK(r->id == id);
  }
  CHECK_FALSE(b.next(200));  // the other prompt is still open
  // Answered once: the id answers nothing more.
  CHECK_FALSE(f.broker->decide(approval::Kind::kRequest, id, "deny_once", problem));
  CHECK_THAT(problem, Catch::Contains("no open approval has this id"));
  // The wrong kind and a word that is no decision are refused.
  const std::string other = idOf(frames[1]);
  CHECK_FALSE(f.broker->decide(approval::Kind::kCredential, other, "allow", problem));
  CHECK_THAT(problem, Catch::Contains("request_pending"));
  CHECK_FALSE(f.broker->decide(approval::Kind::kRequest, other, "perhaps", problem));
  CHECK_THAT(problem, Catch::Contains("is not a decision"));
}

TEST_CASE("*_always answers are remembered for the life of the broker", "[approval][broker]") {
  Fixture f;
  f.start();
  f.broker->connected(true);
  Daemon d(f.options.path);
  d.ask(1, "GET https://h.example/a");
  d.ask(2, "GET https://h.example/b");
  auto frames = f.frames(2);
  REQUIRE(frames.size() == 2);
  std::string problem;
  REQUIRE(f.broker->decide(approval::Kind::kRequest, idOf(frames[0]), "allow_always", problem));
  REQUIRE(f.broker->decide(approval::Kind::kRequest, idOf(frames[1]), "deny_always", problem));
  REQUIRE(d.next()->answer == Answer::kAllowAlways);
  REQUIRE(d.next()->answer == Answer::kDenyAlways);
  d.ask(3, "GET https://h.example/a");
  d.ask(4, "GET https://h.example/b");
  CHECK(d.next()->answer == Answer::kAllowAlways);
  CHECK(d.next()->answer == Answer::kDenyAlways);
  CHECK(f.broker->takeOutbox().empty());  // no new prompt
  CHECK(f.broker->stats().remembered == 2);
}

TEST_CASE("a prompt nobody answers ends decision-timeout", "[approval][broker]") {
  Fixture f;
  f.options.timeout = std::chrono::milliseconds(200);
  f.start();
  f.broker->connected(true);
  Daemon d(f.options.path);
  d.ask(1, "CONNECT h.example:443");
  auto r = d.next(3000);
  REQUIRE(r);
  CHECK(r->answer == Answer::kTimeout);
  CHECK(f.broker->stats().pending == 0);
}

TEST_CASE("at most --max-pending prompts are open", "[approval][broker]") {
  Fixture f;
  f.options.maxPending = 2;
  f.start();
  f.broker->connected(true);
  Daemon d(f.options.path);
  d.ask(1, "CONNECT a.example:443");
  d.ask(2, "CONNECT b.example:443");
  d.ask(3, "CONNECT c.example:443");
  d.ask(4, "CONNECT a.example:443");  // joins an open prompt: no new one
  auto r = d.next();
  REQUIRE(r);
  CHECK(r->ref == 3);
  CHECK(r->answer == Answer::kNoApprover);
  CHECK_THAT(r->detail, Catch::Contains("--max-pending"));
  f.waitPending(2);
}

TEST_CASE("the control plane going away answers its open prompts no-approver",
          "[approval][broker]") {
  Fixture f;
  f.start();
  f.broker->connected(true);
  Daemon d(f.options.path);
  d.ask(1, "CONNECT h.example:443");
  REQUIRE(f.frames(1).size() == 1);
  f.broker->connected(false);
  auto r = d.next();
  REQUIRE(r);
  CHECK(r->answer == Answer::kNoApprover);
  CHECK(r->detail == "the control plane disconnected");
}

TEST_CASE("a withdrawn ask, or a daemon that goes, closes its prompt", "[approval][broker]") {
  Fixture f;
  f.start();
  f.broker->connected(true);
  {
    Daemon d(f.options.path);
    d.ask(1, "CONNECT h.example:443");
    f.waitPending(1);
    d.send(approval::encodeCancel(1));
    f.waitPending(0);
    d.ask(2, "CONNECT other.example:443");
    f.waitPending(1);
  }
  f.waitPending(0);  // the daemon closed its socket
  // A daemon that sends something else than the protocol is dropped.
  Daemon bad(f.options.path);
  bad.send("{\"op\":\"hello\"}");
  pollfd p{bad.fd.get(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, 3000) == 1);
  char c;
  CHECK(::recv(bad.fd.get(), &c, 1, 0) == 0);
}

TEST_CASE("a program given with --approve-with answers", "[approval][broker]") {
  Fixture f(false);
  // It sees the frame on stdin; an answer on stdout, or its exit status.
  f.options.program = script(f.dir, "approve.sh", R"(frame=$(cat)
case $frame in
  *'"action":"CONNECT yes.example:443"'*) echo allow_always ;;
  *'"action":"CONNECT json.example:443"'*) echo '{"decision":"allow_once"}' ;;
  *'"action":"CONNECT maybe.example:443"'*) echo '{"decision":"maybe"}' ;;
  *'"action":"CONNECT quiet.example:443"'*) exit 0 ;;
  *'"action":"CONNECT slow.example:443"'*) sleep 30 ;;
  *'"type":"credential_pending"'*) echo allow ;;
  *) exit 3 ;;
esac)");
  f.options.timeout = std::chrono::milliseconds(1500);
  f.start();
  Daemon d(f.options.path);
  const auto answer = [&](std::uint64_t ref, const std::string& action,
                          approval::Kind kind = approval::Kind::kRequest) {
    d.ask(ref, action, kind);
    auto r = d.next(5000);
    REQUIRE(r);
    CHECK(r->ref == ref);
    return r->answer;
  };
  CHECK(answer(1, "CONNECT yes.example:443") == Answer::kAllowAlways);
  CHECK(answer(2, "CONNECT json.example:443") == Answer::kAllowOnce);
  CHECK(answer(3, "CONNECT quiet.example:443") == Answer::kAllowOnce);
  CHECK(answer(8, "CONNECT maybe.example:443") == Answer::kDenyOnce);  // no decision: denied
  CHECK(answer(4, "CONNECT no.example:443") == Answer::kDenyOnce);
  CHECK(answer(5, "GET https://h.example/", approval::Kind::kCredential) == Answer::kAllow);
  const auto started = std::chrono::steady_clock::now();
  CHECK(answer(6, "CONNECT slow.example:443") == Answer::kTimeout);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));  // killed
  CHECK(answer(7, "CONNECT yes.example:443") == Answer::kAllowAlways);           // remembered
  CHECK(f.broker->stats().prompts == 7);
}
