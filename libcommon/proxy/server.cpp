#include "libcommon/proxy/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "libcommon/json/json_writer.h"
#include "libcommon/log/logging.h"
#include "libcommon/net/socket_address.h"
#include "libcommon/net/socket_mark.h"
#include "libcommon/proxy/reply.h"
#include "libcommon/tls/leaf_cache.h"
#include "libcommon/util/system_error.h"

namespace lens::proxy {

namespace {

constexpr auto kTick = std::chrono::milliseconds(100);

// Room for a descriptor per client, per destination and per pipe end.
void raiseDescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

std::string statsJson(const Stats& s, bool transparent) {
  json::ObjectWriter w;
  w.field("accepted", s.accepted);
  w.field("refused_over_limit", s.refusedOverLimit);
  w.field("open", s.open);
  w.field("requests", s.requests);
  w.field("allowed", s.allowed);
  w.field("denied", s.denied);
  w.field("bad_requests", s.badRequests);
  w.field("upstream_errors", s.upstreamErrors);
  w.field("tunnels", s.tunnels);
  w.field("bytes_up", s.bytesUp);
  w.field("bytes_down", s.bytesDown);
  w.field("closed_by_policy", s.closedByPolicy);
  w.field("closed_by_drain", s.closedByDrain);
  w.field("intercepted", s.intercepted);
  w.field("mitm_requests", s.mitmRequests);
  w.field("host_mismatches", s.hostMismatches);
  w.field("h2_connections", s.h2Connections);
  w.field("h2_streams", s.h2Streams);
  w.field("h2_goaways", s.h2Goaways);
  w.field("h2_origin_first", s.originFirst);
  if (transparent) {
    w.field("classified_tls", s.classifiedTls);
    w.field("classified_http", s.classifiedHttp);
    w.field("classified_raw", s.classifiedRaw);
    w.field("redirect_loops", s.redirectLoops);
  }
  return w.finish();
}

// A listening socket.
class Server::Listener final : public IoHandler {
 public:
  Listener(Server& server, util::UniqueFd fd)
      : server_(server), fd_(std::move(fd)), watch_{this, fd_.get()} {}
  ~Listener() override { closeSocket(); }
  void onIo(int fd, std::uint32_t /*events*/) override { server_.accept(fd); }
  Watch& watch() { return watch_; }
  void closeSocket() {
    if (!fd_) return;
    server_.ctx_.reactor.remove(watch_);
    fd_.reset();
    watch_.fd = -1;
  }

 private:
  Server& server_;
  util::UniqueFd fd_;
  Watch watch_;
};

// The wake eventfd (a new policy, stop()) and the signalfd.
class Server::Control final : public IoHandler {
 public:
  explicit Control(Server& server)
      : wake_{this, server.handoff_.fd()}, signals_{this, server.signals_.get()}, server_(server) {}
  void onIo(int fd, std::uint32_t /*events*/) override {
    if (fd == wake_.fd) {
      server_.applyPendingEngine();
    } else {
      server_.onSignal();
    }
  }
  Watch wake_;
  Watch signals_;

 private:
  Server& server_;
};

// c-ares's sockets.
class ResolverHandler final : public IoHandler {
 public:
  explicit ResolverHandler(ProxyContext& ctx) : ctx_(ctx) {}
  void onIo(int fd, std::uint32_t events) override {
    ctx_.resolver->process(fd, (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0,
                           (events & EPOLLOUT) != 0);
  }

 private:
  ProxyContext& ctx_;
};

// A worker off the loop finished jobs (leaves minted, callers found).
class Collector final : public IoHandler {
 public:
  explicit Collector(std::function<void()> collect) : collect_(std::move(collect)) {}
  void onIo(int /*fd*/, std::uint32_t /*events*/) override { collect_(); }

