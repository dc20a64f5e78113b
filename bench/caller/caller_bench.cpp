// What identifying the caller of a connection costs (the lookup lens-proxy
// and lens-tproxy make for `binaries` rules), with a given number of other
// processes on the machine, for the one-shot findSocketOwner against
// SocketOwnerFinder (the holders of recent sockets tried first).
//
//   lens_bench_caller [--processes N,...] [--sockets N] [--rounds N] [--quick]
//
// For each process count it forks that many idle processes (each with a
// few open descriptors, as real ones have), then one client process that
// opens --sockets connections to a listener here and waits: the worst place
// for it, the last pid a scan reaches. Each round looks every accepted
// connection's owner up with both methods, alternating which goes first,
// and checks that both name the client. The table (markdown, stdout) has
// the median microseconds per lookup over the rounds, and for the finder
// how many lookups scanned /proc (the first of each client).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "libcommon/net/socket_address.h"
#include "libcommon/net/socket_owner.h"

namespace {

using Clock = std::chrono::steady_clock;
using lens::net::SocketAddress;

struct Options {
  std::vector<int> processes{0, 100, 1000};
  int sockets = 64;
  int rounds = 5;
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "lens_bench_caller: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

std::vector<int> parseList(const char* text) {
  std::vector<int> out;
  std::string s(text);
  std::size_t at = 0;
  while (at <= s.size()) {
    const std::size_t comma = s.find(',', at);
    out.push_back(std::atoi(s.substr(at, comma - at).c_str()));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

// Idle processes with a few descriptors each; killed by the destructor.
struct Crowd {
  std::vector<pid_t> pids;
  explicit Crowd(int n) {
    for (int i = 0; i < n; ++i) {
      const pid_t pid = ::fork();
      if (pid < 0) die("fork");
      if (pid == 0) {
        for (int k = 0; k < 6; ++k) (void)!::dup(0);
        ::pause();
        ::_exit(0);
      }
      pids.push_back(pid);
    }
  }
  ~Crowd() {
    for (pid_t pid : pids) ::kill(pid, SIGKILL);
    for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Row {
  int processes = 0;
  double oneShotUs = 0;
  double finderUs = 0;
  std::uint64_t scans = 0;
  int lookups = 0;
};

Row measure(int processes, const Options& o) {
  Crowd crowd(processes);
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 ||
      ::listen(listener, 1024) != 0) {
    die("listen");
  }
  socklen_t length = sizeof at;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&at), &length);

  // The client, forked last: it connects --sockets times and waits.
  int ready[2];
  if (::pipe(ready) != 0) die("pipe");
  const pid_t client = ::fork();
  if (client < 0) die("fork");
  if (client == 0) {
    ::close(listener);
    std::vector<int> held;
    for (int i = 0; i < o.sockets; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) ::_exit(1);
      held.push_back(fd);
    }
    (void)!::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char byte = 0;
  if (::read(ready[0], &byte, 1) != 1) die("the client could not connect");
  ::close(ready[0]);

  struct Accepted {
    int fd;
    SocketAddress peer;
    SocketAddress local;
  };
  std::vector<Accepted> accepted;
  for (int i = 0; i < o.sockets; ++i) {
    sockaddr_storage peer{};
    socklen_t n = sizeof peer;
    const int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &n, SOCK_CLOEXEC);
    if (fd < 0) die("accept");
    sockaddr_storage local{};
    socklen_t m = sizeof local;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &m);
    accepted.push_back({fd, SocketAddress::fromStorage(peer), SocketAddress::fromStorage(local)});
  }

  std::vector<double> oneShot;
  std::vector<double> finder;
  Row row;
  row.processes = processes;
  for (int round = 0; round < o.rounds; ++round) {
    lens::net::SocketOwnerFinder f;  // fresh each round: its first lookup scans
    auto runOneShot = [&] {
      const auto start = Clock::now();
      for (const Accepted& a : accepted) {
        auto owner = lens::net::findSocketOwner(a.peer, a.local);
        if (!owner || owner->pid != client) die("findSocketOwner did not find the client");
      }
      oneShot.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count() /
                        static_cast<double>(accepted.size()));
    };
    auto runFinder = [&] {
      const auto start = Clock::now();
      for (const Accepted& a : accepted) {
        auto owner = f.find(a.peer, a.local);
        if (!owner || owner->pid != client) die("SocketOwnerFinder did not find the client");
      }
      finder.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count() /
                       static_cast<double>(accepted.size()));
    };
    if (round % 2 == 0) {
      runOneShot();
      runFinder();
    } else {
      runFinder();
      runOneShot();
    }
    row.scans = f.scans();
  }
  row.oneShotUs = median(oneShot);
  row.finderUs = median(finder);
  row.lookups = o.sockets;

  for (const Accepted& a : accepted) ::close(a.fd);
  ::close(listener);
  ::kill(client, SIGKILL);
  ::waitpid(client, nullptr, 0);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--processes" && i + 1 < argc) {
      o.processes = parseList(argv[++i]);
    } else if (a == "--sockets" && i + 1 < argc) {
      o.sockets = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--rounds" && i + 1 < argc) {
      o.rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--quick") {
      o.processes = {0, 50};
      o.sockets = 8;
      o.rounds = 1;
    } else if (a == "-h" || a == "--help") {
      std::puts(
          "usage: lens_bench_caller [--processes N,...] [--sockets N] [--rounds N] [--quick]");
      return 0;
    } else {
      std::fprintf(stderr, "lens_bench_caller: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  std::printf(
      "| other processes | findSocketOwner µs/lookup | SocketOwnerFinder µs/lookup | "
      "finder scans of /proc | one-shot/finder |\n|---:|---:|---:|---:|---:|\n");
  for (int n : o.processes) {
    std::fprintf(stderr, "%d processes...\n", n);
    const Row r = measure(n, o);
    std::printf("| %d | %.1f | %.1f | %llu of %d | %.1fx |\n", r.processes, r.oneShotUs, r.finderUs,
                static_cast<unsigned long long>(r.scans), r.lookups,
                r.finderUs > 0 ? r.oneShotUs / r.finderUs : 0.0);
  }
  return 0;
}
