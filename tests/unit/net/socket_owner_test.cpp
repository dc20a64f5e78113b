#include "libcommon/net/socket_owner.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/unit/temp_dir.h"

using lens::net::findSocketHolder;
using lens::net::findSocketOwner;
using lens::net::findTcpSocket;
using lens::net::kMaxChain;
using lens::net::parseProcStat;
using lens::net::processChain;
using lens::net::SocketAddress;
using lens::net::stripDeleted;

namespace fs = std::filesystem;

namespace {

// A process directory in a fake /proc: exe link, stat, and fd links.
void fakeProcess(const fs::path& root, int pid, const std::string& exe, const std::string& comm,
                 int ppid, const std::vector<std::string>& fds = {}) {
  const fs::path dir = root / std::to_string(pid);
  fs::create_directories(dir / "fd");
  if (!exe.empty()) fs::create_symlink(exe, dir / "exe");
  std::ofstream(dir / "stat") << pid << " (" << comm << ") S " << ppid
                              << " 1 1 0 -1 4194560 0 0 0 0\n";
  int n = 3;
  for (const std::string& target : fds)
    fs::create_symlink(target, dir / "fd" / std::to_string(n++));
}

std::string selfExe() { return fs::read_symlink("/proc/self/exe").string(); }

struct Socket {
  int fd = -1;
  explicit Socket(int f) : fd(f) {}
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
};

SocketAddress localOf(int fd) {
  sockaddr_storage s{};
  socklen_t n = sizeof s;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&s), &n) == 0);
  return SocketAddress::fromStorage(s);
}

SocketAddress peerOf(int fd) {
  sockaddr_storage s{};
  socklen_t n = sizeof s;
  REQUIRE(::getpeername(fd, reinterpret_cast<sockaddr*>(&s), &n) == 0);
  return SocketAddress::fromStorage(s);
}

}  // namespace

TEST_CASE("parseProcStat takes the comm up to the last parenthesis", "[net][socket_owner]") {
  auto s = parseProcStat("4242 (my (odd) prog) S 17 4242 4242 0 -1 4194560 0 0");
  REQUIRE(s);
  CHECK(s->pid == 4242);
  CHECK(s->comm == "my (odd) prog");
  CHECK(s->state == 'S');
  CHECK(s->ppid == 17);

  s = parseProcStat("7 (a) b) R 1 7 7 0\n");
  REQUIRE(s);
  CHECK(s->comm == "a) b");
  CHECK(s->ppid == 1);

  s = parseProcStat("9 () Z 0 0");
  REQUIRE(s);
  CHECK(s->comm.empty());
  CHECK(s->ppid == 0);

  CHECK_FALSE(parseProcStat(""));
  CHECK_FALSE(parseProcStat("12 (no end S 1 2"));
  CHECK_FALSE(parseProcStat("x (p) S 1 2"));
  CHECK_FALSE(parseProcStat("12 (p) S"));
  CHECK_FALSE(parseProcStat("12 (p) S -3 2"));
  CHECK_FALSE(parseProcStat("12 (p) S 4x 2"));
}

TEST_CASE("stripDeleted removes the kernel's suffix only at the end", "[net][socket_owner]") {
  CHECK(stripDeleted("/usr/bin/python3.11 (deleted)") == "/usr/bin/python3.11");
  CHECK(stripDeleted("/usr/bin/python3.11") == "/usr/bin/python3.11");
  CHECK(stripDeleted("/opt/a (deleted)/b") == "/opt/a (deleted)/b");
}

TEST_CASE("processChain walks parents up to, excluding, pid 1", "[net][socket_owner]") {
  lens::test::TempDir proc;
  fakeProcess(proc.path, 1, "/sbin/init", "init", 0);
  fakeProcess(proc.path, 50, "/bin/bash", "bash", 40);
  fakeProcess(proc.path, 40, "", "kthread", 1);  // unreadable exe: skipped, walk goes on
  fakeProcess(proc.path, 100, "/usr/bin/tool (deleted)", "my (tool) x", 50);
  auto chain = processChain(100, proc.path.string());
  REQUIRE(chain);
  CHECK(*chain == std::vector<std::string>{"/usr/bin/tool", "/bin/bash"});

  // The caller's own exe unreadable: unknown.
  CHECK_FALSE(processChain(40, proc.path.string()));
  // Gone.
  CHECK_FALSE(processChain(12345, proc.path.string()));
}

