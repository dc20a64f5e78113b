// HTTP/2 inside interception, as a Connection runs it: the client's session
// (H2ServerSession) on the intercepted connection, and the connections that
// serve its streams through the one pipeline (DESIGN.md 5a).
#include <sys/epoll.h>

#include "libcommon/log/logging.h"
#include "libcommon/proxy/connection.h"
#include "libcommon/proxy/reply.h"

namespace lens::proxy {

namespace {

constexpr std::size_t kH2ReadBudget = 256 * 1024;  // client bytes per turn, then others go
constexpr std::size_t kH2OutLimit = 256 * 1024;    // frames produced before the socket takes them
constexpr std::size_t kIdleOrigins = 16;           // origin connections kept per client
// HTTP/1.1 connections a client's streams may have open to one origin
// (one while its protocol is unknown: an HTTP/2 origin needs no more).
constexpr int kOriginConnections = 6;

}  // namespace

Connection::Connection(ProxyContext& ctx, std::uint64_t id, const Connection& parent,
                       std::unique_ptr<Stream> stream)
    : ctx_(ctx),
      id_(id),
      client_(std::move(stream)),
      clientWatch_{this, -1},
      serverWatch_{this, -1},
      dialer_(ctx, serverWatch_, [this] { drive(); }),
      relay_(ctx.pipes),
      exchange_(ctx.pipes),
      mitm_(parent.mitm_),
      party_(parent.party_),
      peerAddress_(parent.peerAddress_),
      callerLooked_(parent.callerLooked_),
      callerChain_(parent.callerChain_),
      transparent_(parent.transparent_),
      insideTls_(true),
      connectAnswered_(parent.connectAnswered_),
      door_(parent.door_),
      original_(parent.original_),
      opened_(ctx.now),
      lastActive_(ctx.now),
      action_(parent.action_),
      stream_(true),
      pool_(parent.pool_) {
  if (mitm_) mitm_->requests = 0;
}

void Connection::startStream() {
  ++ctx_.stats.h2Streams;
  deadline_ = ctx_.now + ctx_.options.headerTimeout;
  clientReadable_ = true;
  drive();
}

void Connection::wake() {
  if (state_ == State::kClosed) return;
  clientReadable_ = true;
  relay_.onClient(EPOLLIN | EPOLLOUT);  // (a WebSocket's tunnel: bytes, or room for them)
  ctx_.reactor.again(clientWatch_);
}

void Connection::abandon() {
  if (state_ == State::kClosed) return;
  if (state_ == State::kForward && !requestAudited_) {
    requestAudited_ = true;
    emitDecision(audit::Outcome::kFailure, exchange_.status(), "client-reset",
                 "the client reset the HTTP/2 stream", true);
  }
  close("client-reset", true);
}

// ---- the client's session -------------------------------------------------------

void Connection::startH2() {
  H2Limits limits = ctx_.options.h2;
  limits.maxHeaderBytes = ctx_.options.maxHeaderBytes;
  h2_ = std::make_unique<H2ServerSession>(static_cast<H2Host&>(*this), limits, &ctx_.now);
  if (auto ok = h2_->start(); !ok) {
    log::get("proxy")->error("{}: HTTP/2: {}", action_, ok.error().message);
    h2_.reset();
    close("error", true);
    return;
  }
  pool_ = std::make_shared<OriginPool>();
  ++ctx_.stats.h2Connections;
  enter(State::kH2);
  lastActive_ = ctx_.now;
  clientReadable_ = true;
}

bool Connection::writeH2() {
  while (!out_.empty()) {
    const IoResult w = client_->write(out_.data(), out_.size());
    if (w.status == IoStatus::kWouldBlock) return true;
    if (w.status != IoStatus::kOk) return false;
    out_.consume(w.bytes);
    bytesDown_ += w.bytes;
  }
  return true;
}

void Connection::pumpH2() {
  // Frames waiting first: the client's bytes are read only while they go.
  if (!writeH2()) {
    close("client-closed", h2_->openStreams() != 0);
    return;
  }
  std::size_t budget = kH2ReadBudget;
  char chunk[16 * 1024];
  bool clientEnded = false;
  bool drained = false;  // read until the client had nothing more
  while (budget > 0 && h2_->failure().empty() && out_.size() < kH2OutLimit) {
    const IoResult r = client_->read(chunk, sizeof chunk);
    if (r.status == IoStatus::kWouldBlock) {
      clientReadable_ = false;
      drained = true;
      break;
    }
    if (r.status != IoStatus::kOk) {
      clientEnded = true;
      break;
    }
    lastActive_ = ctx_.now;
    bytesUp_ += r.bytes;
    budget -= std::min(budget, r.bytes);
    (void)h2_->receive(std::string_view(chunk, r.bytes));  // a failure ends it below
  }
  // The streams' news, the frames they make, the socket; again while the
  // frames sent make room for more of the answers.
  for (int round = 0; round < 4; ++round) {
    h2_->pump();
    const std::size_t before = out_.size();
    h2_->produce(out_, kH2OutLimit);
    const bool produced = out_.size() > before;
    if (!writeH2()) {
      close("client-closed", !h2_->finished());
      return;
    }
    if (!produced || !out_.empty()) break;
  }
  if (!h2_->failure().empty() && out_.empty()) {
    ++ctx_.stats.h2Goaways;
    log::get("proxy")->info("{}: HTTP/2 connection ended: {} ({})", action_, h2_->failure(),
                            h2_->failureDetail());
    emitDecision(audit::Outcome::kFailure, 0, h2_->failure(), h2_->failureDetail());
    // The GOAWAY went out: a lingering close, so that the client's unread
    // frames do not reset the connection before it reads it.
    answered(false);
    return;
  }
  if (clientEnded) {
    close(h2_->openStreams() == 0 ? "done" : "client-closed", h2_->openStreams() != 0);
    return;
  }
  if (h2_->finished() && out_.empty()) {
    close("done");
    return;
  }
  // TLS may hold client bytes already read from the socket, which no
  // readiness announces: read again on the next turn, unless the frames to
  // send wait for the client (its readiness to write brings us back).
  if (!drained && out_.size() < kH2OutLimit) ctx_.reactor.again(clientWatch_);
}

std::uint64_t Connection::serveStream(std::shared_ptr<H2Channel> channel) {
  ++mitm_->requests;
  channel->wake = [&ctx = ctx_, id = id_] {
    if (Connection* c = ctx.find(id)) c->wake();
  };
  const std::uint64_t id = ctx_.newId();
  auto served = std::make_unique<Connection>(ctx_, id, *this,
                                             std::make_unique<H2StreamPipe>(std::move(channel)));
  Connection& c = *served;
  ctx_.adopt(std::move(served));
  c.startStream();
  return id;
}

void Connection::wakeStream(std::uint64_t server) {
  if (Connection* c = ctx_.find(server)) c->wake();
}

void Connection::abandonStream(std::uint64_t server) {
  if (Connection* c = ctx_.find(server)) c->abandon();
}

std::string Connection::refuseStream(int status, std::string_view why, std::string_view text) {
  ++mitm_->requests;
  ++ctx_.stats.requests;
  ++ctx_.stats.mitmRequests;
  if (status < 500) {
    ++ctx_.stats.badRequests;
  } else {
    ++ctx_.stats.upstreamErrors;
  }
  emitDecision(status < 500 ? audit::Outcome::kFailure : audit::Outcome::kError, status, why, text);
  return errorReply(status, why, mitm_->host(), text, ctx_.options.tool, true);
}

// ---- the origin connections of a client's streams ----------------------------------

bool Connection::takePooled(const std::string& key) {
  if (!pool_) return false;
  for (auto it = pool_->idle.begin(); it != pool_->idle.end();) {
    if (it->key != key) {
      ++it;
      continue;
    }
    IdleOrigin idle = std::move(*it);
    it = pool_->idle.erase(it);
    // Closed (or talking) while it waited: not used.
    char probe = 0;
    if (idle.stream->read(&probe, 1).status != IoStatus::kWouldBlock) {
      --pool_->origins[idle.key].open;
      continue;
    }
    server_ = std::move(idle.stream);
    serverOutgoing_ = std::move(idle.outgoing);
    pooledAddress_ = idle.address;
    serverWatch_.fd = server_->fd();
    serverKey_ = key;
    serverReadable_ = false;
    slotKey_ = key;  // its slot, counted while it was idle, is this stream's now
    return true;
  }
  return false;
}

bool Connection::takeOriginSlot(const std::string& key) {
  if (!pool_) return true;
  OriginPool::Origin& origin = pool_->origins[key];
  if (origin.open >= (origin.known ? kOriginConnections : 1)) {
    origin.waiting.push_back(id_);
    return false;
  }
  ++origin.open;
  slotKey_ = key;
  return true;
}

void Connection::releaseOriginSlot() {
  if (slotKey_.empty() || !pool_) return;
  std::string key = std::move(slotKey_);
  slotKey_.clear();
  --pool_->origins[key].open;
  pool_->wakeNext(ctx_, key);
}

bool Connection::retryDial() {
  if (state_ != State::kQueued || redial_) return false;
  redial_ = true;  // on the next turn (never inside another connection's call)
  wake();
  return true;
}

void Connection::OriginPool::wakeNext(ProxyContext& ctx, const std::string& key) {
  OriginPool::Origin& origin = origins[key];
  while (!origin.waiting.empty()) {
    const std::uint64_t id = origin.waiting.front();
    origin.waiting.pop_front();
    if (Connection* c = ctx.find(id); c != nullptr && c->retryDial()) return;
  }
}

void Connection::returnPooled() {
  // (A request on an HTTP/2 origin session is no connection of its own.)
  if (!pool_ || !server_ || server_->fd() < 0 || serverKey_.empty() || dialer_.busy()) return;
  ctx_.reactor.remove(serverWatch_);  // the socket stays open
  IdleOrigin idle;
  idle.key = serverKey_;
  idle.stream = std::move(server_);
  idle.outgoing = std::move(serverOutgoing_);
  idle.address = dialer_.dialled() ? dialer_.dialled() : pooledAddress_;
  serverWatch_.fd = -1;
  serverKey_.clear();
  slotKey_.clear();  // the slot stays counted: the connection is open, idle
  if (pool_->idle.size() >= kIdleOrigins) {
    --pool_->origins[pool_->idle.front().key].open;
    pool_->idle.erase(pool_->idle.begin());
  }
  const std::string key = idle.key;
  pool_->idle.push_back(std::move(idle));
  pool_->wakeNext(ctx_, key);
}

bool Connection::joinH2Origin(const std::string& key) {
  if (!pool_) return false;
  std::erase_if(pool_->sessions, [](const auto& s) { return !s->usable(); });
  for (const auto& session : pool_->sessions) {
    if (session->key() != key) continue;
    auto stream = session->open([&ctx = ctx_, id = id_] {
      if (Connection* c = ctx.find(id)) c->wake();
    });
    if (!stream) continue;
    server_ = std::move(stream);
    serverKey_ = key;
    pooledAddress_ = session->address();
    serverReadable_ = false;
    return true;
  }
  return false;
}

bool Connection::shareH2Origin() {
  ctx_.reactor.remove(serverWatch_);  // the session watches the socket from here on
  serverWatch_.fd = -1;
  auto session = std::make_shared<H2OriginSession>(ctx_.reactor, serverKey_, std::move(server_),
                                                   std::move(serverOutgoing_), dialer_.dialled());
  server_.reset();
  serverKey_.clear();
  if (!session->start()) return false;
  pool_->sessions.push_back(std::move(session));
  return true;
}

void Connection::poolOriginFirst() {
  OriginPool::Origin& origin = pool_->origins[serverKey_];
  origin.known = true;
  auto* tls = dynamic_cast<TlsStream*>(server_.get());
  if (tls != nullptr && tls->alpn() == "h2") {
    if (!shareH2Origin()) closeServer();  // (the streams dial their own)
    return;
  }
  ++origin.open;  // counted as a stream's would be, idle
  returnPooled();
}

bool Connection::startH2Origin() {
  auto* tls = dynamic_cast<TlsStream*>(server_.get());
  if (!stream_ || !pool_ || tls == nullptr || tls->alpn() != "h2") return false;
  // Shared from here on: no slot of this stream's (the streams waiting are
  // woken once the session is there to join).
  const std::string key = serverKey_;
  --pool_->origins[key].open;
  slotKey_.clear();
  if (!shareH2Origin() || !joinH2Origin(key)) return false;
  OriginPool::Origin& origin = pool_->origins[key];
  while (!origin.waiting.empty()) pool_->wakeNext(ctx_, key);
  return true;
}

}  // namespace lens::proxy