 private:
  std::function<void()> collect_;
};

Server::Server(ServerOptions options) { ctx_.options = std::move(options); }

Result<std::unique_ptr<Server>> Server::create(ServerOptions options) {
  raiseDescriptorLimit();
  std::unique_ptr<Server> self(new Server(std::move(options)));
  Server* raw = self.get();
  ProxyContext& ctx = self->ctx_;
  ctx.engine = std::make_shared<const decision::Engine>(nullptr);
  ctx.upstreamProblem = "no policy is loaded";
  ctx.release = [raw](std::uint64_t id) {
    auto it = raw->connections_.find(id);
    if (it == raw->connections_.end()) return;
    raw->graveyard_.push_back(std::move(it->second));
    raw->connections_.erase(it);
  };
  ctx.find = [raw](std::uint64_t id) -> Connection* {
    auto it = raw->connections_.find(id);
    return it == raw->connections_.end() ? nullptr : it->second.get();
  };
  ctx.newId = [raw] { return raw->nextId_++; };
  ctx.adopt = [raw](std::unique_ptr<Connection> c) {
    const std::uint64_t id = c->id();
    raw->connections_.emplace(id, std::move(c));
  };

  if (auto ok = self->handoff_.open(); !ok) return ok.error();
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGUSR1}) sigaddset(&set, s);
  self->signals_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!self->signals_) return util::systemError("signalfd");
  self->control_ = std::make_unique<Control>(*self);
  if (auto ok = ctx.reactor.set(self->control_->wake_, EPOLLIN); !ok) return ok.error();
  if (auto ok = ctx.reactor.set(self->control_->signals_, EPOLLIN); !ok) return ok.error();

  self->resolverHandler_ = std::make_unique<ResolverHandler>(ctx);
  auto watch = [raw](int fd, bool readable, bool writable) {
    auto it = raw->resolverWatches_.find(fd);
    if (it == raw->resolverWatches_.end()) {
      if (!readable && !writable) return;
      it = raw->resolverWatches_
               .emplace(fd, std::make_unique<Watch>(Watch{raw->resolverHandler_.get(), fd}))
               .first;
    }
    const std::uint32_t events = (readable ? EPOLLIN : 0u) | (writable ? EPOLLOUT : 0u);
    if (events == 0) {
      raw->ctx_.reactor.remove(*it->second);
      raw->resolverWatches_.erase(it);
      return;
    }
    if (auto ok = raw->ctx_.reactor.set(*it->second, events); !ok) {
      // c-ares's own timeout ends the lookups that wait on this socket.
      log::get("proxy")->warn("cannot watch a resolver socket: {}", ok.error().message);
    }
  };
  net::Resolver::Options resolver = ctx.options.resolver;
  resolver.mark = ctx.options.mark;
  auto upstream = net::Resolver::create(resolver, watch);
  if (!upstream) return upstream.error();
  ctx.resolver = std::move(*upstream);
  ctx.callers = std::make_unique<CallerIdentifier>();
  self->callerHandler_ = std::make_unique<Collector>([raw] { raw->ctx_.callers->collect(); });
  self->callerWatch_ =
      std::make_unique<Watch>(Watch{self->callerHandler_.get(), ctx.callers->notifyFd()});
  if (auto ok = ctx.reactor.set(*self->callerWatch_, EPOLLIN); !ok) return ok.error();
  if (!ctx.options.approvalSocket.empty())
    ctx.approvals = std::make_unique<Approvals>(ctx.reactor, ctx.options.approvalSocket);
  if (auto ok = self->updateOriginTrust(""); !ok) return ok.error();
  if (auto ok = self->bindAll(); !ok) return ok.error();
  self->loadInterceptionCa();
  return self;
}

