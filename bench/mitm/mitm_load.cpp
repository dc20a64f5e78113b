// HTTPS load client for bench/mitm (see run.sh): CONNECT through a proxy,
// TLS to the host named in the CONNECT (SNI, chain and name verified against
// --cafile, ALPN http/1.1), then HTTP/1.1 GETs. Without --proxy it makes the
// same TLS connection straight to --connect (the baseline).
//
//   mitm_load MODE --host NAME --port N (--proxy ADDR:PORT | --connect ADDR:PORT)
//             --cafile PEM [--path P] [--concurrency C] [--seconds S]
//             [--count N] [--prefix STR] [--request-file FILE]
//
//   keepalive  C threads, one connection each, GET --path back to back for
//              --seconds (a failed connection is counted and reopened).
//   newconn    C threads, a new connection (TCP, CONNECT, full TLS
//              handshake, no resumption) for every GET, closed after it.
//   newhost    as newconn, but each connection's host is a name never used
//              before: STR-T-I.NAME (--prefix STR, thread T, index I), so an
//              intercepting proxy mints a certificate for every one.
//   bulk       one connection, one GET of --path, the body counted and
//              dropped; seconds are from the request to the last byte.
//   idle       --count connections one after another, each with one GET,
//              then held open: prints "idle open=N" and waits for its
//              standard input to close.
//   upload     one connection, the request in --request-file (head and
//              body, streamed from the file), then its response: prints
//              "upload bytes=N seconds=S".
//
// keepalive with --request-file sends that file's bytes (a whole request,
// say one signed for AWS) instead of the GET.
//
// Output: one line, "MODE done=N errors=E seconds=S p50_us=X p99_us=Y" (bulk:
// "bulk bytes=N seconds=S"). Every response is checked (status 200, the whole
// body read); the first few errors go to stderr. bulk and idle end with
// status 1 on any error.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "mitm_load: %s\n", what.c_str());
  std::exit(1);
}

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// Owns one socket descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

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
  std::string host;
  int port = 443;
  std::string proxy;
  std::string connect;
  std::string cafile;
  std::string path = "/";
  std::string prefix = "n";
  int concurrency = 8;
  double seconds = 5;
  int count = 1000;
  std::string
      requestFile;      // keepalive: send these bytes instead of a GET; upload: stream this file
  std::string request;  // its content (keepalive)
};

Args parseArgs(int argc, char** argv) {
  if (argc < 2)
    die("usage: mitm_load keepalive|newconn|newhost|bulk|idle|upload [options]; see the source");
  Args a;
  a.mode = argv[1];
  for (int i = 2; i < argc; i += 2) {
    const std::string_view k = argv[i];
    if (i + 1 >= argc) die("option " + std::string(k) + " needs a value");
    const std::string v = argv[i + 1];
    if (k == "--host")
      a.host = v;
    else if (k == "--port")
      a.port = std::stoi(v);
    else if (k == "--proxy")
      a.proxy = v;
    else if (k == "--connect")
      a.connect = v;
    else if (k == "--cafile")
      a.cafile = v;
    else if (k == "--path")
      a.path = v;
    else if (k == "--prefix")
      a.prefix = v;
    else if (k == "--concurrency")
      a.concurrency = std::stoi(v);
    else if (k == "--seconds")
      a.seconds = std::stod(v);
    else if (k == "--count")
      a.count = std::stoi(v);
    else if (k == "--request-file")
      a.requestFile = v;
    else
      die("unknown option " + std::string(k));
  }
  if (a.host.empty() || a.cafile.empty()) die("--host and --cafile are required");
  if (a.proxy.empty() == a.connect.empty()) die("give exactly one of --proxy and --connect");
  if (!a.requestFile.empty() && a.mode != "upload") {
    std::ifstream in(a.requestFile, std::ios::binary);
    if (!in) die("cannot read " + a.requestFile);
    a.request.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return a;
}

std::string sslError() {
  char buf[256];
  const unsigned long e = ERR_get_error();
  if (e == 0) return std::strerror(errno);
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

SslCtxPtr makeContext(const std::string& cafile) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) die("SSL_CTX_new: " + sslError());
  if (SSL_CTX_load_verify_locations(ctx.get(), cafile.c_str(), nullptr) != 1)
    die("cannot load " + cafile + ": " + sslError());
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  // Every connection is a full handshake: what a new client costs the proxy.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  static const unsigned char kAlpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof kAlpn - 1);
  return ctx;
}

