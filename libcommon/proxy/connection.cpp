#include "libcommon/proxy/connection.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "libcommon/decision/safety_floor.h"
#include "libcommon/log/logging.h"
#include "libcommon/net/socket_mark.h"
#include "libcommon/net/socket_address.h"
#include "libcommon/net/socket_owner.h"
#include "libcommon/proxy/interception.h"
#include "libcommon/proxy/reply.h"
#include "libcommon/proxy/transparent.h"
#include "libcommon/tls/client_hello.h"
#include "libcommon/util/strings.h"

namespace lens::proxy {

namespace {

constexpr std::size_t kChunk = 64 * 1024;  // one read from a socket
constexpr std::size_t kBufferLimit =
    256 * 1024;  // bytes buffered per direction before reading stops
constexpr std::size_t kMaxResponseHead = 64 * 1024;
constexpr std::size_t kMaxProxyReply = 16 * 1024;
constexpr std::size_t kSmallRead = 16 * 1024;      // a splice below this drained the socket
constexpr auto kLinger = std::chrono::seconds(2);  // reading (and dropping) after a final answer

std::string lowerHost(std::string_view host) {
  std::string out = util::toLower(host);
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

bool isIpLiteral(std::string_view host) { return net::IpAddress::parse(host).has_value(); }

std::string pathOnly(std::string_view target) {
  return std::string(target.substr(0, target.find('?')));
}

}  // namespace

void Buffer::consume(std::size_t n) {
  offset_ += n;
  if (offset_ == data_.size()) clear();
}

void Buffer::clear() {
  data_.clear();
  offset_ = 0;
}

Connection::Connection(ProxyContext& ctx, std::uint64_t id, int fd, const sockaddr_storage& peer)
    : ctx_(ctx),
      id_(id),
      client_(std::make_unique<Stream>(fd)),
      clientWatch_{this, fd},
      serverWatch_{this, -1},
      opened_(ctx.now),
      lastActive_(ctx.now) {
  peerAddress_ = net::SocketAddress::fromStorage(peer);
  peer_ = {peerAddress_.address().toString(), peerAddress_.port()};
  up_.buffer = &toServer_;
  down_.buffer = &toClient_;
}

Connection::~Connection() {
  forgetOutgoing();
  ctx_.reactor.remove(clientWatch_);
  ctx_.reactor.remove(serverWatch_);
  ctx_.pipes.release(up_.pipe);
  ctx_.pipes.release(down_.pipe);
}

void Connection::start() {
  ++ctx_.stats.open;
  deadline_ = ctx_.now + ctx_.options.headerTimeout;
  drive();
}

void Connection::startTransparent(const net::SocketAddress& original, bool loop) {
  ++ctx_.stats.open;
  transparent_ = true;
  original_ = original;
  action_ = "TRANSPARENT " + original.toString();
  const std::string ip = original.address().toString();
  if (loop) {
    // Not redirected: the client dialled the listener itself. Judging it
    // would make the proxy connect to itself.
    ++ctx_.stats.redirectLoops;
    door_ = decision::Door::kRawTcp;
    ProxyRequest r;
    r.host = ip;
    r.port = original.port();
    request_ = std::move(r);
    ++requests_;
    refuse(403, reason::kRedirectLoop, "the destination is the transparent proxy itself");
    drive();
    return;
  }
  // An egress.tcp rule for the original destination, or the safety floor,
  // decides before anything is read: the relay stays raw (a database that
  // speaks TLS keeps working) and a server that speaks first is not kept
  // waiting for the peek.
  decision::Request raw;
  raw.door = decision::Door::kRawTcp;
  raw.host = ip;
  raw.address = original.address();
  raw.port = original.port();
  if (ctx_.engine->needsCaller()) raw.callerChain = callerChain();
  const decision::Decision d = ctx_.engine->decide(raw);
  if (d.reason == decision::reason::kBlockedDestination ||
      (d.rule && d.rule->table == decision::Table::kTcp)) {
    ++ctx_.stats.classifiedRaw;
    judgeTunnel(decision::Door::kRawTcp, ip);
  } else {
    state_ = State::kClassify;
    deadline_ = ctx_.now + ctx_.options.peekTimeout;
  }
  drive();
}

// ---- events -----------------------------------------------------------------

void Connection::onIo(int fd, std::uint32_t events) {
  if (state_ == State::kClosed) return;
  const bool client = fd == clientWatch_.fd;
  const bool readable = (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0;
  if (client) {
    up_.readable = up_.readable || readable;
    if ((events & EPOLLOUT) != 0) down_.writeBlocked = false;
  } else if (fd == serverWatch_.fd) {
    down_.readable = down_.readable || readable;
    if ((events & EPOLLOUT) != 0) up_.writeBlocked = false;
    if (state_ == State::kConnecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
      connectEvent_ = true;
      connectError_ = (events & (EPOLLERR | EPOLLHUP)) != 0;
    }
  }
  drive();
}

void Connection::drive() {
  for (int round = 0; round < 16 && state_ != State::kClosed; ++round) {
    const State before = state_;
    if (waitingForServer() && up_.readable) readEarly();
    switch (state_) {
      case State::kClassify:
        classify();
        break;
      case State::kClientHello:
        readHello();
        break;
      case State::kHead:
        readHead();
        break;
      case State::kResolving:
        break;
      case State::kConnecting:
        if (connectEvent_) finishConnect();
        break;
      case State::kTlsHandshake:
        continueHandshake();
        break;
      case State::kProxyReply:
        readProxyReply();
        break;
      case State::kTunnel:
        pumpTunnel();
        break;
      case State::kForward:
        pumpForward();
        break;
      case State::kClosing:
        flushClosing();
        break;
      case State::kClosed:
        break;
    }
    if (state_ == before) break;
  }
  if (state_ != State::kClosed) updateInterest();
}

bool Connection::waitingForServer() const {
  return state_ == State::kResolving || state_ == State::kConnecting ||
         state_ == State::kTlsHandshake || state_ == State::kProxyReply;
}

// What a client sends while its destination is being reached (the start of
// a TLS handshake after CONNECT, a request body) is kept for later; the
// client stays registered, and a client that leaves is noticed.
void Connection::readEarly() {
  while (in_.size() < kBufferLimit) {
    const ClientRead r = readClient(kBufferLimit - in_.size());
    if (r == ClientRead::kWait) return;
    if (r == ClientRead::kEnd) {
      close("client-closed", true);
      return;
    }
  }
}

Connection::ClientRead Connection::readClient(std::size_t max) {
  char chunk[16 * 1024];
  const IoResult r = client_->read(chunk, std::min(sizeof chunk, max));
  if (r.status == IoStatus::kWouldBlock) {
    up_.readable = false;
    return ClientRead::kWait;
  }
  if (r.status != IoStatus::kOk) return ClientRead::kEnd;
  in_.append(chunk, r.bytes);
  lastActive_ = ctx_.now;
  return ClientRead::kMore;
}

void Connection::updateInterest() {
  std::uint32_t clientEvents = 0;
  std::uint32_t serverEvents = 0;
  switch (state_) {
    case State::kClassify:
    case State::kClientHello:
      clientEvents = EPOLLIN;
      break;
    case State::kHead:
      clientEvents = EPOLLIN;
      if (server_) serverEvents = EPOLLIN;  // a kept origin connection: notice when it closes
      break;
    case State::kResolving:
      clientEvents = in_.size() < kBufferLimit ? std::uint32_t{EPOLLIN} : 0u;
      break;
    case State::kConnecting:
      clientEvents = in_.size() < kBufferLimit ? std::uint32_t{EPOLLIN} : 0u;
      serverEvents = EPOLLOUT;
      break;
    case State::kTlsHandshake:
      clientEvents = in_.size() < kBufferLimit ? std::uint32_t{EPOLLIN} : 0u;
      serverEvents = server_->blockedOnWrite() ? EPOLLOUT : EPOLLIN;
      break;
    case State::kProxyReply:
      clientEvents = in_.size() < kBufferLimit ? std::uint32_t{EPOLLIN} : 0u;
      serverEvents = toServer_.empty() ? EPOLLIN : EPOLLOUT;
      break;
    case State::kTunnel: {
      const bool upRoom = toServer_.size() < kBufferLimit &&
                          up_.pipe.fill < std::max<std::size_t>(up_.pipe.capacity, 1);
      const bool downRoom = toClient_.size() < kBufferLimit &&
                            down_.pipe.fill < std::max<std::size_t>(down_.pipe.capacity, 1);
      if (!up_.srcEof && upRoom) clientEvents |= EPOLLIN;
      if (!down_.srcEof && downRoom) serverEvents |= EPOLLIN;
      if (down_.writeBlocked) clientEvents |= EPOLLOUT;
      if (up_.writeBlocked) serverEvents |= EPOLLOUT;
      if (server_->blockedOnWrite()) serverEvents |= EPOLLOUT;
      if (server_->blockedOnRead()) serverEvents |= EPOLLIN;
      break;
    }
    case State::kForward:
      if (!requestDone_ && !clientEof_ && toServer_.size() < kBufferLimit) clientEvents |= EPOLLIN;
      if (!toClient_.empty()) clientEvents |= EPOLLOUT;
      if (!responseDone_ && !serverEof_ && toClient_.size() < kBufferLimit) serverEvents |= EPOLLIN;
      if (!toServer_.empty() || server_->blockedOnWrite()) serverEvents |= EPOLLOUT;
      if (server_->blockedOnRead()) serverEvents |= EPOLLIN;
      break;
    case State::kClosing:
      clientEvents = toClient_.empty() ? EPOLLIN : EPOLLOUT;
      break;
    case State::kClosed:
      return;
  }
  if (auto ok = ctx_.reactor.set(clientWatch_, clientEvents); !ok) {
    close("error");
    return;
  }
  if (server_) {
    serverWatch_.fd = server_->fd();
    if (auto ok = ctx_.reactor.set(serverWatch_, serverEvents); !ok) close("error");
  }
}

void Connection::onTick() {
  if (state_ == State::kClosed) return;
  const auto now = ctx_.now;
  const bool idle = now - lastActive_ >= ctx_.options.idleTimeout;
  const bool due = now >= deadline_;
  const State before = state_;
  const Clock::time_point deadlineBefore = deadline_;
  switch (state_) {
    case State::kClassify:
      // Nothing (or nothing recognisable) in time: a server that speaks
      // first, or a protocol of its own.
      if (due) {
        ++ctx_.stats.classifiedRaw;
        judgeTunnel(decision::Door::kRawTcp, original_.address().toString());
      }
      break;
    case State::kClientHello:
      if (due) refuse(408, reason::kHeaderTimeout, "the TLS ClientHello did not arrive in time");
      break;
    case State::kHead:
      if (requests_ > 0 && in_.empty()) {
        if (idle) close("idle-timeout");
      } else if (due) {
        refuse(408, reason::kHeaderTimeout, "the request head did not arrive in time");
      }
      break;
    case State::kResolving:
      if (due) refuse(502, reason::kDnsFailure, "name resolution timed out");
      break;
    case State::kConnecting:
      if (due) dialFailed(true, "connect timed out");
      break;
    case State::kTlsHandshake:
    case State::kProxyReply:
      if (due)
        refuse(504, reason::kUpstreamProxyTimeout, "the upstream proxy did not answer in time");
      break;
    case State::kTunnel:
      if (idle) close(reason::kIdleTimeout);
      break;
    case State::kForward:
      if (idle && !responseHead_ && !sentThisRequest_) {
        refuse(504, "response-timeout", "the server did not answer in time");
      } else if (idle) {
        close(reason::kIdleTimeout);
      }
      break;
    case State::kClosing:
      if (due) close("refused");
      break;
    case State::kClosed:
      break;
  }
  // A timeout that produced an answer (or a connect to the next address)
  // needs the loop to write it (or to watch the new socket).
  if (state_ != State::kClosed && (state_ != before || deadline_ != deadlineBefore)) drive();
}

// ---- the request head and its decision ----------------------------------------

void Connection::readHead() {
  if (server_ && down_.readable) {
    // A kept origin connection said something (or closed) between requests.
    char scratch[512];
    const IoResult r = server_->read(scratch, sizeof scratch);
    if (r.status != IoStatus::kWouldBlock) closeServer();
    down_.readable = false;
  }
  const std::size_t limit = ctx_.options.maxHeaderBytes;
  for (;;) {
    if (auto end = http::findHeadEnd(in_)) {
      if (*end > limit) break;
      headerSeen_ = true;
      judge();
      return;
    }
    if (in_.size() > limit) break;
    char chunk[16 * 1024];
    const std::size_t room = std::min(sizeof chunk, limit + 1 - in_.size());
    const IoResult r = client_->read(chunk, room);
    if (r.status == IoStatus::kWouldBlock) return;
    if (r.status != IoStatus::kOk) {
      close(in_.empty() ? "client-closed" : "client-closed-mid-head");
      return;
    }
    if (in_.empty() && requests_ > 0) deadline_ = ctx_.now + ctx_.options.headerTimeout;
    in_.append(chunk, r.bytes);
    lastActive_ = ctx_.now;
  }
  refuse(431, reason::kHeaderTooLarge,
         "the request head is larger than " + std::to_string(limit) + " bytes");
}

const std::vector<std::string>& Connection::callerChain() {
  if (callerLooked_) return callerChain_;
  callerLooked_ = true;
  // The client's socket goes from our peer to where it connected: our own
  // address, or for a redirected connection the original destination.
  net::SocketAddress destination = original_;
  if (!transparent_) {
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    if (::getsockname(clientWatch_.fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) {
      log::get("proxy")->debug("connection {}: getsockname: {}; the caller is unknown", id_,
                               std::strerror(errno));
      return callerChain_;
    }
    destination = net::SocketAddress::fromStorage(local);
  }
  auto owner = net::findSocketOwner(peerAddress_, destination);
  if (!owner) {
    log::get("proxy")->debug("connection {} from {}: the caller is unknown: {}", id_,
                             peerAddress_.toString(), owner.error().message);
    return callerChain_;
  }
  caller_ = audit::ProcessInfo{owner->name, owner->pid, owner->chain.front()};
  callerChain_ = std::move(owner->chain);
  return callerChain_;
}

decision::Request Connection::engineRequest() {
  decision::Request r;
  // Looked up (and audited) only when some rule names binaries: the lookup
  // reads every process's descriptor table.
  if (ctx_.engine && ctx_.engine->needsCaller()) r.callerChain = callerChain();
  if (transparent_) {
    r.door = door_;
    r.host = request_->host;
    r.port = request_->port;
    if (door_ == decision::Door::kRawTcp) r.address = original_.address();
    if (door_ == decision::Door::kTransparentHttp) {
      r.method = request_->head.method;
      r.path = request_->originTarget;
    }
    return r;
  }
  r.door =
      request_->kind == RequestKind::kConnect ? decision::Door::kConnect : decision::Door::kForward;
  r.host = request_->host;
  r.port = request_->port;
  if (request_->kind == RequestKind::kForward) {
    r.method = request_->head.method;
    r.path = request_->originTarget;
  }
  return r;
}

void Connection::judge() {
  const std::size_t end = *http::findHeadEnd(in_);
  up_.readable = false;  // readHead read until the head was complete; epoll says if more came
  ++ctx_.stats.requests;
  ++requests_;
  const std::string_view head = std::string_view(in_).substr(0, end);
  auto parsed =
      transparent_ ? parseTransparentRequest(head, original_.port()) : parseProxyRequest(head);
  if (!parsed) {
    if (!transparent_) action_ = "HTTP request";
    request_.reset();
    const ErrorCode code = parsed.error().code;
    const bool tooMany = code == ErrorCode::kLimit;
    std::string_view why = tooMany ? reason::kHeaderTooLarge : reason::kBadRequest;
    if (code == ErrorCode::kDenied) why = reason::kHttpConnectOnTransparent;
    if (code == ErrorCode::kNotFound) why = reason::kHttpNoHost;
    refuse(tooMany ? 431 : 400, why, parsed.error().message);
    return;
  }
  request_ = std::move(*parsed);
  in_.erase(0, end);
  lastMethod_ = request_->head.method;
  lastHost_ = request_->host;
  if (transparent_) {
    // action_ stays "TRANSPARENT ip:port"
  } else if (request_->kind == RequestKind::kConnect) {
    action_ = "CONNECT " + request_->authority();
  } else {
    const bool defaultPort = request_->port == 80;
    const bool v6 = request_->host.find(':') != std::string::npos;
    action_ = request_->head.method + " http://" +
              (v6 ? "[" + request_->host + "]" : request_->host) +
              (defaultPort ? "" : ":" + std::to_string(request_->port)) +
              pathOnly(request_->originTarget);
  }

  engine_ = ctx_.engine;
  decision_ = engine_->decide(engineRequest());
  act();
}

void Connection::act() {
  if (decision_.reason == decision::reason::kNoPolicy) {
    refuse(503, decision_.reason, "no valid policy is loaded yet", decision_.detail);
    return;
  }
  if (decision_.verdict == policy::Verdict::kAsk) {
    refuse(403, reason::kNoApprover, "the policy asks for approval and nobody can approve yet",
           decision_.detail);
    return;
  }
  if (!decision_.allowed()) {
    refuse(403, decision_.reason, "refused by policy", decision_.detail);
    return;
  }
  // A redirected client has not asked for a tunnel: the interception stage
  // (which answers CONNECT) cannot take it.
  if (decision_.intercept && (transparent_ || !ctx_.options.interception)) {
    refuse(403, reason::kInterceptionUnavailable,
           "the policy needs to see the requests inside this tunnel and TLS interception is not "
           "available",
           decision_.detail);
    return;
  }
  onDecided();
}

void Connection::onDecided() {
  const bool viaProxy = decision_.transport == policy::Transport::kUpstream;
  const std::string key = std::string(viaProxy ? "u:" : "d:") + lowerHost(request_->host) + ":" +
                          std::to_string(request_->port);
  if (request_->kind == RequestKind::kForward && server_ && key == serverKey_) {
    startForward();  // reuse the origin connection of the previous request
    return;
  }
  closeServer();
  pendingKey_ = key;
  route_.reset();
  if (viaProxy) {
    if (!ctx_.upstream) {
      refuse(503, reason::kNoUpstreamProxy,
             "the policy routes this through an upstream proxy and none is configured",
             ctx_.upstreamProblem);
      return;
    }
    route_ = ctx_.upstream;
    if (isIpLiteral(route_->proxy.host)) {
      onResolved(std::vector<net::IpAddress>{*net::IpAddress::parse(route_->proxy.host)}, true);
    } else {
      resolve(route_->proxy.host, true);
    }
    return;
  }
  std::string literal = request_->host;
  if (auto ip = net::IpAddress::parse(literal)) {
    onResolved(std::vector<net::IpAddress>{*ip}, false);
  } else {
    resolve(request_->host, false);
  }
}

void Connection::refuse(int status, std::string_view why, std::string_view text,
                        std::string_view detail) {
  if (status == 403) {
    ++ctx_.stats.denied;
  } else if (status < 500) {
    ++ctx_.stats.badRequests;
  } else {
    ++ctx_.stats.upstreamErrors;
  }
  const std::string subject = request_ ? request_->host : std::string("request");
  if (!transparent_ || door_ == decision::Door::kTransparentHttp) {
    toClient_.append(errorReply(status, why, subject, text, ctx_.options.tool));
  } else if (door_ == decision::Door::kTransparentTls) {
    toClient_.append(tlsAlertRecord(status == 403   ? TlsAlert::kAccessDenied
                                    : status < 500 ? TlsAlert::kDecodeError
                                                   : TlsAlert::kInternalError));
  }  // raw: the close says it
  const bool failure = status == 403 || status < 500;
  emitDecision(failure ? audit::Outcome::kFailure : audit::Outcome::kError, status, why,
               detail.empty() ? text : detail);
  closeServer();
  state_ = State::kClosing;
  deadline_ = ctx_.now + kLinger;
  closeClientAfter_ = true;
}

// ---- the transparent entry ---------------------------------------------------------

void Connection::classify() {
  for (;;) {
    const std::optional<bool> tls = tls::looksLikeTls(in_);
    const std::optional<bool> http = looksLikeHttp(in_);
    if (tls.value_or(false)) {
      ++ctx_.stats.classifiedTls;
      door_ = decision::Door::kTransparentTls;
      state_ = State::kClientHello;
      deadline_ = ctx_.now + ctx_.options.headerTimeout;
      return;
    }
    if (http.value_or(false)) {
      ++ctx_.stats.classifiedHttp;
      door_ = decision::Door::kTransparentHttp;
      state_ = State::kHead;
      deadline_ = ctx_.now + ctx_.options.headerTimeout;
      return;
    }
    if (tls && http) {  // neither could still be
      ++ctx_.stats.classifiedRaw;
      judgeTunnel(decision::Door::kRawTcp, original_.address().toString());
      return;
    }
    const ClientRead r = readClient(4096);
    if (r == ClientRead::kWait) return;
    if (r == ClientRead::kEnd) {
      if (in_.empty()) {  // connected and left without a word: nothing to judge
        close("client-closed");
        return;
      }
      ++ctx_.stats.classifiedRaw;  // a few bytes and the end: they go the raw way
      judgeTunnel(decision::Door::kRawTcp, original_.address().toString());
      return;
    }
  }
}

void Connection::readHello() {
  tls::HelloLimits limits;
  limits.maxHandshakeBytes = ctx_.options.maxClientHello;
  for (;;) {
    const tls::HelloResult hello = tls::parseClientHello(in_, limits);
    switch (hello.status) {
      case tls::HelloStatus::kComplete:
        // Without SNI the client named nothing but the address it dialled.
        judgeTunnel(decision::Door::kTransparentTls,
                    hello.hello.serverName.value_or(original_.address().toString()));
        return;
      case tls::HelloStatus::kInvalid:
        refuse(400, reason::kTlsBadClientHello, "the TLS ClientHello is malformed", hello.error);
        return;
      case tls::HelloStatus::kTooLarge:
        refuse(431, reason::kTlsClientHelloTooLarge, "the TLS ClientHello is too large", hello.error);
        return;
      case tls::HelloStatus::kNeedMore:
        break;
    }
    // Records of a single byte cost five more: a ClientHello within the
    // limit fits in this many bytes, whatever its records.
    if (in_.size() > 6 * ctx_.options.maxClientHello) {
      refuse(431, reason::kTlsClientHelloTooLarge, "the TLS ClientHello is too large");
      return;
    }
    const ClientRead r = readClient(4096);
    if (r == ClientRead::kWait) return;
    if (r == ClientRead::kEnd) {
      close("client-closed-mid-hello", true);
      return;
    }
  }
}

void Connection::judgeTunnel(decision::Door door, std::string host) {
  door_ = door;
  ProxyRequest r;
  r.kind = RequestKind::kConnect;
  r.host = std::move(host);
  r.port = original_.port();
  request_ = std::move(r);
  if (door != decision::Door::kRawTcp) lastHost_ = request_->host;
  up_.readable = false;
  ++ctx_.stats.requests;
  ++requests_;
  engine_ = ctx_.engine;
  decision_ = engine_->decide(engineRequest());
  act();
}

// ---- reaching the destination ----------------------------------------------------

void Connection::resolve(const std::string& name, bool viaProxy) {
  state_ = State::kResolving;
  // c-ares has its own timeouts; this one only guards against a lost callback.
  deadline_ = ctx_.now + ctx_.options.resolver.timeout * (ctx_.options.resolver.tries * 4 + 2);
  const std::uint64_t id = id_;
  ProxyContext* ctx = &ctx_;
  inResolve_ = true;
  ctx_.resolver->resolve(name, [ctx, id, viaProxy](Result<std::vector<net::IpAddress>> result) {
    // The connection may have closed meanwhile: look it up by id.
    Connection* self = ctx->find(id);
    if (!self || self->state_ != State::kResolving) return;
    if (self->inResolve_) {  // answered at once (hosts file): the caller goes on
      self->resolved_.emplace(std::move(result));
      return;
    }
    self->onResolved(std::move(result), viaProxy);
    self->drive();
  });
  inResolve_ = false;
  if (resolved_) {
    auto result = std::move(*resolved_);
    resolved_.reset();
    onResolved(std::move(result), viaProxy);
  }
}

void Connection::onResolved(Result<std::vector<net::IpAddress>> result, bool viaProxy) {
  if (!result) {
    if (viaProxy) {
      refuse(502, reason::kUpstreamProxyFailed, "cannot resolve the upstream proxy",
             "upstream proxy " + route_->proxy.redacted() + ": " + result.error().message);
    } else {
      refuse(502, reason::kDnsFailure, "cannot resolve the name", result.error().message);
    }
    return;
  }
  addresses_.clear();
  nextAddress_ = 0;
  connectTimedOut_ = false;
  if (viaProxy) {
    addresses_ = std::move(*result);  // trusted infrastructure: no floor, no rules
  } else {
    // The floor again on every address the name resolved to; then the rules
    // with the address (an egress.tcp CIDR rule binds a name resolving into
    // it). One address on the floor refuses the name: a rebinding answer.
    std::optional<decision::Decision> refusal;
    for (const net::IpAddress& ip : *result) {
      if (auto v = decision::checkAddressFloor(ip)) {
        refuse(403, decision::kFloorReason, "refused by policy",
               "the name resolves to " + ip.toString() + ": " + v->detail);
        return;
      }
      decision::Request withAddress = engineRequest();
      withAddress.address = ip;
      decision::Decision d = engine_->decide(withAddress);
      if (d.allowed()) {
        addresses_.push_back(ip);
      } else if (!refusal) {
        refusal = std::move(d);
      }
    }
    if (addresses_.empty()) {
      decision_ = std::move(*refusal);
      refuse(403, decision_.reason, "refused by policy", decision_.detail);
      return;
    }
  }
  dialNext();
}

void Connection::dialNext() {
  const std::uint16_t port = route_ ? route_->proxy.port : request_->port;
  while (nextAddress_ < addresses_.size()) {
    const net::IpAddress ip = addresses_[nextAddress_++];
    const net::SocketAddress target = net::SocketAddress::from(ip, port);
    const int fd = ::socket(target.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      lastDialError_ = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    if (ctx_.options.mark != 0) {
      auto marked = net::markSocket(fd, ctx_.options.mark);
      if ((!marked || *marked != net::MarkResult::kMarked) && !ctx_.markWarned) {
        ctx_.markWarned = true;
        log::get("proxy")->warn("cannot mark outgoing sockets ({}): inside a cage they would be refused",
                                marked ? "not permitted" : marked.error().message);
      }
    }
    const int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    server_ = std::make_unique<Stream>(fd);
    serverWatch_.fd = fd;
    dialled_ = ip;
    if (::connect(fd, target.get(), target.length) == 0 || errno == EINPROGRESS) {
      if (ctx_.options.transparent != TransparentMode::kOff) {
        sockaddr_storage local{};
        socklen_t length = sizeof local;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
          outgoing_ = net::SocketAddress::fromStorage(local).toString();
          ctx_.outgoing.insert(outgoing_);
        }
      }
      state_ = State::kConnecting;
      connectEvent_ = false;
      deadline_ = ctx_.now + ctx_.options.connectTimeout;
      return;
    }
    lastDialError_ = target.toString() + ": " + std::strerror(errno);
    dropServerSocket();
  }
  dialFailed(false, lastDialError_);
}

void Connection::finishConnect() {
  connectEvent_ = false;
  int error = 0;
  if (connectError_) {  // writable without an error is connected: no getsockopt needed
    socklen_t length = sizeof error;
    if (::getsockopt(server_->fd(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    if (error == 0) error = ECONNREFUSED;
  }
  if (error == 0) {
    connected();
    return;
  }
  lastDialError_ = dialled_->toString() + ": " + std::strerror(error);
  dropServerSocket();
  if (nextAddress_ < addresses_.size()) {
    dialNext();
  } else {
    dialFailed(false, lastDialError_);
  }
}

void Connection::dialFailed(bool timedOut, const std::string& why) {
  if (timedOut) {
    connectTimedOut_ = true;
    lastDialError_ = (dialled_ ? dialled_->toString() + ": " : std::string()) + why;
    dropServerSocket();
    if (nextAddress_ < addresses_.size()) {
      dialNext();
      return;
    }
  }
  if (route_) {
    if (connectTimedOut_) {
      refuse(504, reason::kUpstreamProxyTimeout, "cannot reach the upstream proxy in time",
             route_->proxy.redacted() + ": " + lastDialError_);
    } else {
      refuse(502, reason::kUpstreamProxyFailed, "cannot connect to the upstream proxy",
             route_->proxy.redacted() + ": " + lastDialError_);
    }
  } else if (connectTimedOut_) {
    refuse(504, reason::kConnectTimeout, "the server did not accept the connection in time",
           lastDialError_);
  } else {
    refuse(502, reason::kConnectFailed, "cannot connect to the server", lastDialError_);
  }
}

void Connection::connected() {
  if (!route_) {
    established();
    return;
  }
  if (route_->tls) {
    const int fd = server_->fd();
    // The socket moves into the TLS stream; the plain one gives it up.
    auto plain = std::move(server_);
    auto tls = std::make_unique<TlsStream>(fd, route_->tls, route_->proxy.host);
    plain.release();  // NOLINT: the descriptor now belongs to `tls`
    server_ = std::move(tls);
    state_ = State::kTlsHandshake;
    deadline_ = ctx_.now + ctx_.options.connectTimeout;
    continueHandshake();
    return;
  }
  askUpstreamProxy();
}

void Connection::continueHandshake() {
  auto* tls = static_cast<TlsStream*>(server_.get());
  const IoResult r = tls->handshake();
  if (r.status == IoStatus::kWouldBlock) return;
  if (r.status != IoStatus::kOk) {
    refuse(502, reason::kUpstreamProxyFailed, "TLS to the upstream proxy failed",
           route_->proxy.redacted() + ": " + tls->error());
    return;
  }
  askUpstreamProxy();
}

void Connection::askUpstreamProxy() {
  state_ = State::kProxyReply;
  deadline_ = ctx_.now + ctx_.options.upstreamTimeout;
  std::string head =
      "CONNECT " + request_->authority() + " HTTP/1.1\r\nHost: " + request_->authority() + "\r\n";
  if (!route_->proxy.authorization.empty())
    head += "Proxy-Authorization: " + route_->proxy.authorization + "\r\n";
  head += "\r\n";
  toServer_.append(head);
  fromServer_.clear();
}

void Connection::readProxyReply() {
  while (!toServer_.empty()) {
    const IoResult w = server_->write(toServer_.data(), toServer_.size());
    if (w.status == IoStatus::kWouldBlock) return;
    if (w.status != IoStatus::kOk) {
      refuse(502, reason::kUpstreamProxyFailed, "the upstream proxy closed the connection",
             route_->proxy.redacted());
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
        refuse(502, reason::kUpstreamProxyFailed, "the upstream proxy refused the tunnel",
               route_->proxy.redacted() + " answered " + status);
        return;
      }
      fromServer_.erase(0, *end);  // anything after the head is the destination's
      established();
      return;
    }
    if (fromServer_.size() > kMaxProxyReply) {
      refuse(502, reason::kUpstreamProxyFailed, "the upstream proxy's answer is too large",
             route_->proxy.redacted());
      return;
    }
    char chunk[4096];
    const IoResult r = server_->read(chunk, sizeof chunk);
    if (r.status == IoStatus::kWouldBlock) return;
    if (r.status != IoStatus::kOk) {
      refuse(502, reason::kUpstreamProxyFailed, "the upstream proxy closed the connection",
             route_->proxy.redacted());
      return;
    }
    fromServer_.append(chunk, r.bytes);
  }
}

void Connection::established() {
  serverKey_ = pendingKey_;
  if (request_->kind == RequestKind::kForward) {
    startForward();
    return;
  }
  ++ctx_.stats.allowed;
  ++ctx_.stats.tunnels;
  emitDecision(audit::Outcome::kSuccess, 200, decision_.reason, decision_.detail);
  if (decision_.intercept) {
    // The hand-off point (interception.h): both ends are ready.
    const IoResult w = client_->write(kConnectEstablished.data(), kConnectEstablished.size());
    if (w.status != IoStatus::kOk || w.bytes != kConnectEstablished.size()) {
      close("client-closed");
      return;
    }
    InterceptedTunnel tunnel;
    ctx_.reactor.remove(clientWatch_);
    ctx_.reactor.remove(serverWatch_);
    tunnel.client = std::move(client_);
    tunnel.clientPending = std::move(in_);
    tunnel.origin = std::move(server_);
    tunnel.originPending = std::move(fromServer_);
    tunnel.host = request_->host;
    tunnel.port = request_->port;
    tunnel.decision = decision_;
    tunnel.engine = engine_;
    tunnel.callerChain = callerChain_;
    tunnel.event =
        audit::Event(ctx_.options.tool, action_).method("CONNECT").host(request_->host).src(peer_);
    if (caller_) tunnel.event.actor(*caller_);
    ctx_.options.interception->adopt(std::move(tunnel));
    state_ = State::kClosed;
    --ctx_.stats.open;
    ctx_.release(id_);
    return;
  }
  if (!transparent_) toClient_.append(kConnectEstablished);
  startTunnel();
}

// ---- tunnels ------------------------------------------------------------------------

void Connection::startTunnel() {
  state_ = State::kTunnel;
  lastActive_ = ctx_.now;
  // Bytes already read on either side go first, through the buffers.
  if (!in_.empty()) {
    toServer_.append(in_);
    in_.clear();
  }
  if (!fromServer_.empty()) {
    toClient_.append(fromServer_);
    fromServer_.clear();
  }
  // Level-triggered epoll reports what is already waiting in the sockets;
  // a TLS stream may hold decrypted bytes epoll cannot see.
  up_.readable = false;
  down_.readable = !server_->plain();
}

bool Connection::pumpFlow(Flow& f, Stream& src, Stream& dst, std::uint64_t& counter) {
  bool progress = false;
  const bool splicing = src.plain() && dst.plain();
  for (;;) {
    bool moved = false;
    // 1. Buffered bytes first (a head's leftovers, or a TLS side).
    while (!f.buffer->empty() && !f.writeBlocked) {
      const IoResult w = dst.write(f.buffer->data(), f.buffer->size());
      if (w.status == IoStatus::kWouldBlock) {
        f.writeBlocked = true;
        break;
      }
      if (w.status != IoStatus::kOk) return false;
      f.buffer->consume(w.bytes);
      counter += w.bytes;
      moved = true;
    }
    // 2. The pipe into the destination.
    if (f.buffer->empty() && f.pipe.fill > 0 && !f.writeBlocked) {
      const ssize_t n = ::splice(f.pipe.read, nullptr, dst.fd(), nullptr, f.pipe.fill,
                                 SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        if (static_cast<std::size_t>(n) < f.pipe.fill)
          f.writeBlocked = true;  // the socket buffer is full
        f.pipe.fill -= static_cast<std::size_t>(n);
        counter += static_cast<std::uint64_t>(n);
        moved = true;
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        f.writeBlocked = true;
      } else {
        return false;
      }
    }
    // 3. The source into the pipe (or the buffer).
    if (!f.srcEof && f.readable) {
      if (splicing && f.buffer->empty()) {
        if (!f.pipe.open()) f.pipe = ctx_.pipes.acquire();
        if (!f.pipe.open()) return false;
        if (f.pipe.fill < f.pipe.capacity) {
          const ssize_t n =
              ::splice(src.fd(), nullptr, f.pipe.write, nullptr, f.pipe.capacity - f.pipe.fill,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
          if (n > 0) {
            // A small read is all there was (a request, an answer): epoll
            // says when more comes, no need to ask again for EAGAIN. A
            // large one may have stopped at the pipe's page slots: go on.
            if (static_cast<std::size_t>(n) < kSmallRead) f.readable = false;
            f.pipe.fill += static_cast<std::size_t>(n);
            moved = true;
          } else if (n == 0) {
            f.srcEof = true;
            moved = true;
          } else if (errno == EAGAIN || errno == EINTR) {
            f.readable = false;
          } else {
            return false;
          }
        }
      } else if (!splicing && f.buffer->size() < kBufferLimit) {
        char chunk[kChunk];
        const IoResult r = src.read(chunk, sizeof chunk);
        if (r.status == IoStatus::kOk) {
          f.buffer->append(std::string_view(chunk, r.bytes));
          moved = true;
        } else if (r.status == IoStatus::kEof) {
          f.srcEof = true;
          moved = true;
        } else if (r.status == IoStatus::kWouldBlock) {
          f.readable = false;
        } else {
          return false;
        }
      }
    }
    // 4. The end of the source, once everything is through.
    if (f.srcEof && f.buffer->empty() && f.pipe.fill == 0 && !f.dstShut) {
      // The last direction to end needs no shutdown: the close that follows sends the FIN.
      const Flow& other = &f == &up_ ? down_ : up_;
      if (!other.dstShut || !dst.plain()) dst.shutdownWrite();
      f.dstShut = true;
      moved = true;
    }
    if (!moved) break;
    progress = true;
  }
  // An idle direction gives its (empty) pipe back.
  if (f.pipe.open() && f.pipe.fill == 0 && !f.readable) ctx_.pipes.release(f.pipe);
  if (progress) lastActive_ = ctx_.now;
  return true;
}

void Connection::pumpTunnel() {
  const std::uint64_t upBefore = bytesUp_;
  const std::uint64_t downBefore = bytesDown_;
  if (!pumpFlow(down_, *server_, *client_, bytesDown_) ||
      !pumpFlow(up_, *client_, *server_, bytesUp_)) {
    ctx_.stats.bytesUp += bytesUp_ - upBefore;
    ctx_.stats.bytesDown += bytesDown_ - downBefore;
    close("reset");
    return;
  }
  ctx_.stats.bytesUp += bytesUp_ - upBefore;
  ctx_.stats.bytesDown += bytesDown_ - downBefore;
  if (up_.dstShut && down_.dstShut) close("done");
}

// ---- forward requests --------------------------------------------------------------

void Connection::startForward() {
  ++ctx_.stats.allowed;
  emitDecision(audit::Outcome::kSuccess, 200, decision_.reason, decision_.detail);
  state_ = State::kForward;
  lastActive_ = ctx_.now;
  toServer_.append(originFormHead(*request_));
  requestBody_ = http::BodyTracker(request_->body, request_->contentLength);
  requestDone_ = requestBody_.done();
  responseHead_ = false;
  responseDone_ = false;
  serverClose_ = false;
  sentThisRequest_ = false;
  serverEof_ = false;
  // Bytes the upstream proxy sent after its 200 belong to the response.
}

void Connection::pumpForward() {
  for (int round = 0; round < 64; ++round) {
    bool progress = false;
    // The request body, from what the client sent.
    if (!requestDone_) {
      if (!in_.empty()) {
        auto n = requestBody_.feed(in_);
        if (!n) {
          close("bad-request-body", true);
          return;
        }
        toServer_.append(std::string_view(in_).substr(0, *n));
        in_.erase(0, *n);
        progress = progress || *n > 0;
      }
      if (requestBody_.done()) {
        requestDone_ = true;
      } else if (in_.empty() && !clientEof_ && toServer_.size() < kBufferLimit) {
        char chunk[kChunk];
        const IoResult r = client_->read(chunk, sizeof chunk);
        if (r.status == IoStatus::kOk) {
          in_.append(chunk, r.bytes);
          progress = true;
        } else if (r.status != IoStatus::kWouldBlock) {
          close("client-closed");
          return;
        }
      }
    }
    // To the server.
    if (!toServer_.empty()) {
      const IoResult w = server_->write(toServer_.data(), toServer_.size());
      if (w.status == IoStatus::kOk) {
        bytesUp_ += w.bytes;
        ctx_.stats.bytesUp += w.bytes;
        toServer_.consume(w.bytes);
        progress = progress || w.bytes > 0;
      } else if (w.status != IoStatus::kWouldBlock) {
        serverEof_ = true;
        toServer_.clear();
        progress = true;
      }
    }
    // From the server.
    if (!responseDone_ && !serverEof_ && toClient_.size() < kBufferLimit) {
      char chunk[kChunk];
      const IoResult r = server_->read(chunk, sizeof chunk);
      if (r.status == IoStatus::kOk) {
        fromServer_.append(chunk, r.bytes);
        progress = true;
      } else if (r.status != IoStatus::kWouldBlock) {
        serverEof_ = true;
        progress = true;
      }
    }
    if (parseResponse()) progress = true;
    if (state_ != State::kForward) return;
    // To the client.
    if (!toClient_.empty()) {
      const IoResult w = client_->write(toClient_.data(), toClient_.size());
      if (w.status == IoStatus::kOk) {
        bytesDown_ += w.bytes;
        ctx_.stats.bytesDown += w.bytes;
        toClient_.consume(w.bytes);
        progress = progress || w.bytes > 0;
      } else if (w.status != IoStatus::kWouldBlock) {
        close("client-closed");
        return;
      }
    }
    if (progress) lastActive_ = ctx_.now;
    if (responseDone_ && requestDone_ && toClient_.empty() && toServer_.empty()) {
      finishExchange();
      return;
    }
    if (!progress) return;
  }
}

bool Connection::parseResponse() {
  bool progress = false;
  while (!responseHead_) {
    const auto end = http::findHeadEnd(fromServer_);
    if (!end) {
      if (fromServer_.size() > kMaxResponseHead) {
        refuse(502, reason::kBadResponse, "the server's response head is too large");
        return true;
      }
      if (serverEof_) {
        if (sentThisRequest_) {
          close("server-closed", true);
        } else {
          refuse(502, reason::kBadResponse, "the server closed the connection without a response");
        }
        return true;
      }
      return progress;
    }
    auto head = http::parseResponseHead(std::string_view(fromServer_).substr(0, *end),
                                        request_->head.method);
    if (!head) {
      refuse(502, reason::kBadResponse, "the server's response is malformed", head.error().message);
      return true;
    }
    toClient_.append(std::string_view(fromServer_).substr(0, *end));
    fromServer_.erase(0, *end);
    sentThisRequest_ = true;
    progress = true;
    if (head->status == 101) {
      // An upgrade the judged request asked for: the rest is a tunnel.
      requestDone_ = true;
      responseDone_ = true;
      startTunnel();
      return true;
    }
    if (head->status < 200) continue;  // 100 Continue and friends: the real answer follows
    responseHead_ = true;
    serverClose_ = head->close;
    closeClientAfter_ = closeClientAfter_ || head->framing == http::Framing::kUntilClose;
    responseBody_ = http::BodyTracker(head->framing, head->contentLength);
    responseDone_ = responseBody_.done();
  }
  if (!responseDone_ && !fromServer_.empty()) {
    auto n = responseBody_.feed(fromServer_);
    if (!n) {
      close("bad-response-body", true);
      return true;
    }
    toClient_.append(std::string_view(fromServer_).substr(0, *n));
    fromServer_.erase(0, *n);
    progress = progress || *n > 0;
    responseDone_ = responseBody_.done();
  }
  if (!responseDone_ && serverEof_ && fromServer_.empty()) {
    if (responseBody_.framing() == http::Framing::kUntilClose) {
      responseDone_ = true;
      closeClientAfter_ = true;
      progress = true;
    } else {
      // Truncated: the client must not take what it got for the whole.
      close("server-closed", true);
      return true;
    }
  }
  if (responseDone_ && !fromServer_.empty()) {
    fromServer_
        .clear();  // bytes after the response: the server cannot be trusted with another request
    serverClose_ = true;
  }
  return progress;
}

void Connection::finishExchange() {
  if (serverClose_ || serverEof_) closeServer();
  if (closeClientAfter_ || !request_->keepAlive || clientEof_ || ctx_.draining) {
    close("done");
    return;
  }
  state_ = State::kHead;
  request_.reset();
  up_.readable = false;
  down_.readable = false;
  lastActive_ = ctx_.now;
  deadline_ = ctx_.now + ctx_.options.headerTimeout;
}

void Connection::dropServerSocket() {
  Reactor::forget(serverWatch_);  // closing the socket takes it out of epoll
  forgetOutgoing();
  server_.reset();
  serverWatch_.fd = -1;
}

void Connection::forgetOutgoing() {
  if (outgoing_.empty()) return;
  ctx_.outgoing.erase(outgoing_);
  outgoing_.clear();
}

void Connection::closeServer() {
  if (!server_) return;
  dropServerSocket();
  serverKey_.clear();
  toServer_.clear();
  fromServer_.clear();
  ctx_.pipes.release(up_.pipe);
  ctx_.pipes.release(down_.pipe);
  up_ = Flow{&toServer_};
  down_ = Flow{&toClient_};
}

// ---- ending -------------------------------------------------------------------------

void Connection::flushClosing() {
  while (!toClient_.empty()) {
    const IoResult w = client_->write(toClient_.data(), toClient_.size());
    if (w.status == IoStatus::kWouldBlock) return;
    if (w.status != IoStatus::kOk) {
      close("refused");
      return;
    }
    toClient_.consume(w.bytes);
  }
  if (!up_.dstShut) {
    // Lingering close: stop sending, and read what the client still sends
    // for a moment, so that its unread request does not reset the answer.
    client_->shutdownWrite();
    up_.dstShut = true;
  }
  char scratch[16 * 1024];
  for (;;) {
    const IoResult r = client_->read(scratch, sizeof scratch);
    if (r.status == IoStatus::kWouldBlock) return;
    if (r.status != IoStatus::kOk) {
      close("refused");
      return;
    }
  }
}

void Connection::rejudge() {
  if (!request_ || (state_ != State::kTunnel && state_ != State::kForward &&
                    state_ != State::kConnecting && state_ != State::kResolving &&
                    state_ != State::kProxyReply && state_ != State::kTlsHandshake)) {
    return;
  }
  decision::Request r = engineRequest();
  decision::Decision d = ctx_.engine->decide(r);
  if (d.allowed() && dialled_ && !route_) {
    r.address = dialled_;
    d = ctx_.engine->decide(r);
  }
  const bool stillAllowed = d.allowed() &&
                            (!d.intercept || (ctx_.options.interception && !transparent_)) &&
                            d.intercept == decision_.intercept;
  if (stillAllowed) return;
  ++ctx_.stats.closedByPolicy;
  log::get("proxy")->info("{}: closed, the new policy no longer allows it ({})", action_, d.reason);
  decision_ = d;
  close(reason::kPolicyChanged, true);
}

void Connection::drain() {
  if (state_ == State::kHead && in_.empty()) close("shutdown");
}

void Connection::forceClose(std::string_view why) {
  if (state_ == State::kClosed) return;
  ++ctx_.stats.closedByDrain;
  close(why, true);
}

void Connection::close(std::string_view why, bool failure) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  --ctx_.stats.open;
  if (ctx_.options.sink && requests_ > 0 && !action_.empty()) {
    const auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(ctx_.now - opened_);
    audit::Event event(ctx_.options.tool, action_);
    if (!lastMethod_.empty()) event.method(lastMethod_);
    if (!lastHost_.empty()) event.host(lastHost_);
    event.outcome(failure ? audit::Outcome::kFailure : audit::Outcome::kSuccess)
        .meta("phase", "close")
        .meta("reason", why)
        .meta("bytes_up", bytesUp_)
        .meta("bytes_down", bytesDown_)
        .meta("duration_ms", static_cast<std::int64_t>(duration.count()))
        .meta("requests", requests_);
    if (why == reason::kPolicyChanged) {
      event.meta("decision_reason", decision_.reason);
      if (decision_.rule) event.meta("rule", decision_.rule->match);
      if (const auto& policy = ctx_.engine->policy()) event.meta("policy_version", policy->version);
    }
    event.src(peer_);
    if (caller_) event.actor(*caller_);
    (void)ctx_.options.sink->write(event);
  }
  Reactor::forget(clientWatch_);  // the sockets are closed just below
  Reactor::forget(serverWatch_);
  ctx_.pipes.release(up_.pipe);
  ctx_.pipes.release(down_.pipe);
  forgetOutgoing();
  server_.reset();
  client_.reset();
  ctx_.release(id_);
}

void Connection::emitDecision(audit::Outcome outcome, int status, std::string_view why,
                              std::string_view detail) {
  if (!ctx_.options.sink) return;
  audit::Event event(ctx_.options.tool, action_.empty() ? std::string("HTTP request") : action_);
  if (transparent_) {
    const bool http = door_ == decision::Door::kTransparentHttp;
    if (request_ && http) event.method(request_->head.method);
    if (request_ && door_ != decision::Door::kRawTcp) event.host(request_->host);
    if (request_ && http) event.path(pathOnly(request_->originTarget));
  } else if (request_) {
    event.method(request_->head.method).host(request_->host);
    if (request_->kind == RequestKind::kForward) event.path(pathOnly(request_->originTarget));
  }
  event.outcome(outcome).statusCode(status).meta("phase", "decision").meta("reason", why);
  if (transparent_) {
    event.meta("door", decision::toString(door_));
  } else if (request_) {
    event.meta("door", request_->kind == RequestKind::kConnect ? "connect" : "forward");
  }
  if (engine_ && request_) {
    if (decision_.rule) {
      event.meta("rule", decision_.rule->match)
          .meta("rule_table", decision::toString(decision_.rule->table));
    }
    if (decision_.allowed()) event.meta("transport", policy::toString(decision_.transport));
    // Why the engine asked (the event's reason is no-approver).
    if (why != decision_.reason) event.meta("decision_reason", decision_.reason);
    if (const auto& policy = engine_->policy()) event.meta("policy_version", policy->version);
  }
  if (dialled_ && !route_) event.meta("address", dialled_->toString());
  if (route_) event.meta("upstream_proxy", route_->proxy.redacted());
  if (!detail.empty()) event.meta("detail", detail);
  event.src(peer_);
  if (caller_) event.actor(*caller_);
  (void)ctx_.options.sink->write(event);
}

}  // namespace lens::proxy
