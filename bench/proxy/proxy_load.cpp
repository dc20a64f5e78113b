// Load generator and target server for bench/proxy (see run.sh).
//
//   proxy_load serve --listen ADDR:PORT
//       Per connection, reads one line: "SEND <n>" answers n bytes and
//       closes; "PING" answers "PONG\n" and closes; anything else (or
//       nothing) keeps the connection open and idle.
//   proxy_load bulk --target ADDR:PORT [--proxy ADDR:PORT] --bytes N
//       One connection (a CONNECT tunnel through the proxy when given):
//       asks for N bytes and reads them. Prints "bulk bytes=N seconds=S".
//   proxy_load rate --target ADDR:PORT [--proxy ADDR:PORT] --concurrency C --seconds S
//       C clients in a closed loop: (CONNECT,) PING, PONG, close, again.
//       Prints "rate done=N errors=E seconds=S".
//   proxy_load idle --target ADDR:PORT --proxy ADDR:PORT --count N
//       Opens N tunnels and keeps them idle; prints "idle open=N" once they
//       are all established, then waits for its standard input to close.
//
// Every operation is checked (status 200 for CONNECT, the byte count, the
// PONG); a failure is counted or, for bulk and idle, ends the run with
// status 1.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "proxy_load: %s\n", what.c_str());
  std::exit(1);
}

sockaddr_in parseAddress(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) die("bad address " + text + " (want IPV4:PORT)");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1))));
  if (::inet_pton(AF_INET, text.substr(0, colon).c_str(), &a.sin_addr) != 1)
    die("bad address " + text);
  return a;
}

struct Args {
  std::string mode;
  std::string listen;
  std::string target;
  std::string proxy;
  std::uint64_t bytes = 1ull << 30;
  int concurrency = 64;
  double seconds = 5;
  int count = 1000;
};

Args parseArgs(int argc, char** argv) {
  if (argc < 2) die("usage: proxy_load serve|bulk|rate|idle [options]");
  Args a;
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string_view k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--listen")
      a.listen = v;
    else if (k == "--target")
      a.target = v;
    else if (k == "--proxy")
      a.proxy = v;
    else if (k == "--bytes")
      a.bytes = std::stoull(v);
    else if (k == "--concurrency")
      a.concurrency = std::stoi(v);
    else if (k == "--seconds")
      a.seconds = std::stod(v);
    else if (k == "--count")
      a.count = std::stoi(v);
    else
      die("unknown option " + std::string(k));
  }
  return a;
}

void raiseFdLimit() {
  rlimit l{};
  if (::getrlimit(RLIMIT_NOFILE, &l) == 0) {
    l.rlim_cur = l.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &l);
  }
}

int connectTo(const sockaddr_in& a, bool blocking) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK), 0);
  if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string connectHead(const std::string& target) {
  return "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
}

