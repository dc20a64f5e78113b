// Interception (DESIGN.md 5a), as a Connection runs it: after CONNECT's 200
// (or a redirected ClientHello) the client's TLS is answered with a leaf
// minted off the loop, and the requests inside are read and judged like any
// other.
#include "libcommon/log/logging.h"
#include "libcommon/proxy/connection.h"
#include "libcommon/proxy/reply.h"
#include "libcommon/tls/client_hello.h"

namespace lens::proxy {

void Connection::startInterception(bool optional) {
  mitm_.emplace(request_->host, request_->port,
                transparent_ ? decision::Door::kTransparentTls : decision::Door::kConnect);
  if (!ctx_.leaves) {
    mitm_.reset();
    refuse(503, reason::kCaUnavailable,
           "the policy needs to see the requests inside this connection and no usable CA is loaded",
           ctx_.caProblem);
    return;
  }
  if (!transparent_) {
    // The answer goes out in the clear before the TLS stream takes the socket.
    const IoResult w = client_->write(kConnectEstablished.data(), kConnectEstablished.size());
    if (w.status != IoStatus::kOk || w.bytes != kConnectEstablished.size()) {
      close("client-closed");
      return;
    }
    connectAnswered_ = true;
  }
  if (optional) {  // --intercept all: only if the client speaks TLS
    enter(State::kPeekTls);
    deadline_ = ctx_.now + ctx_.options.peekTimeout;
    return;
  }
  beginClientTls();
}

void Connection::peekTls() {
  for (;;) {
    const std::optional<bool> tls = tls::looksLikeTls(in_);
    if (tls.value_or(false)) {
      beginClientTls();
      return;
    }
    if (tls) {  // not TLS: nothing to intercept, a tunnel
      mitm_.reset();
      dial();
      return;
    }
    const ClientRead r = readClient(4096);
    if (r == ClientRead::kWait) return;
    if (r == ClientRead::kEnd) {
      close("client-closed");
      return;
    }
  }
}

void Connection::beginClientTls() {
  ++ctx_.stats.allowed;
  ++ctx_.stats.intercepted;
  emitDecision(audit::Outcome::kSuccess, 200, decision_.reason, decision_.detail);
  if (originFirst()) {
    // The ClientHello first (whole already on the transparent door): what
    // does the client offer?
    helloWaitFor_ = 0;
    enter(State::kClientHello);
    deadline_ = ctx_.now + ctx_.options.headerTimeout;
    return;
  }
  findLeaf();
}

bool Connection::originFirst() const {
  return ctx_.options.http2 == Http2Mode::kOn && decision_.allowed() &&
         decision_.transport == policy::Transport::kDirect && bridge() == nullptr;
}

void Connection::findLeaf() {
  if (tls::LeafCache::Context leaf = ctx_.leaves->find(mitm_->host())) {
    acceptClientTls(std::move(leaf));
    return;
  }
  // Minted off the loop; the client's bytes meanwhile wait in in_.
  enter(State::kMinting);
  deadline_ = ctx_.now + ctx_.options.headerTimeout;
  ctx_.leaves->mint(mitm_->host(), [&ctx = ctx_, id = id_](Result<tls::LeafCache::Context> leaf) {
    if (Connection* c = ctx.find(id)) c->onLeaf(std::move(leaf));
  });
}

void Connection::onLeaf(Result<tls::LeafCache::Context> leaf) {
  if (state_ != State::kMinting) return;
  ctx_.now = Clock::now();
  if (!leaf) {
    log::get("proxy")->error("no certificate for {}: {}", mitm_->host(), leaf.error().message);
    refuse(503, reason::kCaUnavailable, "no certificate can be made for this host",
           leaf.error().message);
  } else {
    acceptClientTls(std::move(*leaf));
  }
  drive();
}

void Connection::acceptClientTls(tls::LeafCache::Context leaf) {
  client_ =
      InterceptionSession::accept(std::move(leaf), std::move(client_), std::move(in_), clientAlpn_);
  in_.clear();
  if (!client_) {  // out of memory (the socket went with the failed stream)
    close("error", true);
    return;
  }
  enter(State::kClientTls);
  deadline_ = ctx_.now + ctx_.options.headerTimeout;
  continueClientTls();
}

void Connection::continueClientTls() {
  switch (mitm_->handshake(*client_)) {
    case InterceptionSession::Handshake::kWait:
      return;
    case InterceptionSession::Handshake::kFailed:
      emitDecision(audit::Outcome::kFailure, 0, mitm_->failureReason(), mitm_->failureDetail());
      close(mitm_->failureReason(), true);
      return;
    case InterceptionSession::Handshake::kDone:
      insideTls_ = true;
      request_.reset();
      if (mitm_->alpn() == "h2") {
        startH2();
        if (server_ && state_ == State::kH2) poolOriginFirst();
        return;
      }
      if (auto* tls = dynamic_cast<TlsStream*>(server_.get()); tls && tls->alpn() == "h2")
        closeServer();  // (origin first, and the client chose HTTP/1.1 after all)
      enter(State::kHead);
      deadline_ = ctx_.now + ctx_.options.headerTimeout;
      lastActive_ = ctx_.now;
      return;
  }
}

}  // namespace lens::proxy