void Server::loadInterceptionCa() {
  auto logger = log::get("proxy");
  if (ctx_.options.caDir.empty()) {
    ctx_.caProblem = "no CA directory is configured";
    return;
  }
  auto ca = tls::SigningCa::load(ctx_.options.caDir);
  if (!ca) {
    ctx_.caProblem = ca.error().message;
    logger->info("interception CA: {} (connections that need interception are refused: {})",
                 ca.error().message, reason::kCaUnavailable);
    return;
  }
  tls::LeafOptions leaves;
  leaves.capacity = ctx_.options.leafCache;
  if (ctx_.options.http2 != Http2Mode::kOff) leaves.alpn = {"h2", "http/1.1"};
  ctx_.leaves = std::make_unique<tls::LeafCache>(std::move(*ca), std::move(leaves));
  leafHandler_ = std::make_unique<Collector>([this] {
    if (ctx_.leaves) ctx_.leaves->collect();
  });
  leafWatch_ = std::make_unique<Watch>(Watch{leafHandler_.get(), ctx_.leaves->notifyFd()});
  if (auto ok = ctx_.reactor.set(*leafWatch_, EPOLLIN); !ok) {
    ctx_.caProblem = "cannot watch the leaf minting: " + ok.error().message;
    logger->error("interception CA: {}", ctx_.caProblem);
    ctx_.leaves.reset();
    return;
  }
  logger->info("interception CA {}/ca.crt loaded", ctx_.options.caDir);
}

Status Server::updateOriginTrust(const std::string& proxyCa) {
  if (ctx_.originTls && proxyCa == originProxyCa_) return Ok{};
  originProxyCa_ = proxyCa;
  std::string trust = ctx_.options.originCaPem;
  if (!trust.empty() && !proxyCa.empty()) trust += '\n';  // a file without a final newline
  trust += proxyCa;
  auto config = TlsClientConfig::create(trust, "origin trust (--origin-ca, proxyCaCert)");
  if (config) {
    ctx_.originTls = std::move(*config);
    return Ok{};
  }
  if (!ctx_.originTls) {
    // --origin-ca is the operator's own: a file without a certificate stops the start.
    auto own = TlsClientConfig::create(ctx_.options.originCaPem, "--origin-ca");
    if (!own) return own.error();
    ctx_.originTls = std::move(*own);
  }
  log::get("proxy")->error("the policy's proxyCaCert is not used to verify origins: {}",
                           config.error().message);
  return Ok{};
}

Server::~Server() {
  std::vector<Connection*> open;
  for (auto& [id, c] : connections_) open.push_back(c.get());
  for (Connection* c : open) c->forceClose("shutdown");  // moves it to the graveyard
  graveyard_.clear();
  connections_.clear();
  ctx_.resolver.reset();  // pending lookups are answered with an error, and find nothing
  listeners_.clear();
}

Status Server::bindAll() {
  std::vector<std::pair<std::string, bool>> all;  // address, optional
  for (const std::string& text : ctx_.options.listen) all.emplace_back(text, false);
  for (const std::string& text : ctx_.options.optionalListen) all.emplace_back(text, true);
  for (const auto& [text, optional] : all) {
    auto address = net::SocketAddress::parse(text);
    if (!address) return address.error();
    util::UniqueFd owned(
        ::socket(address->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!owned && optional && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
      log::get("proxy")->warn("not listening on {}: {}", text, std::strerror(errno));
      continue;
    }
    if (!owned) return util::systemError("socket");
    const int fd = owned.get();
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // inherited by accepted sockets
    if (address->family() == AF_INET6)
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (ctx_.options.mark != 0)
      (void)net::markSocket(fd, ctx_.options.mark);  // EPERM unprivileged: fine
    if (ctx_.options.transparent == TransparentMode::kTproxy) {
      if (auto ok = makeTransparent(fd, address->family()); !ok) {
        return makeError(ok.error().code, "cannot listen on " + text + " in tproxy mode: " +
                                              ok.error().message + " (needs CAP_NET_ADMIN)");
      }
    }
    const bool bound = ::bind(fd, address->get(), address->length) == 0;
    if (!bound && optional && (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT)) {
      log::get("proxy")->warn("not listening on {}: {}", text, std::strerror(errno));
      continue;
    }
    if (!bound || ::listen(fd, 4096) != 0) return util::systemError("cannot listen on " + text);
    sockaddr_storage actual{};
    socklen_t length = sizeof actual;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&actual), &length);
    boundSockets_.push_back(net::SocketAddress::fromStorage(actual));
    bound_.push_back(boundSockets_.back().toString());
    listeners_.push_back(std::make_unique<Listener>(*this, std::move(owned)));
    if (auto ok = ctx_.reactor.set(listeners_.back()->watch(), EPOLLIN); !ok) return ok;
  }
  if (bound_.empty()) return makeError(ErrorCode::kInvalidArgument, "no address to listen on");
  return Ok{};
}

