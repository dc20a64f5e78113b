#include "libcommon/proxy/origin_dialer.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "libcommon/decision/safety_floor.h"
#include "libcommon/http/framing.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/log/logging.h"
#include "libcommon/net/socket_address.h"
#include "libcommon/net/socket_mark.h"
#include "libcommon/proxy/reply.h"
#include "libcommon/util/invariant.h"
#include "libcommon/util/unique_fd.h"

namespace lens::proxy {

namespace {

constexpr std::size_t kMaxProxyReply = 16 * 1024;

}  // namespace

OutgoingEntry::OutgoingEntry(std::unordered_set<std::string>& set, std::string key)
    : set_(&set), key_(std::move(key)) {
  set_->insert(key_);
}

OutgoingEntry::OutgoingEntry(OutgoingEntry&& other) noexcept
    : set_(other.set_), key_(std::move(other.key_)) {
  other.set_ = nullptr;
}

OutgoingEntry& OutgoingEntry::operator=(OutgoingEntry&& other) noexcept {
  if (this != &other) {
    reset();
    set_ = other.set_;
    key_ = std::move(other.key_);
    other.set_ = nullptr;
  }
  return *this;
}

void OutgoingEntry::reset() {
  if (set_) set_->erase(key_);
  set_ = nullptr;
  key_.clear();
}

OriginDialer::OriginDialer(ProxyContext& ctx, Watch& watch, std::function<void()> wake)
    : ctx_(ctx),
      watch_(watch),
      wake_(std::move(wake)),
      alive_(std::make_shared<std::uint64_t>(0)) {}

OriginDialer::~OriginDialer() { cancel(); }

void OriginDialer::cancel() {
  ++*alive_;  // a late resolver answer is for a dial that is gone
  if (stream_) dropSocket();
  outgoing_.reset();
  if (busy()) stage_ = Stage::kIdle;
}

void OriginDialer::fail(int status, std::string_view reason, std::string text, std::string detail) {
  failure_.status = status;
  failure_.reason = reason;
  failure_.text = std::move(text);
  failure_.detail = std::move(detail);
  if (stream_) dropSocket();
  outgoing_.reset();
  stage_ = Stage::kFailed;
}

void OriginDialer::start(DialTarget target) {
  cancel();
  target_ = std::move(target);
  failure_ = Failure{};
  dialled_.reset();
  toServer_.clear();
  fromServer_.clear();
  const std::string& name = target_.route ? target_.route->proxy.host : target_.host;
  if (auto ip = net::IpAddress::parse(name)) {
    stage_ = Stage::kResolving;
    onResolved(std::vector<net::IpAddress>{*ip});
  } else {
    resolve(name);
  }
}

// ---- events ------------------------------------------------------------------

void OriginDialer::onEvents(std::uint32_t events) {
  if (stage_ == Stage::kConnecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
    connectEvent_ = true;
    connectError_ = (events & (EPOLLERR | EPOLLHUP)) != 0;
  }
}

void OriginDialer::step() {
  for (int round = 0; round < 8; ++round) {
    const Stage before = stage_;
    switch (stage_) {
      case Stage::kConnecting:
        if (connectEvent_) finishConnect();
        break;
      case Stage::kProxyTls:
        continueProxyTls();
        break;
      case Stage::kProxyReply:
        readProxyReply();
        break;
      case Stage::kOriginTls:
        continueOriginTls();
        break;
      default:
        break;
    }
    if (stage_ == before) return;
  }
}

std::uint32_t OriginDialer::interest() const {
  switch (stage_) {
    case Stage::kConnecting:
      return EPOLLOUT;
    case Stage::kProxyTls:
    case Stage::kOriginTls:
      return stream_->blockedOnWrite() ? EPOLLOUT : EPOLLIN;
    case Stage::kProxyReply:
      return (toServer_.empty() ? EPOLLIN : EPOLLOUT) | (stream_->blockedOnWrite() ? EPOLLOUT : 0u);
    default:
      return 0;
  }
}

void OriginDialer::onTick() {
  if (!busy() || ctx_.now < deadline_) return;
  switch (stage_) {
    case Stage::kResolving:
      fail(502, reason::kDnsFailure, "name resolution timed out");
      break;
    case Stage::kConnecting:
      dialFailed(true, "connect timed out");
      break;
    case Stage::kProxyTls:
    case Stage::kProxyReply:
      fail(504, reason::kUpstreamProxyTimeout, "the upstream proxy did not answer in time");
      break;
    case Stage::kOriginTls:
      fail(502, reason::kOriginTlsFailed, "TLS to the server failed",
           "the TLS handshake timed out");
      break;
    default:
      break;
  }
}

// ---- resolving -----------------------------------------------------------------

void OriginDialer::resolve(const std::string& name) {
  stage_ = Stage::kResolving;
  // c-ares has its own timeouts; this one only guards against a lost callback.
  deadline_ = ctx_.now + ctx_.options.resolver.timeout * (ctx_.options.resolver.tries * 4 + 2);
  std::weak_ptr<std::uint64_t> alive = alive_;
  const std::uint64_t dial = *alive_;
  inResolve_ = true;
  ctx_.resolver->resolve(name, [this, alive, dial](Result<std::vector<net::IpAddress>> result) {
    // The dial may have ended (or its connection closed) meanwhile.
    auto token = alive.lock();
    if (!token || *token != dial || stage_ != Stage::kResolving) return;
    if (inResolve_) {  // answered at once (hosts file): the caller goes on
      resolved_.emplace(std::move(result));
      return;
    }
    onResolved(std::move(result));
    wake_();
  });
  inResolve_ = false;
  if (resolved_) {
    auto result = std::move(*resolved_);
    resolved_.reset();
    onResolved(std::move(result));
  }
}

void OriginDialer::onResolved(Result<std::vector<net::IpAddress>> result) {
  if (!result) {
    if (target_.route) {
      fail(502, reason::kUpstreamProxyFailed, "cannot resolve the upstream proxy",
           "upstream proxy " + target_.route->proxy.redacted() + ": " + result.error().message);
    } else {
      fail(502, reason::kDnsFailure, "cannot resolve the name", result.error().message);
    }
    return;
  }
  addresses_.clear();
  nextAddress_ = 0;
  connectTimedOut_ = false;
  LENS_INVARIANT(!result->empty(), "a name that resolved has an address");
  if (target_.route) {
    addresses_ = std::move(*result);  // trusted infrastructure: no floor, no rules
  } else {
    // The floor again on every address the name resolved to; then the rules
    // with the address (an egress.tcp CIDR rule binds a name resolving into
    // it). One address on the floor refuses the name: a rebinding answer.
    std::optional<decision::Decision> refusal;
    for (const net::IpAddress& ip : *result) {
      if (auto v = decision::checkAddressFloor(ip)) {
        decision::Decision d;
        d.reason = decision::kFloorReason;
        d.detail = "the name resolves to " + ip.toString() + ": " + v->detail;
        failure_.refusal = d;
        fail(403, d.reason, "refused by policy", d.detail);
        return;
      }
      decision::Request withAddress = target_.check;
      withAddress.address = ip;
      decision::Decision d = target_.engine->decide(withAddress);
      if (d.allowed() || (target_.approved && d.verdict == policy::Verdict::kAsk)) {
        addresses_.push_back(ip);
      } else if (!refusal) {
        refusal = std::move(d);
      }
    }
    if (addresses_.empty()) {
      LENS_INVARIANT(refusal.has_value(), "every address of the name was refused by a decision");
      failure_.refusal = std::move(refusal);
      fail(403, failure_.refusal->reason, "refused by policy", failure_.refusal->detail);
      return;
    }
  }
  dialNext();
}

// ---- connecting ------------------------------------------------------------------

void OriginDialer::dialNext() {
  const std::uint16_t port = target_.route ? target_.route->proxy.port : target_.port;
  while (nextAddress_ < addresses_.size()) {
    const net::IpAddress ip = addresses_[nextAddress_++];
    const net::SocketAddress address = net::SocketAddress::from(ip, port);
    util::UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
      lastDialError_ = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    if (ctx_.options.mark != 0) {
      auto marked = net::markSocket(fd.get(), ctx_.options.mark);
      if ((!marked || *marked != net::MarkResult::kMarked) && !ctx_.markWarned) {
        ctx_.markWarned = true;
        log::get("proxy")->warn(
            "cannot mark outgoing sockets ({}): inside a cage they would be refused",
            marked ? "not permitted" : marked.error().message);
      }
    }
    const int one = 1;
    (void)::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const int raw = fd.get();
    stream_ = std::make_unique<SocketStream>(std::move(fd));
    watch_.fd = raw;
    dialled_ = ip;
    if (::connect(raw, address.get(), address.length) == 0 || errno == EINPROGRESS) {
      if (ctx_.options.transparent != TransparentMode::kOff) {
        sockaddr_storage local{};
        socklen_t length = sizeof local;
        if (::getsockname(raw, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
          outgoing_ =
              OutgoingEntry(ctx_.outgoing, net::SocketAddress::fromStorage(local).toString());
        }
      }
      stage_ = Stage::kConnecting;
      connectEvent_ = false;
      deadline_ = ctx_.now + ctx_.options.connectTimeout;
      return;
    }
    lastDialError_ = address.toString() + ": " + std::strerror(errno);
    dropSocket();
  }
  dialFailed(false, lastDialError_);
}

void OriginDialer::finishConnect() {
  connectEvent_ = false;
  int error = 0;
  if (connectError_) {  // writable without an error is connected: no getsockopt needed
    socklen_t length = sizeof error;
    if (::getsockopt(stream_->fd(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    if (error == 0) error = ECONNREFUSED;
  }
  if (error == 0) {
    connected();
    return;
  }
  lastDialError_ = dialled_->toString() + ": " + std::strerror(error);
  dropSocket();
  if (nextAddress_ < addresses_.size()) {
    dialNext();
  } else {
    dialFailed(false, lastDialError_);
  }
}

void OriginDialer::dialFailed(bool timedOut, const std::string& why) {
  if (timedOut) {
    connectTimedOut_ = true;
    lastDialError_ = (dialled_ ? dialled_->toString() + ": " : std::string()) + why;
    dropSocket();
    if (nextAddress_ < addresses_.size()) {
      dialNext();
      return;
    }
  }
  if (target_.route) {
    if (connectTimedOut_) {
      fail(504, reason::kUpstreamProxyTimeout, "cannot reach the upstream proxy in time",
           target_.route->proxy.redacted() + ": " + lastDialError_);
    } else {
      fail(502, reason::kUpstreamProxyFailed, "cannot connect to the upstream proxy",
           target_.route->proxy.redacted() + ": " + lastDialError_);
    }
  } else if (connectTimedOut_) {
    fail(504, reason::kConnectTimeout, "the server did not accept the connection in time",
         lastDialError_);
  } else {
    fail(502, reason::kConnectFailed, "cannot connect to the server", lastDialError_);
  }
}

void OriginDialer::connected() {
  if (!target_.route) {
    routeOpen();
    return;
  }
  if (target_.route->tls) {
    stream_ = TlsStream::client(std::move(stream_), target_.route->tls, target_.route->proxy.host);
    if (!stream_) {
      fail(502, reason::kUpstreamProxyFailed, "TLS to the upstream proxy failed", "out of memory");
      return;
    }
    stage_ = Stage::kProxyTls;
    deadline_ = ctx_.now + ctx_.options.connectTimeout;
    continueProxyTls();
    return;
  }
  askUpstreamProxy();
}

// ---- the upstream proxy ------------------------------------------------------------

void OriginDialer::continueProxyTls() {
  auto* tls = static_cast<TlsStream*>(stream_.get());
  const IoResult r = tls->handshake();
  if (r.status == IoStatus::kWouldBlock) return;
  if (r.status != IoStatus::kOk) {
    fail(502, reason::kUpstreamProxyFailed, "TLS to the upstream proxy failed",
         target_.route->proxy.redacted() + ": " + tls->error());
    return;
  }
  askUpstreamProxy();
}

void OriginDialer::askUpstreamProxy() {
  stage_ = Stage::kProxyReply;
  deadline_ = ctx_.now + ctx_.options.upstreamTimeout;
  const bool v6 = target_.host.find(':') != std::string::npos;
  const std::string authority =
      (v6 ? "[" + target_.host + "]" : target_.host) + ":" + std::to_string(target_.port);
  std::string head = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n";
  if (!target_.route->proxy.authorization.empty())
    head += "Proxy-Authorization: " + target_.route->proxy.authorization + "\r\n";
  head += "\r\n";
  toServer_.append(head);
  fromServer_.clear();
  readProxyReply();
}

void OriginDialer::readProxyReply() {
  const std::string proxy = target_.route->proxy.redacted();
  while (!toServer_.empty()) {
    const IoResult w = stream_->write(toServer_.data(), toServer_.size());
    if (w.status == IoStatus::kWouldBlock) return;
    if (w.status != IoStatus::kOk) {
      fail(502, reason::kUpstreamProxyFailed, "the upstream proxy closed the connection", proxy);
      return;
    }
    toServer_.consume(w.bytes);
  }
  for (;;) {
    if (auto end = http::findHeadEnd(fromServer_)) {
      auto head = http::parseResponseHead(std::string_view(fromServer_).substr(0, *end), "CONNECT");
      if (!head || head->status / 100 != 2) {
        const std::string status =
            head ? std::to_string(head->status) : std::string("a malformed answer");
        fail(502, reason::kUpstreamProxyFailed, "the upstream proxy refused the tunnel",
             proxy + " answered " + status);
        return;
      }
      fromServer_.erase(0, *end);  // anything after the head is the destination's
      routeOpen();
      return;
    }
    if (fromServer_.size() > kMaxProxyReply) {
      fail(502, reason::kUpstreamProxyFailed, "the upstream proxy's answer is too large", proxy);
      return;
    }
    char chunk[4096];
    const IoResult r = stream_->read(chunk, sizeof chunk);
    if (r.status == IoStatus::kWouldBlock) return;
    if (r.status != IoStatus::kOk) {
      fail(502, reason::kUpstreamProxyFailed, "the upstream proxy closed the connection", proxy);
      return;
    }
    fromServer_.append(chunk, r.bytes);
  }
}

// ---- TLS to the destination ----------------------------------------------------------

void OriginDialer::routeOpen() {
  if (!target_.tls) {
    stage_ = Stage::kDone;
    return;
  }
  if (!fromServer_.empty()) {
    // A server speaks TLS only after our ClientHello: this is something else.
    fail(502, reason::kOriginTlsFailed, "TLS to the server failed",
         "the server sent bytes before the TLS handshake");
    return;
  }
  stream_ = TlsStream::client(std::move(stream_), target_.tls,
                              target_.serverName.empty() ? target_.host : target_.serverName,
                              target_.alpn);
  if (!stream_) {
    fail(502, reason::kOriginTlsFailed, "TLS to the server failed", "out of memory");
    return;
  }
  stage_ = Stage::kOriginTls;
  deadline_ = ctx_.now + ctx_.options.connectTimeout;
  continueOriginTls();
}

void OriginDialer::continueOriginTls() {
  auto* tls = static_cast<TlsStream*>(stream_.get());
  const IoResult r = tls->handshake();
  if (r.status == IoStatus::kWouldBlock) return;
  if (r.status != IoStatus::kOk) {
    fail(502, reason::kOriginTlsFailed, "TLS to the server failed", tls->error());
    return;
  }
  stage_ = Stage::kDone;
}

// ---- the result ------------------------------------------------------------------------

std::unique_ptr<Stream> OriginDialer::takeStream() {
  stage_ = Stage::kIdle;
  return std::move(stream_);
}

std::string OriginDialer::takePending() {
  std::string out = std::move(fromServer_);
  fromServer_.clear();
  return out;
}

void OriginDialer::dropSocket() {
  ctx_.reactor.forget(watch_);  // closing the socket takes it out of epoll
  stream_.reset();
  outgoing_.reset();
  watch_.fd = -1;
}

}  // namespace lens::proxy
