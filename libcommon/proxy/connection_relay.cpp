// Reaching the destination (OriginDialer) and relaying to it (TunnelRelay
// for tunnels and upgrades, HttpExchange for requests), as a Connection
// runs them.
#include <algorithm>

#include "libcommon/log/logging.h"
#include "libcommon/proxy/bridge.h"
#include "libcommon/proxy/connection.h"
#include "libcommon/proxy/reply.h"
#include "libcommon/util/strings.h"

namespace lens::proxy {

namespace {

// The name a kept origin connection is found by: the route (upstream proxy
// or direct), TLS or not, the host in lower case without a final dot, the port.
std::string originKey(bool viaProxy, bool tls, std::string_view host, std::uint16_t port) {
  std::string name = util::toLower(host);
  if (!name.empty() && name.back() == '.') name.pop_back();
  return std::string(viaProxy ? "u:" : "d:") + (tls ? "tls:" : "") + name + ":" +
         std::to_string(port);
}

}  // namespace

// ---- reaching the destination ----------------------------------------------------

void Connection::dial() {
  const policy::ForwardBridge* bridge = this->bridge();
  const bool viaProxy = !bridge && decision_.transport == policy::Transport::kUpstream;
  const std::string& host = bridge ? bridge->dialHost : mitm_ ? mitm_->host() : request_->host;
  const std::uint16_t port = bridge ? bridge->dialPort : mitm_ ? mitm_->port() : request_->port;
  std::string key = originKey(viaProxy, mitm_.has_value(), host, port);
  if (bridge) {
    // A kept bridge connection serves the same name with the same identity only.
    key =
        "b:" + key + "/" + bridge->tlsServerName + "/" +
        std::to_string(std::hash<std::string>{}(bridge->certPem + bridge->keyPem + bridge->caPem));
  }
  const bool request = mitm_ || request_->kind == RequestKind::kForward;
  if (request && server_ && key == serverKey_) {
    startForward();  // reuse the origin connection of the previous request
    return;
  }
  // An HTTP/2 client's stream shares the origin connections of its client,
  // but for a WebSocket (RFC 8441): HTTP/1.1 to the origin, a connection
  // of its own for as long as the socket lives (no slot of the others').
  const bool shared = stream_ && !upgradesToWebSocket(*request_);
  if (shared && !server_ && (joinH2Origin(key) || takePooled(key))) {
    startForward();  // one an earlier stream of the same HTTP/2 client left
    return;
  }
  closeServer();
  if (shared && !takeOriginSlot(key)) {
    enter(State::kQueued);  // until one is free
    deadline_ = ctx_.now + ctx_.options.connectTimeout;
    return;
  }
  if (viaProxy && !ctx_.upstream) {
    refuse(503, reason::kNoUpstreamProxy,
           "the policy routes this through an upstream proxy and none is configured",
           ctx_.upstreamProblem);
    return;
  }
  DialTarget target;
  target.host = host;
  target.port = port;
  if (viaProxy) target.route = ctx_.upstream;
  target.check = engineRequest();
  target.engine = engine_;
  target.approved = approved();
  if (mitm_) {
    target.tls = ctx_.originTls;
    // An HTTP/2 client's stream: h2 too, a session the streams then share
    // (a WebSocket's: HTTP/1.1, the handshake RFC 6455 has).
    target.alpn = shared && !viaProxy && !bridge ? std::vector<std::string>{"h2", "http/1.1"}
                                                 : std::vector<std::string>{"http/1.1"};
  }
  if (bridge) {
    auto tls = ctx_.bridgeTls.get(*bridge, ctx_.options.originCaPem);
    if (!tls) {
      refuse(502, reason::kOriginTlsFailed, "the route's forward bridge cannot be used",
             tls.error().message);
      return;
    }
    target.tls = std::move(*tls);
    target.serverName = bridge->tlsServerName;
  }
  pendingKey_ = std::move(key);
  enter(State::kDialing);
  dialer_.start(std::move(target));
}

// Origin first (lens-proxy(1) "HTTP/2"): the client offered h2; the origin
// is asked for h2 or HTTP/1.1 before the client's handshake ends, so that
// the client is offered what the origin chose. The host is allowed outright
// (originFirst()): no request is sent before one is judged.
void Connection::askOrigin(const std::vector<std::string>& offered) {
  const auto offers = [&](std::string_view p) {
    return std::find(offered.begin(), offered.end(), p) != offered.end();
  };
  if (!offers("h2")) {  // HTTP/1.1 (or no ALPN): nothing to learn first
    findLeaf();
    return;
  }
  clientSpeaksH1_ = offers("http/1.1");
  DialTarget target;
  target.host = mitm_->host();
  target.port = mitm_->port();
  target.check = engineRequest();
  target.engine = engine_;
  target.tls = ctx_.originTls;
  target.alpn = {"h2", "http/1.1"};
  pendingKey_ = originKey(false, true, target.host, target.port);
  enter(State::kDialing);
  dialer_.start(std::move(target));
}

void Connection::originAnswered() {
  if (server_) {
    auto* tls = dynamic_cast<TlsStream*>(server_.get());
    if (tls != nullptr && tls->alpn() == "h2") {
      clientAlpn_ = {"h2", "http/1.1"};
    } else if (clientSpeaksH1_) {
      clientAlpn_ = {"http/1.1"};
    }  // else a client of h2 only: h2, translated to the origin's HTTP/1.1
    ++ctx_.stats.originFirst;
  } else {  // no answer: the first request dials again (and is told why)
    const OriginDialer::Failure& f = dialer_.failure();
    log::get("proxy")->debug("{}: origin first: {} ({}); h2 and HTTP/1.1 offered", action_,
                             f.reason, f.detail.empty() ? f.text : f.detail);
  }
  findLeaf();
}

void Connection::onDialed() {
  server_ = dialer_.takeStream();
  serverOutgoing_ = dialer_.takeOutgoing();
  serverPending_ = dialer_.takePending();
  serverKey_ = pendingKey_;
  serverReadable_ = false;
  if (mitm_ && !insideTls_) {  // origin first: dialled during the client's handshake
    originAnswered();
    return;
  }
  if (stream_ && pool_ && !upgradesToWebSocket(*request_)) {
    // The origin's protocol is known now: HTTP/2, every stream waiting joins
    // its session; HTTP/1.1, they may dial connections of their own.
    pool_->origins[serverKey_].known = true;
    auto* tls = dynamic_cast<TlsStream*>(server_.get());
    if (tls != nullptr && tls->alpn() == "h2") {
      if (!startH2Origin()) {
        refuse(502, reason::kBadResponse, "the HTTP/2 connection to the origin could not start");
        return;
      }
    } else {
      pool_->wakeNext(ctx_, serverKey_);
    }
  }
  if (mitm_ || request_->kind == RequestKind::kForward) {
    startForward();
    return;
  }
  established();
}

void Connection::dialFailed() {
  if (mitm_ && !insideTls_) {  // origin first: dialled during the client's handshake
    originAnswered();
    return;
  }
  const OriginDialer::Failure& f = dialer_.failure();
  if (f.refusal) {
    decision_ = *f.refusal;
    decided_ = true;
  }
  refuse(f.status, f.reason, f.text, f.detail);
}

void Connection::established() {
  ++ctx_.stats.allowed;
  ++ctx_.stats.tunnels;
  emitDecision(audit::Outcome::kSuccess, 200, decision_.reason, decision_.detail);
  std::string toClient;
  if (!transparent_ && !connectAnswered_) toClient = kConnectEstablished;
  toClient += serverPending_;
  serverPending_.clear();
  const std::string toServer = std::move(in_);
  in_.clear();
  startTunnel(toServer, toClient);
}

// ---- relaying -------------------------------------------------------------------------

void Connection::startTunnel(std::string_view toServer, std::string_view toClient,
                             RelayPolicer* policer) {
  enter(State::kTunnel);
  lastActive_ = ctx_.now;
  // Level-triggered epoll reports what is already waiting in the sockets;
  // a TLS stream may hold decrypted bytes epoll cannot see.
  relay_.start(toServer, toClient, !client_->plain(), !server_->plain(), policer);
}

void Connection::account(std::uint64_t up, std::uint64_t down, bool progress) {
  bytesUp_ += up;
  bytesDown_ += down;
  ctx_.stats.bytesUp += up;
  ctx_.stats.bytesDown += down;
  if (progress) lastActive_ = ctx_.now;
}

void Connection::pumpTunnel() {
  const std::uint64_t upBefore = relay_.bytesUp();
  const std::uint64_t downBefore = relay_.bytesDown();
  bool progress = false;
  const TunnelRelay::Outcome outcome = relay_.pump(*client_, *server_, progress);
  account(relay_.bytesUp() - upBefore, relay_.bytesDown() - downBefore, progress);
  if (outcome == TunnelRelay::Outcome::kRefused) {
    graphqlRefused();
  } else if (outcome == TunnelRelay::Outcome::kReset) {
    close("reset");
  } else if (outcome == TunnelRelay::Outcome::kDone) {
    close("done");
  }
}

// ---- GraphQL subscription sockets ---------------------------------------------------

Status Connection::judgeFrame(const graphql::Operation& operation) {
  auto facts = std::make_shared<decision::BodyFacts>();
  facts->kind = decision::BodyKind::kGraphql;
  facts->operations.push_back(operation);
  bodyFacts_ = std::move(facts);  // the socket's current operation, in events and rejudge()
  engine_ = ctx_.engine;
  decision_ = engine_->decide(engineRequest());
  decided_ = true;
  if (permits(decision_)) {
    emitDecision(audit::Outcome::kSuccess, 101, decision_.reason, decision_.detail);
    return Ok{};
  }
  return Error{ErrorCode::kDenied, decision_.detail};
}

void Connection::graphqlRefused() {
  ++ctx_.stats.denied;
  const Error& why = graphqlSocket_->refusal();
  emitDecision(audit::Outcome::kFailure, 403, reason::kGraphqlFrameDenied, why.message);
  log::get("proxy")->info("{}: GraphQL socket closed: {}", requestAction_, why.message);
  out_.append(graphqlSocket_->lastWords(relay_.takeUnsentToClient()));
  relay_.reset();
  closeServer();
  answered(false);
}

void Connection::startForward() {
  ++ctx_.stats.allowed;
  requestAudited_ = false;
  enter(State::kForward);
  lastActive_ = ctx_.now;
  HttpExchange::Request r;
  r.method = request_->head.method;
  r.body = request_->body;
  r.contentLength = request_->contentLength;
  r.keepAlive = request_->keepAlive && !ctx_.draining;
  r.http10 = request_->head.version == "HTTP/1.0";
  r.upgrade = upgradesToWebSocket(*request_);
  if (r.upgrade && decision_.graphqlFrames) {
    // Its frames are judged: no extension may change what they are.
    request_->head.removeHeaders("sec-websocket-extensions");
    r.plainWebSocket = true;
  }
  const policy::ForwardBridge* bridge = this->bridge();
  r.head = originFormHead(*request_, mitm_ ? 443 : 80,
                          bridge ? std::string_view(bridge->upstreamHostHeader) : "");
  if (boundary_)
    r.bodyFilter = boundary_->bodyFilter();  // an aws-chunked body, re-signed as it streams
  // Bytes the upstream proxy sent after its 200 belong to the response.
  exchange_.start(std::move(r), std::move(serverPending_));
  serverPending_.clear();
}

void Connection::pumpForward() {
  const std::uint64_t upBefore = exchange_.bytesUp();
  const std::uint64_t downBefore = exchange_.bytesDown();
  bool progress = false;
  const HttpExchange::Outcome outcome = exchange_.pump(*client_, *server_, in_, progress);
  account(exchange_.bytesUp() - upBefore, exchange_.bytesDown() - downBefore, progress);
  // The request's event goes out once its response is whole (before its
  // last bytes reach the client), with the status and the bytes.
  if (!requestAudited_ && exchange_.responseComplete()) {
    requestAudited_ = true;
    emitDecision(audit::Outcome::kSuccess, exchange_.status(), decision_.reason, decision_.detail,
                 true);
  }
  switch (outcome) {
    case HttpExchange::Outcome::kGoing:
      return;
    case HttpExchange::Outcome::kYielded:
      ctx_.reactor.again(clientWatch_);
      return;
    case HttpExchange::Outcome::kDone:
      finishExchange();
      return;
    case HttpExchange::Outcome::kUpgrade: {
      if (!requestAudited_) {
        requestAudited_ = true;
        emitDecision(audit::Outcome::kSuccess, 101, decision_.reason, decision_.detail, true);
      }
      std::string toServer;
      std::string toClient;
      std::string afterUpgrade;
      exchange_.takeUpgradeBytes(toServer, toClient, afterUpgrade);
      toServer += in_;
      in_.clear();
      if (decision_.graphqlFrames) {
        graphql::WsLimits limits;
        limits.maxMessage = ctx_.options.bodyLimits.graphql;
        graphqlSocket_ = std::make_unique<GraphqlSocket>(
            [this](const graphql::Operation& op) { return judgeFrame(op); }, limits);
        graphqlSocket_->fromServer(afterUpgrade);
      }
      startTunnel(toServer, toClient + afterUpgrade, graphqlSocket_.get());
      return;
    }
    case HttpExchange::Outcome::kRefuse: {
      const HttpExchange::Failure& f = exchange_.failure();
      refuse(f.status, f.reason, f.text, f.detail);
      return;
    }
    case HttpExchange::Outcome::kClose: {
      const bool failure = exchange_.closeReason() != "client-closed";
      if (!requestAudited_) {
        requestAudited_ = true;
        emitDecision(failure ? audit::Outcome::kError : audit::Outcome::kFailure,
                     exchange_.status(), exchange_.closeReason(), {}, true);
      }
      close(exchange_.closeReason(), failure);
      return;
    }
  }
}

void Connection::finishExchange() {
  if (!exchange_.keepServer()) closeServer();
  if (stream_) {  // an HTTP/2 stream is one request; its origin connection serves the next
    returnPooled();
    close("done");
    return;
  }
  if (!exchange_.keepClient() || !request_->keepAlive || ctx_.draining) {
    close("done");
    return;
  }
  enter(State::kHead);
  request_.reset();
  lastActive_ = ctx_.now;
  deadline_ = ctx_.now + ctx_.options.headerTimeout;
}

void Connection::closeServer() {
  releaseOriginSlot();
  dialer_.cancel();
  if (!server_) return;
  ctx_.reactor.forget(serverWatch_);  // closing the socket takes it out of epoll
  server_.reset();
  serverOutgoing_.reset();
  serverWatch_.fd = -1;
  serverKey_.clear();
  serverPending_.clear();
  serverReadable_ = false;
}

}  // namespace lens::proxy
