#include "libcommon/dns/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <iostream>

#include "libcommon/json/json_writer.h"
#include "libcommon/log/logging.h"
#include "libcommon/net/socket_address.h"
#include "libcommon/net/socket_mark.h"
#include "libcommon/util/strings.h"
#include "libcommon/util/system_error.h"

namespace lens::dns {

namespace {

constexpr std::size_t kBatch = 32;              // datagrams per recvmmsg/sendmmsg
constexpr std::size_t kMaxUdpQuery = 4096;      // larger datagrams are dropped
constexpr std::size_t kMaxTcpOutput = 1 << 20;  // a client that does not read is closed
constexpr auto kAllowWindow = std::chrono::seconds(10);
constexpr auto kPinRetry = std::chrono::seconds(10);

std::string_view typeName(std::uint16_t type) {
  switch (type) {
    case rrtype::kA:
      return "A";
    case rrtype::kAaaa:
      return "AAAA";
    case rrtype::kCname:
      return "CNAME";
    case rrtype::kSoa:
      return "SOA";
    case rrtype::kHttps:
      return "HTTPS";
    case rrtype::kSvcb:
      return "SVCB";
    case rrtype::kAny:
      return "ANY";
    case 2:
      return "NS";
    case 12:
      return "PTR";
    case 15:
      return "MX";
    case 16:
      return "TXT";
    case 33:
      return "SRV";
    default:
      return {};
  }
}

std::string typeText(std::uint16_t type) {
  const std::string_view name = typeName(type);
  return name.empty() ? "TYPE" + std::to_string(type) : std::string(name);
}

audit::Endpoint endpointOf(const sockaddr_storage& ss) {
  const net::SocketAddress address = net::SocketAddress::fromStorage(ss);
  return {address.address().toString(), address.port()};
}

std::string describe(const sockaddr_storage& ss) {
  return net::SocketAddress::fromStorage(ss).toString();
}

}  // namespace

std::string statsJson(const Stats& s) {
  json::ObjectWriter w;
  w.field("queries", s.queries);
  w.field("allowed", s.allowed);
  w.field("denied", s.denied);
  w.field("forwarded", s.forwarded);
  w.field("cache_hits", s.cacheHits);
  w.field("upstream_failures", s.upstreamFailures);
  w.field("dropped_malformed", s.droppedMalformed);
  w.field("overflow_servfail", s.overflow);
  w.field("upstream_queued", s.upstreamQueued);
  w.field("queued_expired", s.queuedExpired);
  w.field("truncated", s.truncated);
  w.field("answered_locally", s.suppressedRecords);
  w.field("tcp_connections", s.tcpConnections);
  w.field("pinned", s.pinned);
  w.field("pin_failures", s.pinFailures);
  w.field("audit_suppressed", s.auditSuppressed);
  w.field("cache_entries", static_cast<std::uint64_t>(s.cacheEntries));
  w.field("cache_bytes", static_cast<std::uint64_t>(s.cacheBytes));
  return w.finish();
}

// What an epoll event belongs to.
struct Server::Watch {
  enum class Kind { kUdp, kTcpListener, kTcpConnection, kUpstream, kWake, kSignal };
  Kind kind;
  int fd;
  std::uint64_t connection = 0;
};

struct Server::TcpConnection {
  util::UniqueFd fd;
  std::uint64_t id = 0;
  sockaddr_storage peer{};
  socklen_t peerLength = 0;
  std::vector<std::uint8_t> in;
  std::vector<std::uint8_t> out;
  std::size_t outSent = 0;
  std::size_t pending = 0;  // queries waiting for the upstream
  bool writing = false;     // EPOLLOUT registered
  bool eof = false;         // the client closed its side; answer what is pending, then close
  Cache::Clock::time_point lastActive;
  Watch watch{Watch::Kind::kTcpConnection, -1, 0};
};

Server::Server(ServerOptions options) : options_(std::move(options)), cache_(options_.cache) {}

Result<std::unique_ptr<Server>> Server::create(ServerOptions options) {
  std::unique_ptr<Server> self(new Server(std::move(options)));
  self->engine_ = std::make_shared<const decision::Engine>(nullptr);
  for (const std::string& host : self->options_.bootstrapHosts) self->bootstrap_.insert(host);

  self->epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!self->epoll_) return util::systemError("epoll_create1");
  if (auto ok = self->handoff_.open(); !ok) return ok.error();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  self->signals_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!self->signals_) return util::systemError("signalfd");
  for (auto [fd, kind] : {std::pair{self->handoff_.fd(), Watch::Kind::kWake},
                          std::pair{self->signals_.get(), Watch::Kind::kSignal}}) {
    self->listenerWatches_.push_back(std::make_unique<Watch>(Watch{kind, fd}));
    if (auto ok = self->addWatch(fd, EPOLLIN, self->listenerWatches_.back().get()); !ok)
      return ok.error();
  }

  Server* raw = self.get();
  // c-ares's own timeout ends the queries on a socket that cannot be
  // watched; one left registered after DEL failed could report events for
  // a watch that is gone: both are said.
  auto watch = [raw](int fd, bool readable, bool writable) {
    auto it = raw->upstreamWatches_.find(fd);
    if (!readable && !writable) {
      if (it != raw->upstreamWatches_.end()) {
        if (::epoll_ctl(raw->epoll_.get(), EPOLL_CTL_DEL, fd, nullptr) != 0) {
          const int err = errno;
          log::get("dns")->error("epoll_ctl(EPOLL_CTL_DEL) of upstream socket {}: {}", fd,
                                 std::strerror(err));
        }
        raw->upstreamWatches_.erase(it);
      }
      return;
    }
    epoll_event ev{};
    ev.events = (readable ? EPOLLIN : 0u) | (writable ? EPOLLOUT : 0u);
    if (it == raw->upstreamWatches_.end()) {
      it = raw->upstreamWatches_
               .emplace(fd, std::make_unique<Watch>(Watch{Watch::Kind::kUpstream, fd}))
               .first;
      ev.data.ptr = it->second.get();
      if (::epoll_ctl(raw->epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
        const int err = errno;
        log::get("dns")->warn("cannot watch upstream socket {}: {}", fd, std::strerror(err));
        raw->upstreamWatches_.erase(it);  // the next change tries to add it again
      }
    } else {
      ev.data.ptr = it->second.get();
      if (::epoll_ctl(raw->epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
        const int err = errno;
        log::get("dns")->warn("cannot watch upstream socket {}: {}", fd, std::strerror(err));
      }
    }
  };
  net::Resolver::Options up = self->options_.upstream;
  up.mark = self->options_.mark;
  auto upstream = net::Resolver::create(up, watch);
  if (!upstream) return upstream.error();
  self->upstream_ = std::move(*upstream);
  if (self->options_.pinning) self->pinner_ = std::make_unique<lockdown::Pinner>();
  if (auto ok = self->bindAll(); !ok) return ok.error();
  return self;
}

Server::~Server() {
  upstream_.reset();  // pending queries are answered (SERVFAIL) while the sockets are open
}

Status Server::addWatch(int fd, std::uint32_t events, Watch* watch) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = watch;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return util::systemError("epoll_ctl");
  return Ok{};
}