// One TLS connection with a read buffer, and the HTTP/1.1 exchange on it.
class Session {
 public:
  Session(Fd fd, SslPtr ssl) : fd_(std::move(fd)), ssl_(std::move(ssl)) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() {
    if (ssl_) SSL_shutdown(ssl_.get());  // close_notify, as a browser or curl sends; no wait
  }

  // GET path; the body is counted into *bodyBytes and dropped.
  bool get(const std::string& host, int port, const std::string& path, std::uint64_t* bodyBytes,
           std::string* err) {
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host + ":" +
                            std::to_string(port) +
                            "\r\nUser-Agent: mitm_load\r\nAccept: */*\r\n\r\n";
    return send(req, bodyBytes, err);
  }

  // Sends `req` as it is (head and body), then reads the response.
  bool send(const std::string& req, std::uint64_t* bodyBytes, std::string* err) {
    if (SSL_write(ssl_.get(), req.data(), static_cast<int>(req.size())) !=
        static_cast<int>(req.size()))
      return fail(err, "write: " + sslError());
    return response(bodyBytes, err);
  }

  // Streams a request from a file (a large upload), then reads the response.
  bool sendFile(const std::string& path, std::uint64_t* sent, std::string* err) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(err, "cannot read " + path);
    std::vector<char> piece(256 * 1024);
    *sent = 0;
    while (in) {
      in.read(piece.data(), static_cast<std::streamsize>(piece.size()));
      const auto n = static_cast<int>(in.gcount());
      if (n > 0 && SSL_write(ssl_.get(), piece.data(), n) != n)
        return fail(err, "write: " + sslError());
      *sent += static_cast<std::uint64_t>(n);
    }
    std::uint64_t bodyBytes = 0;
    return response(&bodyBytes, err);
  }

  bool response(std::uint64_t* bodyBytes, std::string* err) {
    std::string line;
    if (!readLine(&line)) return fail(err, "no response");
    if (line.rfind("HTTP/1.1 200", 0) != 0 && line.rfind("HTTP/1.0 200", 0) != 0)
      return fail(err, "status: " + line);
    std::optional<std::uint64_t> length;
    bool chunked = false;
    for (;;) {
      if (!readLine(&line)) return fail(err, "truncated head");
      if (line.empty()) break;
      std::string lower = line;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (lower.rfind("content-length:", 0) == 0) length = std::stoull(lower.substr(15));
      if (lower.rfind("transfer-encoding:", 0) == 0 && lower.find("chunked") != std::string::npos)
        chunked = true;
    }
    *bodyBytes = 0;
    if (chunked) {
      for (;;) {
        if (!readLine(&line)) return fail(err, "truncated chunk size");
        const std::uint64_t n = std::stoull(line, nullptr, 16);
        if (n == 0) {
          while (readLine(&line) && !line.empty()) {
          }
          return true;
        }
        if (!skip(n)) return fail(err, "truncated chunk");
        *bodyBytes += n;
        if (!readLine(&line) || !line.empty()) return fail(err, "bad chunk end");
      }
    }
    if (!length) return fail(err, "response without Content-Length");
    if (!skip(*length)) return fail(err, "truncated body");
    *bodyBytes = *length;
    return true;
  }

 private:
  static bool fail(std::string* err, std::string what) {
    *err = std::move(what);
    return false;
  }

  bool fill() {
    if (start_ == end_) start_ = end_ = 0;
    if (end_ == sizeof buf_) {
      std::memmove(buf_, buf_ + start_, end_ - start_);
      end_ -= start_;
      start_ = 0;
    }
    const int r = SSL_read(ssl_.get(), buf_ + end_, static_cast<int>(sizeof buf_ - end_));
    if (r <= 0) return false;
    end_ += static_cast<std::size_t>(r);
    return true;
  }

  bool readLine(std::string* line) {
    for (;;) {
      const char* b = buf_ + start_;
      const auto* nl = static_cast<const char*>(std::memchr(b, '\n', end_ - start_));
      if (nl != nullptr) {
        std::size_t n = static_cast<std::size_t>(nl - b);
        line->assign(b, n > 0 && b[n - 1] == '\r' ? n - 1 : n);
        start_ += n + 1;
        return true;
      }
      if (end_ - start_ > 16384 || !fill()) return false;
    }
  }

  bool skip(std::uint64_t n) {
    while (n > 0) {
      if (start_ == end_ && !fill()) return false;
      const std::uint64_t take = std::min<std::uint64_t>(n, end_ - start_);
      start_ += static_cast<std::size_t>(take);
      n -= take;
    }
    return true;
  }

  Fd fd_;
  SslPtr ssl_;
  char buf_[64 * 1024];
  std::size_t start_ = 0;
  std::size_t end_ = 0;
};