void Server::accept(int listenFd) {
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    util::UniqueFd owned(::accept4(listenFd, reinterpret_cast<sockaddr*>(&peer), &length,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!owned) {
      if (errno == EMFILE || errno == ENFILE)
        log::get("proxy")->warn("accept: {}", std::strerror(errno));
      return;
    }
    const int fd = owned.get();
    ++ctx_.stats.accepted;
    // (The connections serving HTTP/2 streams count with theirs.)
    if (connections_.size() - ctx_.stats.h2Streams >= ctx_.options.maxConnections) {
      ++ctx_.stats.refusedOverLimit;
      if (ctx_.options.transparent == TransparentMode::kOff) {  // a redirected client gets no HTTP
        const std::string reply = errorReply(
            503, reason::kConnectionLimit, "request",
            "too many connections (" + std::to_string(ctx_.options.maxConnections) + ")");
        (void)!::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      }
      owned.reset();  // the client is let go before the audit event is written
      if (ctx_.options.sink) {
        const net::SocketAddress from = net::SocketAddress::fromStorage(peer);
        audit::Event event(ctx_.options.tool, "CONNECTION " + from.toString());
        event.outcome(audit::Outcome::kError)
            .statusCode(503)
            .meta("reason", reason::kConnectionLimit);
        event.src({from.address().toString(), from.port()});
        (void)ctx_.options.sink->write(event);
      }
      continue;
    }
    const std::uint64_t id = nextId_++;  // TCP_NODELAY comes from the listener
    if (ctx_.options.transparent != TransparentMode::kOff) {
      auto original = originalDestination(fd, ctx_.options.transparent);
      if (!original) {
        // Not redirected (or conntrack has forgotten it): nowhere to go.
        const net::SocketAddress from = net::SocketAddress::fromStorage(peer);
        log::get("proxy")->warn("connection from {}: no original destination ({}); closed",
                                from.toString(), original.error().message);
        if (ctx_.options.sink) {
          audit::Event event(ctx_.options.tool, "TRANSPARENT unknown");
          event.outcome(audit::Outcome::kFailure).meta("reason", "no-original-destination");
          event.src({from.address().toString(), from.port()});
          (void)ctx_.options.sink->write(event);
        }
        continue;
      }
      // A loop: a connection to the listener itself, or one of our own
      // dials redirected back (its socket could not be marked). Redirected,
      // the original destination is the accepted socket's own address only
      // when nothing was redirected; under TPROXY it is always the local
      // address, so it is compared with what the listeners are bound to.
      bool loop = ctx_.outgoing.count(net::SocketAddress::fromStorage(peer).toString()) != 0;
      if (ctx_.options.transparent == TransparentMode::kRedirect) {
        sockaddr_storage local{};
        socklen_t localLength = sizeof local;
        loop = loop || (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &localLength) == 0 &&
                        net::SocketAddress::fromStorage(local).toString() == original->toString());
      } else {
        for (const net::SocketAddress& own : boundSockets_)
          loop = loop || sameEndpoint(*original, own);
      }
      // The connection owns the socket from here on.
      auto connection = std::make_unique<Connection>(ctx_, id, std::move(owned), peer);
      Connection& c = *connection;
      connections_.emplace(id, std::move(connection));
      c.startTransparent(*original, loop);
      continue;
    }
    auto connection = std::make_unique<Connection>(ctx_, id, std::move(owned), peer);
    Connection& c = *connection;
    connections_.emplace(id, std::move(connection));
    c.start();
  }
}

void Server::setEngine(std::shared_ptr<const decision::Engine> engine) {
  handoff_.post(std::move(engine));
}

void Server::stop() {
  stopRequested_ = true;
  handoff_.wake();
}