Status Server::bindAll() {
  std::vector<std::pair<std::string, bool>> all;
  for (const auto& a : options_.listen) all.emplace_back(a, false);
  for (const auto& a : options_.optionalListen) all.emplace_back(a, true);
  for (const auto& [text, optional] : all) {
    auto address = net::SocketAddress::parse(text);
    if (!address) return address.error();
    sockaddr_storage ss = address->storage;
    const socklen_t length = address->length;
    const int family = ss.ss_family;
    util::UniqueFd udp(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!udp) return util::systemError("socket");
    const int one = 1;
    if (family == AF_INET6) ::setsockopt(udp.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (options_.mark != 0)
      (void)net::markSocket(udp.get(), options_.mark);  // EPERM unprivileged: fine
    net::growSocketBuffers(udp.get());
    if (::bind(udp.get(), reinterpret_cast<sockaddr*>(&ss), length) != 0) {
      Status failed = util::systemError("cannot listen on " + text + " (udp)");
      if (optional) {
        log::get("dns")->warn("{}; going on without it", failed.error().message);
        continue;
      }
      return failed;
    }
    // Port 0: the TCP listener takes the port the kernel gave the UDP socket.
    sockaddr_storage actual{};
    socklen_t actualLength = sizeof actual;
    ::getsockname(udp.get(), reinterpret_cast<sockaddr*>(&actual), &actualLength);
    util::UniqueFd tcp(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!tcp) return util::systemError("socket");
    ::setsockopt(tcp.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6) ::setsockopt(tcp.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (options_.mark != 0) (void)net::markSocket(tcp.get(), options_.mark);
    if (::bind(tcp.get(), reinterpret_cast<sockaddr*>(&actual), actualLength) != 0 ||
        ::listen(tcp.get(), 128) != 0) {
      return util::systemError("cannot listen on " + describe(actual) + " (tcp)");
    }
    const int udpFd = udp.get();
    const int tcpFd = tcp.get();
    udpSockets_.push_back(std::move(udp));
    tcpListeners_.push_back(std::move(tcp));
    bound_.push_back(describe(actual));
    listenerWatches_.push_back(std::make_unique<Watch>(Watch{Watch::Kind::kUdp, udpFd}));
    if (auto ok = addWatch(udpFd, EPOLLIN, listenerWatches_.back().get()); !ok) return ok;
    listenerWatches_.push_back(std::make_unique<Watch>(Watch{Watch::Kind::kTcpListener, tcpFd}));
    if (auto ok = addWatch(tcpFd, EPOLLIN, listenerWatches_.back().get()); !ok) return ok;
  }
  if (bound_.empty()) return makeError(ErrorCode::kInvalidArgument, "no address to listen on");
  return Ok{};
}

void Server::setEngine(std::shared_ptr<const decision::Engine> engine) {
  handoff_.post(std::move(engine));
}

void Server::stop() {
  stopping_ = true;
  handoff_.wake();
}

Stats Server::stats() const {
  Stats s = stats_;
  s.cacheEntries = cache_.entries();
  s.cacheBytes = cache_.bytes();
  return s;
}

void Server::applyPendingEngine() {
  if (auto engine = handoff_.take()) {
    engine_ = std::move(engine);
    ++generation_;
  }
}

Status Server::run() {
  std::array<epoll_event, 64> events{};
  auto lastSweep = Cache::Clock::now();
  applyPendingEngine();
  while (!stopping_) {
    int timeout = upstream_->timeoutMs();
    if (!connections_.empty() && (timeout < 0 || timeout > 1000)) timeout = 1000;
    const int n =
        ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      return util::systemError("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      auto* watch = static_cast<Watch*>(events[static_cast<std::size_t>(i)].data.ptr);
      const std::uint32_t ev = events[static_cast<std::size_t>(i)].events;
      switch (watch->kind) {
        case Watch::Kind::kUdp:
          readUdp(watch->fd);
          break;
        case Watch::Kind::kTcpListener:
          acceptTcp(watch->fd);
          break;
        case Watch::Kind::kTcpConnection: {
          auto it = connections_.find(watch->connection);
          if (it == connections_.end()) break;
          TcpConnection& c = *it->second;
          if ((ev & (EPOLLERR | EPOLLHUP)) != 0 && (ev & EPOLLIN) == 0) {
            closeTcp(c.id);
            break;
          }
          const std::uint64_t id = c.id;
          if ((ev & EPOLLOUT) != 0) flushTcp(c);
          if ((ev & EPOLLIN) != 0 && connections_.count(id) != 0) readTcp(c);
          break;
        }
        case Watch::Kind::kUpstream:
          upstream_->process(watch->fd, (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0,
                             (ev & EPOLLOUT) != 0);
          break;
        case Watch::Kind::kWake:
          applyPendingEngine();
          break;
        case Watch::Kind::kSignal:
          onSignal();
          break;
      }
    }
    upstream_->processTimeouts();
    sendQueued();
    const auto now = Cache::Clock::now();
    if (now - lastSweep >= std::chrono::seconds(1)) {
      sweepIdle();
      lastSweep = now;
    }
  }
  return Ok{};
}

void Server::onSignal() {
  signalfd_siginfo info{};
  while (::read(signals_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (info.ssi_signo == SIGUSR1) {
      std::cerr << statsJson(stats()) << std::endl;
    } else {
      stopping_ = true;
    }
  }
}

void Server::readUdp(int fd) {
  std::array<std::array<std::uint8_t, kMaxUdpQuery>, kBatch> buffers;
  std::array<iovec, kBatch> iov{};
  std::array<mmsghdr, kBatch> messages{};
  std::array<sockaddr_storage, kBatch> peers{};
  for (;;) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      iov[i] = {buffers[i].data(), buffers[i].size()};
      messages[i].msg_hdr = {};
      messages[i].msg_hdr.msg_name = &peers[i];
      messages[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      messages[i].msg_hdr.msg_iov = &iov[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = ::recvmmsg(fd, messages.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;

    std::array<std::vector<std::uint8_t>, kBatch> replies;
    std::array<iovec, kBatch> replyIov{};
    std::array<mmsghdr, kBatch> out{};
    unsigned count = 0;
    for (int i = 0; i < n; ++i) {
      const auto idx = static_cast<std::size_t>(i);
      if ((messages[idx].msg_hdr.msg_flags & MSG_TRUNC) != 0) {
        ++stats_.queries;
        ++stats_.droppedMalformed;
        continue;
      }
      Origin origin;
      origin.udpFd = fd;
      origin.peer = peers[idx];
      origin.peerLength = messages[idx].msg_hdr.msg_namelen;
      std::vector<std::uint8_t>& reply = replies[count];
      const auto wire = std::span<const std::uint8_t>(buffers[idx].data(), messages[idx].msg_len);
      if (handle(wire, origin, reply) != Outcome::kRespond) continue;
      replyIov[count] = {reply.data(), reply.size()};
      out[count].msg_hdr = {};
      out[count].msg_hdr.msg_name = &peers[idx];
      out[count].msg_hdr.msg_namelen = origin.peerLength;
      out[count].msg_hdr.msg_iov = &replyIov[count];
      out[count].msg_hdr.msg_iovlen = 1;
      ++count;
    }
    for (unsigned sent = 0; sent < count;) {
      const int k = ::sendmmsg(fd, out.data() + sent, count - sent, MSG_DONTWAIT);
      if (k <= 0) break;  // a full socket buffer drops the rest; clients retry
      sent += static_cast<unsigned>(k);
    }
    if (static_cast<std::size_t>(n) < kBatch) return;
  }
}

Server::Outcome Server::handle(std::span<const std::uint8_t> wire, const Origin& origin,
                               std::vector<std::uint8_t>& out) {
  ++stats_.queries;
  auto parsed = parseQuery(wire);
  if (auto* error = std::get_if<QueryError>(&parsed)) {
    if (error->problem == QueryProblem::kUnsupportedOpcode) {
      out = notImplemented(error->id, error->flags);
      return Outcome::kRespond;
    }
    ++stats_.droppedMalformed;
    log::get("dns")->debug("dropped a malformed query from {}: {}", describe(origin.peer),
                           toString(error->problem));
    return Outcome::kDrop;
  }
  const Query& query = std::get<Query>(parsed);
  // Answers lens-dns gives itself: `out` is already the message, or an empty
  // one with this rcode.
  auto respond = [&] {
    finish(query, origin, out);
    return Outcome::kRespond;
  };
  auto respondEmpty = [&](Rcode rcode) {
    out = emptyResponse(wire, query, rcode);
    return respond();
  };
  if (query.qclass != kClassIn) return respondEmpty(Rcode::kRefused);
  const auto now = Cache::Clock::now();
  // A cached answer carries the decision for its name while the policy is
  // the same; the engine is asked only for names it has not decided yet.
  std::optional<Cache::Hit> hit = cache_.lookup(wire, query, now, out);
  Cache::Memo decided;
  const Cache::Memo* verdict = nullptr;
  if (hit && hit->memo->generation == generation_) {
    verdict = hit->memo;
  } else {
    decided = decide(query);
    if (hit) *hit->memo = decided;
    verdict = hit ? hit->memo : &decided;
  }
  (verdict->allowed ? stats_.allowed : stats_.denied)++;
  if (options_.sink) audit(query, origin, *verdict);
  if (!verdict->allowed) return respondEmpty(Rcode::kNxDomain);
  if (hit) {
    ++stats_.cacheHits;
    if (pinner_ && !hit->addresses->empty()) pin(*verdict, *hit->addresses, hit->remainingTtl);
    return respond();
  }
  const bool httpsRecord = query.qtype == rrtype::kHttps || query.qtype == rrtype::kSvcb;
  if ((httpsRecord && !options_.allowHttpsRr) ||
      (query.qtype == rrtype::kAaaa && options_.noAaaa)) {
    ++stats_.suppressedRecords;
    return respondEmpty(Rcode::kNoError);
  }
  if (query.qtype == rrtype::kAny) {
    ++stats_.suppressedRecords;
    out = anyResponse(wire, query);
    return respond();
  }
  if (upstream_->pending() + queued_.size() >= options_.maxInflight) {
    ++stats_.overflow;
    return respondEmpty(Rcode::kServFail);
  }
  forward(wire, query, origin, *verdict);
  return Outcome::kPending;
}

Cache::Memo Server::decide(const Query& query) const {
  Cache::Memo m;
  m.generation = generation_;
  if (bootstrap_.count(query.name) != 0) {
    m.allowed = true;
    m.reason = "bootstrap-host";
    return m;
  }
  decision::Request request;
  request.door = decision::Door::kDns;
  request.host = query.name;
  const decision::Decision d = engine_->decide(request);
  m.allowed = d.verdict != policy::Verdict::kDeny;
  m.reason = d.reason;
  if (d.rule) m.rule = d.rule->match;
  if (m.allowed && pinner_) {
    for (const auto& p : engine_->pinnablePorts(query.name)) {
      m.pinPorts.emplace_back(
          p.table == decision::Table::kTcp ? lockdown::Protocol::kTcp : lockdown::Protocol::kUdp,
          p.port);
    }
  }
  return m;
}

void Server::audit(const Query& query, const Origin& origin, const Cache::Memo& verdict) {
  sockaddr_storage peer = origin.peer;
  if (origin.tcpConnection != 0) {
    auto it = connections_.find(origin.tcpConnection);
    if (it != connections_.end()) peer = it->second->peer;
  }
  const audit::Endpoint src = endpointOf(peer);
  if (verdict.allowed) {
    const auto now = Cache::Clock::now();
    if (now - allowWindowStart_ >= kAllowWindow) {
      allowSeen_.clear();
      allowWindowStart_ = now;
    }
    std::string key = query.name + '\0' + std::to_string(query.qtype) + '\0' + src.ip;
    if (!allowSeen_.insert(std::move(key)).second) {
      ++stats_.auditSuppressed;
      return;
    }
  }
  audit::Event event("lens-dns", "DNS " + query.name);
  event.host(query.name)
      .outcome(verdict.allowed ? audit::Outcome::kSuccess : audit::Outcome::kFailure)
      .meta("dns", true)
      .meta("reason", verdict.reason)
      .meta("qname", query.name)
      .meta("qtype", typeText(query.qtype));
  if (!verdict.rule.empty()) event.meta("rule", verdict.rule);
  if (const auto& policy = engine_->policy()) event.meta("policy_version", policy->version);
  event.src(src);
  (void)options_.sink->write(event);
}

void Server::forward(std::span<const std::uint8_t> wire, const Query& query, const Origin& origin,
                     Cache::Memo verdict) {
  ++stats_.forwarded;
  if (origin.tcpConnection != 0) {
    if (auto it = connections_.find(origin.tcpConnection); it != connections_.end())
      ++it->second->pending;
  }
  Forward f{std::vector<std::uint8_t>(wire.begin(), wire.end()), query, origin, std::move(verdict)};
  if (upstream_->pending() < options_.upstreamWindow && queued_.empty()) return send(std::move(f));
  ++stats_.upstreamQueued;
  f.queued = Cache::Clock::now();
  queued_.push_back(std::move(f));
}

void Server::send(Forward f) {
  const std::vector<std::uint8_t> wire = f.wire;
  upstream_->send(
      wire, [this, f = std::move(f)](const Result<std::span<const std::uint8_t>>& answer) mutable {
        onAnswer(answer, f.wire, f.query, f.origin, std::move(f.verdict));
      });
}

void Server::sendQueued() {
  if (queued_.empty()) return;
  const auto now = Cache::Clock::now();
  const auto patience = options_.upstream.timeout * options_.upstream.tries;
  while (!queued_.empty() && (upstream_->pending() < options_.upstreamWindow ||
                              now - queued_.front().queued > patience)) {
    Forward f = std::move(queued_.front());
    queued_.pop_front();
    if (f.verdict.generation != generation_) f.verdict = decide(f.query);
    if (now - f.queued > patience || !f.verdict.allowed) {
      // Answered here, as onAnswer answers a failed or no longer allowed query.
      ++stats_.queuedExpired;
      onAnswer(makeError(ErrorCode::kTimeout, "waited too long for the upstream window"), f.wire,
               f.query, f.origin, std::move(f.verdict));
      continue;
    }
    send(std::move(f));
  }
}

void Server::onAnswer(const Result<std::span<const std::uint8_t>>& answer,
                      const std::vector<std::uint8_t>& queryWire, const Query& query,
                      const Origin& origin, Cache::Memo verdict) {
  if (origin.tcpConnection != 0) {
    if (auto it = connections_.find(origin.tcpConnection); it != connections_.end())
      --it->second->pending;
  }
  std::vector<std::uint8_t> out;
  auto deliverEmpty = [&](Rcode rcode) {
    out = emptyResponse(queryWire, query, rcode);
    finish(query, origin, out);
    deliver(origin, out);
  };
  // The policy changed while the query was out: decide again.
  if (verdict.generation != generation_) verdict = decide(query);
  if (!verdict.allowed) return deliverEmpty(Rcode::kNxDomain);
  Result<ResponseInfo> info = answer ? scanResponse(*answer) : Result<ResponseInfo>(answer.error());
  // c-ares matched the question; its length must match too, or the client's
  // question bytes could not replace it below.
  if (!info || info->questionEnd != query.questionEnd) {
    ++stats_.upstreamFailures;
    log::get("dns")->debug("upstream failed for {} {}: {}", query.name, typeText(query.qtype),
                           info ? "a question of another length" : info.error().message);
    return deliverEmpty(Rcode::kServFail);
  }
  out.assign(answer->begin(), answer->end());
  stripOpt(out, *info);
  write16(out, 0, 0);
  // Remember the decision with the data: the next hit skips the engine.
  if (Cache::Memo* memo = cache_.insert(query, out, *info, Cache::Clock::now())) *memo = verdict;
  write16(out, 0, query.id);
  std::memcpy(out.data() + kHeaderSize, queryWire.data() + kHeaderSize,
              query.questionEnd - kHeaderSize);
  if (pinner_ && !info->addresses.empty())
    pin(verdict, info->addresses, info->minAnswerTtl.value_or(0));
  finish(query, origin, out);
  deliver(origin, out);
}

void Server::pin(const Cache::Memo& verdict, const std::vector<net::IpAddress>& addresses,
                 std::uint32_t ttl) {
  if (verdict.pinPorts.empty()) return;
  const auto now = Cache::Clock::now();
  if (now < pinRetryAfter_) return;
  std::vector<lockdown::Pin> pins;
  for (const auto& address : addresses) {
    for (const auto& [protocol, port] : verdict.pinPorts) pins.push_back({address, protocol, port});
  }
  auto written = pinner_->pin(pins, lockdown::pinTimeout(ttl), now);
  if (written) {
    stats_.pinned += *written;
    return;
  }
  ++stats_.pinFailures;
  pinRetryAfter_ = now + kPinRetry;
  if (!pinWarned_) {
    pinWarned_ = true;
    if (written.error().code == ErrorCode::kNotFound) {
      log::get("dns")->warn(
          "no lockdown table (inet lens_sandbox): answers are not pinned; retrying every {} s",
          kPinRetry.count());
    } else {
      log::get("dns")->warn("cannot pin answers into the lockdown sets: {}",
                            written.error().message);
    }
  }
}

void Server::finish(const Query& query, const Origin& origin, std::vector<std::uint8_t>& out) {
  if (query.edns) appendOpt(out, query.dnssecOk);
  if (origin.tcpConnection == 0 && out.size() > query.udpLimit()) {
    ++stats_.truncated;
    out = truncatedResponse(out, query.questionEnd, query);
  }
}

void Server::deliver(const Origin& origin, std::span<const std::uint8_t> out) {
  if (origin.tcpConnection == 0) {
    (void)::sendto(origin.udpFd, out.data(), out.size(), MSG_DONTWAIT,
                   reinterpret_cast<const sockaddr*>(&origin.peer), origin.peerLength);
    return;
  }
  auto it = connections_.find(origin.tcpConnection);
  if (it == connections_.end()) return;  // the client went away meanwhile
  TcpConnection& c = *it->second;
  const std::uint8_t length[2] = {static_cast<std::uint8_t>(out.size() >> 8),
                                  static_cast<std::uint8_t>(out.size())};
  c.out.insert(c.out.end(), std::begin(length), std::end(length));
  c.out.insert(c.out.end(), out.begin(), out.end());
  if (c.out.size() - c.outSent > kMaxTcpOutput) {
    closeTcp(c.id);
    return;
  }
  flushTcp(c);
}

void Server::acceptTcp(int fd) {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    util::UniqueFd client(
        ::accept4(fd, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!client) return;
    if (connections_.size() >= options_.maxTcpConnections) continue;  // closed at once
    ++stats_.tcpConnections;
    auto c = std::make_unique<TcpConnection>();
    c->fd = std::move(client);
    c->id = nextConnection_++;
    c->peer = peer;
    c->peerLength = length;
    c->lastActive = Cache::Clock::now();
    c->watch = Watch{Watch::Kind::kTcpConnection, c->fd.get(), c->id};
    if (!addWatch(c->fd.get(), EPOLLIN, &c->watch)) continue;  // c closes the socket
    connections_.emplace(c->id, std::move(c));
  }
}

void Server::readTcp(TcpConnection& c) {
  const std::uint64_t id = c.id;
  std::array<std::uint8_t, 16384> chunk;
  for (;;) {
    const ssize_t n = ::read(c.fd.get(), chunk.data(), chunk.size());
    if (n == 0) {
      c.eof = true;
      if (c.pending == 0 && c.outSent == c.out.size()) {
        closeTcp(id);
        return;
      }
      epoll_event ev{};
      ev.events = c.writing ? EPOLLOUT : 0u;
      ev.data.ptr = &c.watch;
      // Still watched for reading, the end of input would be reported again and again.
      if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) != 0) failTcp(c, "epoll_ctl");
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      closeTcp(id);
      return;
    }
    c.in.insert(c.in.end(), chunk.begin(), chunk.begin() + n);
    c.lastActive = Cache::Clock::now();
    std::size_t consumed = 0;
    while (c.in.size() - consumed >= 2) {
      const std::size_t length = read16(c.in, consumed);
      if (length == 0) {
        ++stats_.droppedMalformed;
        closeTcp(id);
        return;
      }
      if (c.in.size() - consumed < 2 + length) break;
      Origin origin;
      origin.tcpConnection = id;
      origin.peer = c.peer;
      origin.peerLength = c.peerLength;
      std::vector<std::uint8_t> reply;
      const auto wire = std::span<const std::uint8_t>(c.in.data() + consumed + 2, length);
      const Outcome outcome = handle(wire, origin, reply);
      consumed += 2 + length;
      if (outcome == Outcome::kDrop) {  // malformed over TCP: the stream cannot be trusted
        closeTcp(id);
        return;
      }
      if (outcome == Outcome::kRespond) deliver(origin, reply);
      if (connections_.count(id) == 0) return;
    }
    c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(consumed));
  }
}

void Server::flushTcp(TcpConnection& c) {
  while (c.outSent < c.out.size()) {
    const ssize_t n = ::send(c.fd.get(), c.out.data() + c.outSent, c.out.size() - c.outSent,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      closeTcp(c.id);
      return;
    }
    c.outSent += static_cast<std::size_t>(n);
  }
  if (c.outSent == c.out.size()) {
    c.out.clear();
    c.outSent = 0;
  }
  if (c.eof && c.pending == 0 && c.out.empty()) {
    closeTcp(c.id);
    return;
  }
  const bool wantWrite = !c.out.empty();
  if (wantWrite != c.writing) {
    epoll_event ev{};
    ev.events = (c.eof ? 0u : static_cast<std::uint32_t>(EPOLLIN)) | (wantWrite ? EPOLLOUT : 0u);
    ev.data.ptr = &c.watch;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) != 0) {
      failTcp(c, "epoll_ctl");
      return;
    }
    c.writing = wantWrite;
  }
}

void Server::closeTcp(std::uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  // Closing the socket below takes it out of epoll unless something else holds it open.
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second->fd.get(), nullptr) != 0) {
    const int err = errno;
    log::get("dns")->error("epoll_ctl(EPOLL_CTL_DEL) of the TCP connection from {}: {}",
                           describe(it->second->peer), std::strerror(err));
  }
  connections_.erase(it);  // closes the socket
}

void Server::failTcp(TcpConnection& c, const char* what) {
  const int err = errno;
  log::get("dns")->warn("TCP connection from {}: {}: {}; closed", describe(c.peer), what,
                        std::strerror(err));
  closeTcp(c.id);
}

void Server::sweepIdle() {
  const auto now = Cache::Clock::now();
  std::vector<std::uint64_t> idle;
  for (const auto& [id, c] : connections_) {
    if (c->pending == 0 && now - c->lastActive >= options_.tcpIdle) idle.push_back(id);
  }
  for (std::uint64_t id : idle) closeTcp(id);
}

}  // namespace lens::dns