class Client {
 public:
  explicit Client(const Args& a)
      : args_(a),
        ctx_(makeContext(a.cafile)),
        addr_(parseAddress(a.proxy.empty() ? a.connect : a.proxy)) {}

  // TCP, CONNECT host:port when through a proxy, TLS handshake verified for host.
  std::unique_ptr<Session> open(const std::string& host, std::string* err) const {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) die(std::string("socket: ") + std::strerror(errno));
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const timeval tv{10, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_) != 0) {
      *err = std::string("connect: ") + std::strerror(errno);
      return nullptr;
    }
    if (!args_.proxy.empty() && !connectTunnel(fd.get(), host, err)) return nullptr;
    SslPtr ssl(SSL_new(ctx_.get()));
    if (!ssl) die("SSL_new: " + sslError());
    SSL_set_fd(ssl.get(), fd.get());
    // SSL_set_tlsext_host_name() without its C cast.
    SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(host.c_str()));
    SSL_set1_host(ssl.get(), host.c_str());
    if (SSL_connect(ssl.get()) != 1) {
      const long v = SSL_get_verify_result(ssl.get());
      *err = "TLS handshake: " +
             (v != X509_V_OK ? std::string(X509_verify_cert_error_string(v)) : sslError());
      return nullptr;
    }
    return std::make_unique<Session>(std::move(fd), std::move(ssl));
  }

  const Args& args() const { return args_; }

 private:
  bool connectTunnel(int fd, const std::string& host, std::string* err) const {
    const std::string target = host + ":" + std::to_string(args_.port);
    const std::string head = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
    if (::send(fd, head.data(), head.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(head.size())) {
      *err = "CONNECT: send failed";
      return false;
    }
    // The proxy says nothing after its answer until the ClientHello: read
    // what comes until the blank line.
    std::string reply;
    char buf[1024];
    while (reply.find("\r\n\r\n") == std::string::npos) {
      const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r <= 0 || reply.size() > 8192) {
        *err = "CONNECT: no answer";
        return false;
      }
      reply.append(buf, static_cast<std::size_t>(r));
    }
    if (reply.size() != reply.find("\r\n\r\n") + 4 ||
        (reply.rfind("HTTP/1.1 200", 0) != 0 && reply.rfind("HTTP/1.0 200", 0) != 0)) {
      *err = "CONNECT: " + reply.substr(0, reply.find('\r'));
      return false;
    }
    return true;
  }

  const Args& args_;
  SslCtxPtr ctx_;
  sockaddr_in addr_;
};

struct Tally {
  std::uint64_t done = 0;
  std::uint64_t errors = 0;
  std::vector<std::uint32_t> latencyUs;
};

std::mutex errorMutex;
int errorsShown = 0;

void reportError(const std::string& what) {
  const std::lock_guard<std::mutex> lock(errorMutex);
  if (errorsShown++ < 5) std::fprintf(stderr, "mitm_load: %s\n", what.c_str());
}

std::uint32_t microsSince(Clock::time_point t0) {
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
}

void keepaliveWorker(const Client& c, Clock::time_point end, Tally* t) {
  const Args& a = c.args();
  std::unique_ptr<Session> s;
  std::string err;
  std::uint64_t bytes = 0;
  while (Clock::now() < end) {
    if (!s) {
      s = c.open(a.host, &err);
      if (!s) {
        ++t->errors;
        reportError(err);
        continue;
      }
    }
    const auto t0 = Clock::now();
    const bool ok = a.request.empty() ? s->get(a.host, a.port, a.path, &bytes, &err)
                                      : s->send(a.request, &bytes, &err);
    if (ok) {
      ++t->done;
      t->latencyUs.push_back(microsSince(t0));
    } else {
      ++t->errors;
      reportError(err);
      s.reset();
    }
  }
}