void Server::applyPendingEngine() {
  std::shared_ptr<const decision::Engine> engine = handoff_.take();
  if (!engine) return;
  ctx_.engine = engine;
  const auto& policy = engine->policy();
  const std::string url = policy ? policy->proxyUpstream : std::string();
  const std::string ca = policy ? policy->proxyCaCert : std::string();
  if (!ctx_.upstream || url != upstreamText_ || ca != upstreamCa_) {
    upstreamText_ = url;
    upstreamCa_ = ca;
    ctx_.upstream.reset();
    auto logger = log::get("proxy");
    if (url.empty()) {
      ctx_.upstreamProblem = "the policy has no proxyUpstream";
    } else if (auto parsed = parseUpstreamProxy(url); !parsed) {
      ctx_.upstreamProblem = parsed.error().message;
      logger->error("{}; requests with transport upstream are answered 503",
                    parsed.error().message);
    } else {
      auto route = std::make_shared<UpstreamRoute>();
      route->proxy = std::move(*parsed);
      bool ok = true;
      if (route->proxy.tls) {
        auto tls = TlsClientConfig::create(ca);
        if (!tls) {
          ok = false;
          ctx_.upstreamProblem = tls.error().message;
          logger->error("{}; requests with transport upstream are answered 503",
                        tls.error().message);
        } else {
          route->tls = std::move(*tls);
        }
      }
      if (ok) {
        logger->info("upstream proxy {}", route->proxy.redacted());
        ctx_.upstream = std::move(route);
        ctx_.upstreamProblem.clear();
      }
    }
  }
  (void)updateOriginTrust(ca);
  ctx_.now = Clock::now();
  std::vector<Connection*> open;
  open.reserve(connections_.size());
  for (auto& [id, c] : connections_) open.push_back(c.get());
  for (Connection* c : open) c->rejudge();
}

void Server::onSignal() {
  signalfd_siginfo info{};
  while (::read(signals_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (info.ssi_signo == SIGUSR1) {
      std::cerr << statsJson(ctx_.stats, ctx_.options.transparent != TransparentMode::kOff)
                << std::endl;
    } else {
      stopRequested_ = true;
    }
  }
}

void Server::beginDrain() {
  draining_ = true;
  ctx_.draining = true;
  drainDeadline_ = Clock::now() + ctx_.options.drainTimeout;
  for (auto& l : listeners_) l->closeSocket();
  log::get("proxy")->info("stopping: {} connection(s) open, waiting up to {} ms",
                          connections_.size(), ctx_.options.drainTimeout.count());
  std::vector<Connection*> open;
  for (auto& [id, c] : connections_) open.push_back(c.get());
  for (Connection* c : open) c->drain();
}

void Server::tick() {
  std::vector<Connection*> open;
  open.reserve(connections_.size());
  for (auto& [id, c] : connections_) open.push_back(c.get());
  for (Connection* c : open) {
    if (!c->closed()) c->onTick();
  }
}

void Server::collect() { graveyard_.clear(); }

Status Server::run() {
  applyPendingEngine();
  auto lastTick = Clock::now();
  const auto afterWait = [this] { ctx_.now = Clock::now(); };
  for (;;) {
    int timeout = static_cast<int>(kTick.count());
    const int resolverTimeout = ctx_.resolver->timeoutMs();
    if (resolverTimeout >= 0 && resolverTimeout < timeout) timeout = resolverTimeout;
    if (auto ok = ctx_.reactor.poll(timeout, afterWait); !ok) return ok;
    ctx_.now = Clock::now();
    ctx_.resolver->processTimeouts();
    if (ctx_.now - lastTick >= kTick) {
      tick();
      lastTick = ctx_.now;
    }
    collect();
    if (stopRequested_ && !draining_) beginDrain();
    if (draining_) {
      if (connections_.empty()) break;
      if (ctx_.now >= drainDeadline_) {
        std::vector<Connection*> open;
        for (auto& [id, c] : connections_) open.push_back(c.get());
        for (Connection* c : open) c->forceClose(reason::kDrainTimeout);
        collect();
        break;
      }
    }
  }
  return Ok{};
}

}  // namespace lens::proxy