TEST_CASE("processChain is bounded on a parent loop", "[net][socket_owner]") {
  lens::test::TempDir proc;
  fakeProcess(proc.path, 7, "/bin/a", "a", 8);
  fakeProcess(proc.path, 8, "/bin/b", "b", 7);
  auto chain = processChain(7, proc.path.string());
  REQUIRE(chain);
  CHECK(chain->size() == kMaxChain);
}

TEST_CASE("processChain of this process starts with the test binary", "[net][socket_owner]") {
  auto chain = processChain(static_cast<int>(::getpid()));
  REQUIRE(chain);
  REQUIRE_FALSE(chain->empty());
  CHECK(chain->front() == selfExe());
  // One entry per ancestor below init: as many as the parent walk finds.
  std::size_t ancestors = 0;
  for (int pid = static_cast<int>(::getpid()); pid > 1; ++ancestors) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto s = parseProcStat(text);
    REQUIRE(s);
    pid = s->ppid;
  }
  CHECK(chain->size() <= ancestors);
  if (::getppid() > 1) CHECK(chain->size() >= 2);
}

TEST_CASE("findSocketHolder finds the process with the socket link", "[net][socket_owner]") {
  lens::test::TempDir proc;
  fakeProcess(proc.path, 10, "/bin/a", "a", 1, {"/dev/null", "socket:[999]"});
  fakeProcess(proc.path, 20, "/bin/b", "b", 1, {"pipe:[12345]", "socket:[12345]"});
  fs::create_directories(proc.path / "self");  // not a pid: ignored
  auto pid = findSocketHolder(12345, std::nullopt, proc.path.string());
  REQUIRE(pid);
  CHECK(*pid == 20);
  CHECK(findSocketHolder(999, 0, proc.path.string()).value() == 10);
  auto none = findSocketHolder(1234, std::nullopt, proc.path.string());
  REQUIRE_FALSE(none);
  CHECK(none.error().code == lens::ErrorCode::kNotFound);
}

TEST_CASE("findSocketOwner finds this process on a loopback connection", "[net][socket_owner]") {
  Socket listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(listener.fd >= 0);
  const SocketAddress any = SocketAddress::parse("127.0.0.1:0").value();
  REQUIRE(::bind(listener.fd, any.get(), any.length) == 0);
  REQUIRE(::listen(listener.fd, 1) == 0);
  const SocketAddress listening = localOf(listener.fd);
  Socket client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(::connect(client.fd, listening.get(), listening.length) == 0);
  Socket accepted(::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC));
  REQUIRE(accepted.fd >= 0);

  // As the proxy sees it: its peer is the client, its local address the destination.
  auto owner = findSocketOwner(peerOf(accepted.fd), localOf(accepted.fd));
  REQUIRE(owner);
  CHECK(owner->pid == static_cast<int>(::getpid()));
  CHECK(owner->uid == ::getuid());
  REQUIRE_FALSE(owner->chain.empty());
  CHECK(owner->chain.front() == selfExe());
  CHECK_FALSE(owner->name.empty());
  const std::string link = fs::read_symlink("/proc/self/fd/" + std::to_string(client.fd)).string();
  CHECK(link == "socket:[" + std::to_string(owner->inode) + "]");

  // The accepted end is another socket, not the client's.
  auto reversed = findTcpSocket(localOf(accepted.fd), peerOf(accepted.fd));
  REQUIRE(reversed);
  CHECK(reversed->inode != owner->inode);

  // As a dual-stack listener would report it.
  const auto mapped = [](const SocketAddress& a) {
    return SocketAddress::parse("[::ffff:" + a.address().toString() +
                                "]:" + std::to_string(a.port()))
        .value();
  };
  auto viaMapped = findTcpSocket(mapped(peerOf(accepted.fd)), mapped(localOf(accepted.fd)));
  REQUIRE(viaMapped);
  CHECK(viaMapped->inode == owner->inode);

  // Closed: not found.
  const SocketAddress peer = peerOf(accepted.fd);
  const SocketAddress local = localOf(accepted.fd);
  ::close(client.fd);
  client.fd = -1;
  auto gone = findSocketOwner(peer, local);
  REQUIRE_FALSE(gone);
}