void newconnWorker(const Client& c, Clock::time_point end, int thread, bool newHost, Tally* t) {
  const Args& a = c.args();
  std::string err;
  std::uint64_t bytes = 0;
  for (std::uint64_t i = 0; Clock::now() < end; ++i) {
    const std::string host =
        newHost ? a.prefix + "-" + std::to_string(thread) + "-" + std::to_string(i) + "." + a.host
                : a.host;
    const auto t0 = Clock::now();
    auto s = c.open(host, &err);
    if (s && s->get(host, a.port, a.path, &bytes, &err)) {
      ++t->done;
      s.reset();
      t->latencyUs.push_back(microsSince(t0));
    } else {
      ++t->errors;
      reportError(host + ": " + err);
    }
  }
}

int load(const Client& c) {
  const Args& a = c.args();
  std::vector<Tally> tallies(static_cast<std::size_t>(a.concurrency));
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  for (int i = 0; i < a.concurrency; ++i) {
    Tally* t = &tallies[static_cast<std::size_t>(i)];
    if (a.mode == "keepalive")
      threads.emplace_back(keepaliveWorker, std::cref(c), end, t);
    else
      threads.emplace_back(newconnWorker, std::cref(c), end, i, a.mode == "newhost", t);
  }
  for (auto& th : threads) th.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Tally all;
  for (const auto& t : tallies) {
    all.done += t.done;
    all.errors += t.errors;
    all.latencyUs.insert(all.latencyUs.end(), t.latencyUs.begin(), t.latencyUs.end());
  }
  std::sort(all.latencyUs.begin(), all.latencyUs.end());
  auto pct = [&](std::size_t percent) -> std::uint32_t {
    if (all.latencyUs.empty()) return 0;
    return all.latencyUs[std::min(all.latencyUs.size() - 1, all.latencyUs.size() * percent / 100)];
  };
  std::printf("%s done=%llu errors=%llu seconds=%.4f p50_us=%u p99_us=%u\n", a.mode.c_str(),
              static_cast<unsigned long long>(all.done),
              static_cast<unsigned long long>(all.errors), seconds, pct(50), pct(99));
  return 0;
}

int bulk(const Client& c) {
  const Args& a = c.args();
  std::string err;
  auto s = c.open(a.host, &err);
  if (!s) die(err);
  std::uint64_t bytes = 0;
  const auto start = Clock::now();
  if (!s->get(a.host, a.port, a.path, &bytes, &err)) die(err);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("bulk bytes=%llu seconds=%.4f\n", static_cast<unsigned long long>(bytes), seconds);
  return 0;
}

// One request streamed from --request-file (a large upload).
int upload(const Client& c) {
  const Args& a = c.args();
  std::string err;
  auto s = c.open(a.host, &err);
  if (!s) die(err);
  std::uint64_t sent = 0;
  const auto start = Clock::now();
  if (!s->sendFile(a.requestFile, &sent, &err)) die(err);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("upload bytes=%llu seconds=%.4f\n", static_cast<unsigned long long>(sent), seconds);
  return 0;
}

int idle(const Client& c) {
  const Args& a = c.args();
  std::vector<std::unique_ptr<Session>> open;
  std::string err;
  std::uint64_t bytes = 0;
  for (int i = 0; i < a.count; ++i) {
    auto s = c.open(a.host, &err);
    if (!s || !s->get(a.host, a.port, a.path, &bytes, &err))
      die("connection " + std::to_string(i) + ": " + err);
    open.push_back(std::move(s));
  }
  std::printf("idle open=%zu\n", open.size());
  std::fflush(stdout);
  char ch;
  while (::read(0, &ch, 1) > 0) {
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parseArgs(argc, argv);
  rlimit l{};
  if (::getrlimit(RLIMIT_NOFILE, &l) == 0) {
    l.rlim_cur = l.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &l);
  }
  const Client c(a);
  if (a.mode == "keepalive" || a.mode == "newconn" || a.mode == "newhost") return load(c);
  if (a.mode == "bulk") return bulk(c);
  if (a.mode == "idle") return idle(c);
  if (a.mode == "upload") return upload(c);
  die("unknown mode " + a.mode);
}