// Blocking: CONNECT through the proxy and read its answer.
bool openTunnel(int fd, const std::string& target) {
  const std::string head = connectHead(target);
  if (::send(fd, head.data(), head.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(head.size()))
    return false;
  std::string reply;
  char c;
  while (reply.size() < 4096 && reply.find("\r\n\r\n") == std::string::npos) {
    if (::recv(fd, &c, 1, 0) != 1) return false;
    reply.push_back(c);
  }
  return reply.rfind("HTTP/1.1 200", 0) == 0 || reply.rfind("HTTP/1.0 200", 0) == 0;
}

// ---- serve ------------------------------------------------------------------

int serve(const Args& a) {
  raiseFdLimit();
  const sockaddr_in addr = parseAddress(a.listen);
  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(lfd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(lfd, 4096) != 0) {
    die(std::string("listen: ") + std::strerror(errno));
  }
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct Conn {
    std::string line;
    std::uint64_t toSend = 0;
    bool sending = false;
    bool pong = false;
  };
  std::unordered_map<int, Conn> conns;
  static char zeros[1 << 20];
  std::vector<epoll_event> events(256);
  auto finish = [&](int fd) {
    ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    conns.erase(fd);
  };
  for (;;) {
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      if (fd == lfd) {
        for (;;) {
          const int c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          conns[c] = Conn{};
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      if (!c.sending) {
        char buf[256];
        const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r <= 0) {
          if (r == 0 || errno != EAGAIN) finish(fd);
          continue;
        }
        c.line.append(buf, static_cast<std::size_t>(r));
        const auto nl = c.line.find('\n');
        if (nl == std::string::npos) continue;
        const std::string cmd = c.line.substr(0, nl);
        if (cmd == "PING") {
          (void)!::send(fd, "PONG\n", 5, MSG_NOSIGNAL);
          finish(fd);
          continue;
        }
        if (cmd.rfind("SEND ", 0) != 0) continue;  // idle
        c.toSend = std::stoull(cmd.substr(5));
        c.sending = true;
        epoll_event cev{};
        cev.events = EPOLLOUT;
        cev.data.fd = fd;
        ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
      }
      while (c.toSend > 0) {
        const ssize_t w =
            ::send(fd, zeros, std::min<std::uint64_t>(c.toSend, sizeof zeros), MSG_NOSIGNAL);
        if (w <= 0) break;
        c.toSend -= static_cast<std::uint64_t>(w);
      }
      if (c.toSend == 0) finish(fd);
    }
  }
}

// ---- bulk -------------------------------------------------------------------

int bulk(const Args& a) {
  const bool viaProxy = !a.proxy.empty();
  const int fd = connectTo(parseAddress(viaProxy ? a.proxy : a.target), true);
  if (fd < 0) die("connect failed");
  if (viaProxy && !openTunnel(fd, a.target)) die("CONNECT refused");
  const int size = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  const std::string cmd = "SEND " + std::to_string(a.bytes) + "\n";
  const auto start = Clock::now();
  if (::send(fd, cmd.data(), cmd.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(cmd.size()))
    die("send failed");
  std::vector<char> buf(1 << 20);
  std::uint64_t got = 0;
  for (;;) {
    const ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
    if (r <= 0) break;
    got += static_cast<std::uint64_t>(r);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  if (got != a.bytes)
    die("received " + std::to_string(got) + " of " + std::to_string(a.bytes) + " bytes");
  std::printf("bulk bytes=%llu seconds=%.4f\n", static_cast<unsigned long long>(got), seconds);
  return 0;
}

// ---- rate -------------------------------------------------------------------

int rate(const Args& a) {
  raiseFdLimit();
  const bool viaProxy = !a.proxy.empty();
  const sockaddr_in first = parseAddress(viaProxy ? a.proxy : a.target);
  const std::string head = viaProxy ? connectHead(a.target) : std::string();
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  enum class Step { kConnecting, kTunnel, kPong };
  struct Client {
    Step step = Step::kConnecting;
    std::string in;
  };
  std::unordered_map<int, Client> clients;
  std::uint64_t done = 0;
  std::uint64_t errors = 0;
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  auto launch = [&]() {
    const int fd = connectTo(first, false);
    if (fd < 0) {
      ++errors;
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.fd = fd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    clients[fd] = Client{};
  };
  auto drop = [&](int fd, bool ok) {
    ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    clients.erase(fd);
    if (ok)
      ++done;
    else
      ++errors;
    if (Clock::now() < end) launch();
  };
  for (int i = 0; i < a.concurrency; ++i) launch();
  std::vector<epoll_event> events(256);
  while (!clients.empty()) {
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      auto it = clients.find(fd);
      if (it == clients.end()) continue;
      Client& c = it->second;
      const std::uint32_t e = events[static_cast<std::size_t>(i)].events;
      if (c.step == Step::kConnecting) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (e & EPOLLERR)) {
          drop(fd, false);
          continue;
        }
        const std::string msg = viaProxy ? head : std::string("PING\n");
        if (::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size())) {
          drop(fd, false);
          continue;
        }
        c.step = viaProxy ? Step::kTunnel : Step::kPong;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
        continue;
      }
      char buf[4096];
      const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r < 0 && errno == EAGAIN) continue;
      if (r > 0) c.in.append(buf, static_cast<std::size_t>(r));
      if (c.step == Step::kTunnel) {
        const auto headEnd = c.in.find("\r\n\r\n");
        if (headEnd != std::string::npos) {
          if (c.in.rfind("HTTP/1.1 200", 0) != 0 && c.in.rfind("HTTP/1.0 200", 0) != 0) {
            drop(fd, false);
            continue;
          }
          c.in.erase(0, headEnd + 4);
          c.step = Step::kPong;
          if (::send(fd, "PING\n", 5, MSG_NOSIGNAL) != 5) {
            drop(fd, false);
            continue;
          }
        }
      }
      if (c.step == Step::kPong && c.in.find("PONG\n") != std::string::npos) {
        drop(fd, true);
        continue;
      }
      if (r <= 0) drop(fd, false);
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("rate done=%llu errors=%llu seconds=%.4f\n", static_cast<unsigned long long>(done),
              static_cast<unsigned long long>(errors), seconds);
  return 0;
}

// ---- idle -------------------------------------------------------------------

int idle(const Args& a) {
  raiseFdLimit();
  const sockaddr_in proxy = parseAddress(a.proxy);
  std::vector<int> open;
  for (int i = 0; i < a.count; ++i) {
    const int fd = connectTo(proxy, true);
    if (fd < 0 || !openTunnel(fd, a.target)) die("tunnel " + std::to_string(i) + " failed");
    open.push_back(fd);
  }
  std::printf("idle open=%zu\n", open.size());
  std::fflush(stdout);
  char c;
  while (::read(0, &c, 1) > 0) {
  }
  for (int fd : open) ::close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parseArgs(argc, argv);
  if (a.mode == "serve") return serve(a);
  if (a.mode == "bulk") return bulk(a);
  if (a.mode == "rate") return rate(a);
  if (a.mode == "idle") return idle(a);
  die("unknown mode " + a.mode);
}
