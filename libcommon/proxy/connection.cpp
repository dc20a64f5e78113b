#include "libcommon/proxy/connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "libcommon/audit/approval.h"
#include "libcommon/log/logging.h"
#include "libcommon/net/socket_address.h"
#include "libcommon/net/socket_owner.h"
#include "libcommon/proxy/reply.h"
#include "libcommon/proxy/transparent.h"
#include "libcommon/tls/client_hello.h"
#include "libcommon/util/invariant.h"
#include "libcommon/util/strings.h"
#include "libcommon/util/unique_fd.h"

namespace lens::proxy {

namespace {

constexpr std::size_t kBufferLimit =
    256 * 1024;  // client bytes kept while the destination is being reached
constexpr auto kLinger = std::chrono::seconds(2);  // reading (and dropping) after a final answer
// State changes per turn: pipelined requests (each a few, a refusal kept
// alive two) all go before epoll is asked again, within reason.
constexpr int kDriveRounds = 4096;

std::string_view pathOnly(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace

Connection::Connection(ProxyContext& ctx, std::uint64_t id, util::UniqueFd fd,
                       const sockaddr_storage& peer)
    : ctx_(ctx),
      id_(id),
      clientWatch_{this, fd.get()},
      serverWatch_{this, -1},
      dialer_(ctx, serverWatch_, [this] { drive(); }),
      relay_(ctx.pipes),
      exchange_(ctx.pipes),
      opened_(ctx.now),
      lastActive_(ctx.now) {
  client_ = std::make_unique<SocketStream>(std::move(fd));
  peerAddress_ = net::SocketAddress::fromStorage(peer);
  party_.tool = ctx_.options.tool;
  party_.peer = {peerAddress_.address().toString(), peerAddress_.port()};
}

Connection::~Connection() {
  ctx_.reactor.remove(clientWatch_);
  ctx_.reactor.remove(serverWatch_);
}

void Connection::start() {
  ++ctx_.stats.open;
  deadline_ = ctx_.now + ctx_.options.headerTimeout;
  if (!identify()) drive();
}

void Connection::startTransparent(const net::SocketAddress& original, bool loop) {
  ++ctx_.stats.open;
  transparent_ = true;
  original_ = original;
  action_ = "TRANSPARENT " + original.toString();
  requestAction_ = action_;
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
  deadline_ = ctx_.now + ctx_.options.headerTimeout;
  if (!identify()) judgeRedirected();
}

void Connection::judgeRedirected() {
  const std::string ip = original_.address().toString();
  // An egress.tcp rule for the original destination, or the safety floor,
  // decides before anything is read: the relay stays raw (a database that
  // speaks TLS keeps working) and a server that speaks first is not kept
  // waiting for the peek.
  decision::Request raw;
  raw.door = decision::Door::kRawTcp;
  raw.host = ip;
  raw.address = original_.address();
  raw.port = original_.port();
  if (ctx_.engine->needsCaller()) raw.callerChain = callerChain();
  const decision::Decision d = ctx_.engine->decide(raw);
  if (d.reason == decision::reason::kBlockedDestination ||
      (d.rule && d.rule->table == decision::Table::kTcp)) {
    ++ctx_.stats.classifiedRaw;
    judgeTunnel(decision::Door::kRawTcp, ip);
  } else {
    enter(State::kClassify);
    deadline_ = ctx_.now + ctx_.options.peekTimeout;
  }
  drive();
}

// ---- events -----------------------------------------------------------------

void Connection::onIo(int fd, std::uint32_t events) {
  if (state_ == State::kClosed) return;
  const bool readable = (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0;
  if (fd == clientWatch_.fd) {
    clientReadable_ = clientReadable_ || readable;
    relay_.onClient(events);
  } else if (fd == serverWatch_.fd) {
    if (dialer_.busy()) dialer_.onEvents(events);
    serverReadable_ = serverReadable_ || readable;
    relay_.onServer(events);
  }
  drive();
}

void Connection::enter(State next) {
  state_ = next;
  ++moves_;
}

void Connection::drive() {
  int round = 0;
  for (; round < kDriveRounds && state_ != State::kClosed; ++round) {
    // Counted, not compared: a round may come back to the state it began
    // in (a CONNECT read in kHead, the handshake done at once, kHead again
    // with the request already inside the TLS stream) and that is a move.
    const std::uint64_t before = moves_;
    if ((state_ == State::kDialing || state_ == State::kMinting || state_ == State::kIdentifying ||
         state_ == State::kApproving) &&
        clientReadable_) {
      readEarly();
    }
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
      case State::kDialing:
        dialer_.step();
        if (dialer_.stage() == OriginDialer::Stage::kDone) {
          onDialed();
        } else if (dialer_.stage() == OriginDialer::Stage::kFailed) {
          dialFailed();
        }
        break;
      case State::kPeekTls:
        peekTls();
        break;
      case State::kIdentifying:
      case State::kApproving:
      case State::kMinting:
        break;
      case State::kClientTls:
        continueClientTls();
        break;
      case State::kBody:
        readBody();
        break;
      case State::kSignedBody:
        readSignedBody();
        break;
      case State::kTunnel:
        pumpTunnel();
        break;
      case State::kForward:
        pumpForward();
        break;
      case State::kH2:
        pumpH2();
        break;
      case State::kQueued:
        if (redial_) {
          redial_ = false;
          dial();
        }
        break;
      case State::kAnswering:
      case State::kClosing:
        flushOut();
        break;
      case State::kClosed:
        break;
    }
    if (moves_ == before) break;
  }
  if (state_ == State::kClosed) return;
  if (round == kDriveRounds) ctx_.reactor.again(clientWatch_);  // the rest on the next turn
  updateInterest();
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
    clientReadable_ = false;
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
    case State::kPeekTls:
      clientEvents = EPOLLIN;
      break;
    case State::kHead:
      clientEvents = EPOLLIN;
      if (server_) serverEvents = EPOLLIN;  // a kept origin connection: notice when it closes
      break;
    case State::kDialing:
      clientEvents = in_.size() < kBufferLimit ? std::uint32_t{EPOLLIN} : 0u;
      serverEvents = dialer_.interest();
      break;
    case State::kIdentifying:
    case State::kApproving:
    case State::kMinting:
      clientEvents = in_.size() < kBufferLimit ? std::uint32_t{EPOLLIN} : 0u;
      break;
    case State::kClientTls:
      clientEvents = client_->blockedOnWrite() ? EPOLLOUT : EPOLLIN;
      break;
    case State::kBody:
      clientEvents = out_.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT;  // a 100 Continue to write
      break;
    case State::kSignedBody:
      clientEvents = EPOLLIN;
      break;
    case State::kTunnel:
      relay_.interest(*server_, clientEvents, serverEvents);
      break;
    case State::kForward:
      exchange_.interest(*server_, clientEvents, serverEvents);
      break;
    case State::kH2:
      clientEvents = out_.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT;
      break;
    case State::kQueued:
      break;
    case State::kAnswering:
    case State::kClosing:
      clientEvents = out_.empty() ? EPOLLIN : EPOLLOUT;
      break;
    case State::kClosed:
      return;
  }
  // A TLS client may need the other readiness to go on.
  if (client_->blockedOnWrite()) clientEvents |= EPOLLOUT;
  if (client_->blockedOnRead()) clientEvents |= EPOLLIN;
  // (A stream's connection has no socket to the client: the session wakes it.)
  if (auto ok = stream_ ? Status{Ok{}} : ctx_.reactor.set(clientWatch_, clientEvents); !ok) {
    close("error", true);
    return;
  }
  if (serverWatch_.fd >= 0) {
    if (auto ok = ctx_.reactor.set(serverWatch_, serverEvents); !ok) close("error", true);
  }
}

void Connection::onTick() {
  if (state_ == State::kClosed) return;
  const auto now = ctx_.now;
  const bool idle = now - lastActive_ >= ctx_.options.idleTimeout;
  const bool due = now >= deadline_;
  const State before = state_;
  const Clock::time_point deadlineBefore = deadline_;
  bool moved = false;
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
      if (due && mitm_) {  // interception, origin first
        emitDecision(audit::Outcome::kFailure, 0, reason::kTlsHandshakeTimeout,
                     "the client's TLS handshake did not finish in time");
        close(reason::kTlsHandshakeTimeout, true);
      } else if (due) {
        refuse(408, reason::kHeaderTimeout, "the TLS ClientHello did not arrive in time");
      }
      break;
    case State::kHead:
      if (requests_ > 0 && in_.empty()) {
        if (idle) close(reason::kIdleTimeout);
      } else if (due) {
        refuse(408, reason::kHeaderTimeout, "the request head did not arrive in time");
      }
      break;
    case State::kDialing: {
      const auto stage = dialer_.stage();
      dialer_.onTick();
      moved = dialer_.stage() != stage;
      break;
    }
    case State::kPeekTls:
      if (due) {  // a client that waits for the server: not TLS
        mitm_.reset();
        dial();
      }
      break;
    case State::kIdentifying:
      if (due) {  // the lookups are backed up: judged as an unknown caller
        log::get("proxy")->warn("connection {} from {}: the caller was not found in time", id_,
                                peerAddress_.toString());
        setCaller(Error{ErrorCode::kNotFound, "not found in time"});
        afterCaller();
      }
      break;
    case State::kApproving:
      if (due) {  // the broker did not answer in time (its own timeout is shorter)
        cancelApproval();
        refuse(403, audit::approval_reason::kTimeout, "nobody approved the request in time",
               "the proxy's --approval-timeout passed");
      }
      break;
    case State::kMinting:
    case State::kClientTls:
      if (due) {
        emitDecision(audit::Outcome::kFailure, 0, reason::kTlsHandshakeTimeout,
                     "the client's TLS handshake did not finish in time");
        close(reason::kTlsHandshakeTimeout, true);
      }
      break;
    case State::kBody:
      if (due) refuse(408, reason::kHeaderTimeout, "the request body did not arrive in time");
      break;
    case State::kSignedBody:
      if (due) refuse(408, reason::kHeaderTimeout, "the signed body did not arrive in time");
      break;
    case State::kTunnel:
      if (idle) close(reason::kIdleTimeout);
      break;
    case State::kForward:
      if (idle && !exchange_.answered()) {
        refuse(504, reason::kResponseTimeout, "the server did not answer in time");
      } else if (idle) {
        close(reason::kIdleTimeout);
      }
      break;
    case State::kQueued:
      if (due) {
        refuse(504, reason::kConnectTimeout,
               "no connection to the server became free in time (HTTP/2 streams share them)");
      }
      break;
    case State::kH2:
      if (idle && h2_->openStreams() == 0) {
        h2_->shutdown();
        close(reason::kIdleTimeout);
      }
      break;
    case State::kAnswering:
    case State::kClosing:
      if (due) close("refused");
      break;
    case State::kClosed:
      break;
  }
  // A timeout that produced an answer (or a connect to the next address)
  // needs the loop to write it (or to watch the new socket).
  if (state_ != State::kClosed && (moved || state_ != before || deadline_ != deadlineBefore))
    drive();
}

// ---- the request head and its decision ----------------------------------------

void Connection::readHead() {
  if (server_ && serverReadable_) {
    // A kept origin connection said something (or closed) between requests.
    // (A TLS origin's session tickets are read here and are not data.)
    char scratch[512];
    const IoResult r = server_->read(scratch, sizeof scratch);
    if (r.status != IoStatus::kWouldBlock) closeServer();
    serverReadable_ = false;
  }
  const std::size_t limit = ctx_.options.maxHeaderBytes;
  for (;;) {
    if (auto end = http::findHeadEnd(in_)) {
      if (*end > limit) break;
      judge();
      return;
    }
    if (in_.size() > limit) break;
    char chunk[16 * 1024];
    const std::size_t room = std::min(sizeof chunk, limit + 1 - in_.size());
    const IoResult r = client_->read(chunk, room);
    if (r.status == IoStatus::kWouldBlock) {
      clientReadable_ = false;
      return;
    }
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

decision::Request Connection::engineRequest() {
  decision::Request r;
  if (mitm_ && insideTls_) {
    r = request_ && request_->kind == RequestKind::kForward ? mitm_->engineRequest(*request_)
                                                            : mitm_->tunnelRequest();
  } else if (transparent_) {
    r.door = door_;
    r.host = request_->host;
    r.port = request_->port;
    if (door_ == decision::Door::kRawTcp) r.address = original_.address();
    if (door_ == decision::Door::kTransparentHttp) {
      r.method = request_->head.method;
      r.path = request_->originTarget;
    }
  } else {
    r.door = request_->kind == RequestKind::kConnect ? decision::Door::kConnect
                                                     : decision::Door::kForward;
    r.host = request_->host;
    r.port = request_->port;
    if (request_->kind == RequestKind::kForward) {
      r.method = request_->head.method;
      r.path = request_->originTarget;
    }
  }
  if (!r.method.empty()) {
    r.upgrade = upgradesToWebSocket(*request_);
    r.body = bodyFacts_;
  }
  // Looked up (and audited) only when some rule names binaries: the lookup
  // reads every process's descriptor table.
  if (ctx_.engine && ctx_.engine->needsCaller()) r.callerChain = callerChain();
  return r;
}

void Connection::judge() {
  const std::optional<std::size_t> headEnd = http::findHeadEnd(in_);
  LENS_INVARIANT(headEnd.has_value(), "a request is judged once its head is whole");
  const std::size_t end = *headEnd;
  clientReadable_ = false;  // readHead read until the head was complete; epoll says if more came
  ++ctx_.stats.requests;
  ++requests_;
  decided_ = false;
  // Nothing of the previous request's credentials stage reaches this one's event.
  boundary_.reset();
  credentialReport_ = {};
  credentialRefused_.clear();
  approval_ = {};
  bodyReader_.reset();
  bodyFacts_.reset();
  const std::string_view head = std::string_view(in_).substr(0, end);
  auto parsed = mitm_          ? parseTransparentRequest(head, mitm_->port())
                : transparent_ ? parseTransparentRequest(head, original_.port())
                               : parseProxyRequest(head);
  if (mitm_) {
    ++mitm_->requests;
    ++ctx_.stats.mitmRequests;
  }
  if (!parsed) {
    if (!transparent_ && !mitm_) action_ = "HTTP request";
    if (!mitm_) requestAction_ = action_;
    request_.reset();
    const ErrorCode code = parsed.error().code;
    const bool tooMany = code == ErrorCode::kLimit;
    std::string_view why = tooMany ? reason::kHeaderTooLarge : reason::kBadRequest;
    if (code == ErrorCode::kDenied)
      why = mitm_ ? reason::kBadRequest : reason::kHttpConnectOnTransparent;
    if (code == ErrorCode::kNotFound) why = reason::kHttpNoHost;
    refuse(tooMany ? 431 : 400, why, parsed.error().message);
    return;
  }
  request_ = std::move(*parsed);
  in_.erase(0, end);
  if (mitm_) {
    requestAction_ = mitm_->action(*request_);
    if (auto why = mitm_->disagreement(*request_)) {
      ++ctx_.stats.hostMismatches;
      refuse(421, reason::kHostMismatch, "the request names another host than its connection",
             *why);
      return;
    }
  } else {
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
                std::string(pathOnly(request_->originTarget));
    }
    requestAction_ = action_;
  }
  engine_ = ctx_.engine;
  decision_ = engine_->decide(engineRequest());
  decided_ = true;
  if (decision_.body != decision::BodyKind::kNone) {
    startBody();
    return;
  }
  act();
}

void Connection::act() {
  if (decision_.reason == decision::reason::kNoPolicy) {
    refuse(503, decision_.reason, "no valid policy is loaded yet", decision_.detail);
    return;
  }
  // A TLS door: CONNECT, or a redirected ClientHello. --intercept all
  // intercepts it even when the policy has nothing to see inside, but never
  // what an egress.tcp rule opened.
  const bool tlsDoor = transparent_ ? door_ == decision::Door::kTransparentTls
                                    : request_->kind == RequestKind::kConnect;
  const bool tcpRule = decision_.rule && decision_.rule->table == decision::Table::kTcp;
  const bool intercept = tlsDoor && !tcpRule && (decision_.intercept || ctx_.options.interceptAll);
  if (decision_.verdict == policy::Verdict::kAsk && !approved() && (!intercept || mitm_)) {
    // (An intercepted connection is not asked about: each request inside is.)
    askApproval(requestItem());
    return;
  }
  if (!decision_.allowed() && decision_.verdict != policy::Verdict::kAsk) {
    refuse(refusalStatus(), decision_.reason, "refused by policy", decision_.detail);
    return;
  }
  if (mitm_) {  // a request inside an intercepted connection
    if (exchangeCredentials() && state_ != State::kSignedBody) dial();
    return;
  }
  if (request_->kind == RequestKind::kForward && engine_->policy()) {
    // Plain HTTP: no secret is injected in the clear, and no placeholder
    // leaves either.
    if (auto id = sign::placeholderIn(*engine_->policy(), request_->head)) {
      credentialRefused_ = *id;
      refuse(403, sign::reason::kPlaceholderLeak,
             "the request carries a credential placeholder, and plain HTTP never gets credentials");
      return;
    }
  }
  if (intercept) {
    startInterception(!decision_.intercept && !transparent_);
    return;
  }
  dial();
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
  // Inside an intercepted connection a refusal leaves the connection usable
  // when nothing of the request is left unread (no body) and the client
  // keeps it.
  const bool midExchange = state_ == State::kForward;
  const bool keep = insideTls_ && request_ && request_->kind == RequestKind::kForward &&
                    request_->body == http::Framing::kNone && request_->keepAlive &&
                    !ctx_.draining && (!midExchange || !exchange_.answered());
  const bool tlsExpected =
      connectAnswered_ && !insideTls_;  // after CONNECT's 200: the client speaks TLS
  if (!tlsExpected && (!transparent_ || door_ == decision::Door::kTransparentHttp || insideTls_)) {
    out_.append(errorReply(status, why, subject, text, ctx_.options.tool, keep));
  } else if (tlsExpected || door_ == decision::Door::kTransparentTls) {
    out_.append(tlsAlertRecord(status == 403  ? TlsAlert::kAccessDenied
                               : status < 500 ? TlsAlert::kDecodeError
                                              : TlsAlert::kInternalError));
  }  // raw: the close says it
  const bool failure = status == 403 || status < 500;
  emitDecision(failure ? audit::Outcome::kFailure : audit::Outcome::kError, status, why,
               detail.empty() ? text : detail);
  dialer_.cancel();
  if (midExchange || !keep) closeServer();
  answered(keep);
}

void Connection::answered(bool keep) {
  if (keep) {
    enter(State::kAnswering);
  } else {
    enter(State::kClosing);
    deadline_ = ctx_.now + kLinger;
  }
}

// ---- the transparent entry ---------------------------------------------------------

void Connection::classify() {
  for (;;) {
    const std::optional<bool> tls = tls::looksLikeTls(in_);
    const std::optional<bool> http = looksLikeHttp(in_);
    if (tls.value_or(false)) {
      ++ctx_.stats.classifiedTls;
      door_ = decision::Door::kTransparentTls;
      enter(State::kClientHello);
      deadline_ = ctx_.now + ctx_.options.headerTimeout;
      return;
    }
    if (http.value_or(false)) {
      ++ctx_.stats.classifiedHttp;
      door_ = decision::Door::kTransparentHttp;
      enter(State::kHead);
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
    if (in_.size() < helloWaitFor_) {  // nothing the parser could use yet
      const ClientRead r = readClient(std::max<std::size_t>(helloWaitFor_ - in_.size(), 4096));
      if (r == ClientRead::kWait) return;
      if (r == ClientRead::kEnd) {
        close("client-closed-mid-hello", true);
        return;
      }
      continue;
    }
    const tls::HelloResult hello = tls::parseClientHello(in_, limits);
    helloWaitFor_ = hello.waitFor;
    if (mitm_ && hello.status != tls::HelloStatus::kNeedMore) {
      // Interception, origin first: what the client offers. A ClientHello
      // this parser does not take is the TLS server's to judge.
      if (hello.status == tls::HelloStatus::kComplete) {
        askOrigin(hello.hello.alpn);
      } else {
        findLeaf();
      }
      return;
    }
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
        refuse(431, reason::kTlsClientHelloTooLarge, "the TLS ClientHello is too large",
               hello.error);
        return;
      case tls::HelloStatus::kNeedMore:
        break;
    }
    // Records of a single byte cost five more: a ClientHello within the
    // limit fits in this many bytes, whatever its records.
    if (in_.size() > 6 * ctx_.options.maxClientHello) {
      if (mitm_) {
        findLeaf();
        return;
      }
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
  clientReadable_ = false;
  approval_ = {};
  ++ctx_.stats.requests;
  ++requests_;
  engine_ = ctx_.engine;
  decision_ = engine_->decide(engineRequest());
  decided_ = true;
  act();
}

// ---- ending -------------------------------------------------------------------------

void Connection::flushOut() {
  while (!out_.empty()) {
    const IoResult w = client_->write(out_.data(), out_.size());
    if (w.status == IoStatus::kWouldBlock) return;
    if (w.status != IoStatus::kOk) {
      close("refused");
      return;
    }
    out_.consume(w.bytes);
  }
  if (stream_) {  // an HTTP/2 stream is one request: nothing to linger for
    returnPooled();
    close("done");
    return;
  }
  if (state_ == State::kAnswering) {  // the connection goes on: the next request
    enter(State::kHead);
    request_.reset();
    lastActive_ = ctx_.now;
    deadline_ = ctx_.now + ctx_.options.headerTimeout;
    return;
  }
  // Lingering close: stop sending, and read what the client still sends
  // for a moment, so that its unread request does not reset the answer.
  client_->shutdownWrite();
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
  if (state_ == State::kClosed) return;
  if (state_ == State::kApproving) {
    rejudgeWaiting();
    return;
  }
  decision::Request r;
  if (mitm_ && insideTls_) {
    r = engineRequest();  // the request in flight, or the connection between requests
  } else {
    const bool going = state_ == State::kTunnel || state_ == State::kForward ||
                       state_ == State::kDialing || state_ == State::kClientTls ||
                       state_ == State::kMinting || state_ == State::kPeekTls ||
                       state_ == State::kSignedBody || state_ == State::kH2 ||
                       state_ == State::kQueued || (state_ == State::kClientHello && mitm_);
    if (!request_ || !going) return;
    r = engineRequest();
  }
  decision::Decision d = ctx_.engine->decide(r);
  if (d.allowed() && server_ && dialer_.dialled() && !dialer_.target().route) {
    r.address = dialer_.dialled();
    d = ctx_.engine->decide(r);
  }
  // A spliced tunnel cannot start showing its requests: one the new policy
  // wants to see is closed. An intercepted one is seen already.
  // What an approver allowed stays allowed while the policy still asks.
  const bool stillAllowed = permits(d) && (mitm_ || !d.intercept);
  if (stillAllowed) return;
  ++ctx_.stats.closedByPolicy;
  log::get("proxy")->info("{}: closed, the new policy no longer allows it ({})",
                          requestAction_.empty() ? action_ : requestAction_, d.reason);
  engine_ = ctx_.engine;  // what decided_ now refers to
  decision_ = std::move(d);
  decided_ = true;
  close(reason::kPolicyChanged, true);
}

void Connection::drain() {
  if (state_ == State::kHead && in_.empty()) close("shutdown");
  if (state_ == State::kH2) {  // GOAWAY: the streams begun finish
    h2_->shutdown();
    drive();
  }
}

void Connection::forceClose(std::string_view why) {
  if (state_ == State::kClosed) return;
  ++ctx_.stats.closedByDrain;
  close(why, true);
}

void Connection::close(std::string_view why, bool failure) {
  if (state_ == State::kClosed) return;
  cancelApproval();
  enter(State::kClosed);
  if (stream_) {
    --ctx_.stats.h2Streams;
    releaseOriginSlot();
  } else {
    --ctx_.stats.open;
  }
  if (h2_) {
    // Its streams' connections go with it.
    for (std::uint64_t id : h2_->servers()) {
      if (Connection* c = ctx_.find(id)) c->abandon();
    }
    h2_.reset();
    --ctx_.stats.h2Connections;
  }
  // A stream's connection is accounted for by its client's (except the
  // policy closing it: that names the request).
  const bool ownEvent = !stream_ || why == reason::kPolicyChanged;
  if (ctx_.options.sink && requests_ > 0 && !action_.empty() && ownEvent) {
    CloseFacts f;
    f.action = action_;
    f.method = lastMethod_;
    f.host = lastHost_;
    f.reason = why;
    f.failure = failure;
    f.mitm = mitm_.has_value();
    f.bytesUp = bytesUp_;
    f.bytesDown = bytesDown_;
    f.durationMs =
        std::chrono::duration_cast<std::chrono::milliseconds>(ctx_.now - opened_).count();
    f.requests = mitm_ ? mitm_->requests : requests_;
    if (why == reason::kPolicyChanged) {
      f.decision = &decision_;
      f.engine = ctx_.engine.get();
    }
    (void)ctx_.options.sink->write(closeEvent(party_, f));
  }
  // A TLS client learns that the stream ended here and was not cut (a
  // body delimited by the close is whole only with close_notify).
  if (insideTls_ && client_) client_->shutdownWrite();
  ctx_.reactor.forget(clientWatch_);  // the sockets are closed just below
  ctx_.reactor.forget(serverWatch_);
  dialer_.cancel();
  relay_.reset();
  serverOutgoing_.reset();
  server_.reset();
  client_.reset();
  ctx_.release(id_);
}

DecisionFacts Connection::facts() const {
  DecisionFacts f;
  f.action = requestAction_.empty() ? std::string_view(action_) : std::string_view(requestAction_);
  if (f.action.empty()) f.action = "HTTP request";
  const bool inner = mitm_ && request_ && request_->kind == RequestKind::kForward;
  if (inner) {
    f.method = request_->head.method;
    f.host = request_->host;
    f.path = pathOnly(request_->originTarget);
    f.door = decision::toString(mitm_->door());
  } else if (transparent_) {
    const bool http = door_ == decision::Door::kTransparentHttp;
    if (request_ && http) f.method = request_->head.method;
    if (request_ && door_ != decision::Door::kRawTcp) f.host = request_->host;
    if (request_ && http) f.path = pathOnly(request_->originTarget);
    f.door = decision::toString(door_);
  } else if (request_) {
    f.method = request_->head.method;
    f.host = request_->host;
    if (request_->kind == RequestKind::kForward) f.path = pathOnly(request_->originTarget);
    f.door = request_->kind == RequestKind::kConnect ? "connect" : "forward";
  }
  f.mitm = mitm_.has_value();
  if (request_) {
    f.credentials = &credentialReport_;
    f.credentialRefused = credentialRefused_;
  }
  if (decided_ && engine_ && request_) {
    f.decision = &decision_;
    f.engine = engine_.get();
  }
  f.address = dialer_.dialled() ? dialer_.dialled() : pooledAddress_;
  f.route = dialer_.target().route.get();
  if (f.decision && bridge()) f.bridge = true;
  f.approved = approved();
  f.approvalId = approval_.id;
  f.credentialGateDenied = approval_.gateDenied;
  f.body = bodyFacts_.get();
  return f;
}

void Connection::emitDecision(audit::Outcome outcome, int status, std::string_view why,
                              std::string_view detail, bool withBytes) {
  if (!ctx_.options.sink) return;
  DecisionFacts f = facts();
  // An approved request goes out as what the approver said.
  if (f.approved && why == decision_.reason) why = approval::auditReason(*approval_.answer);
  if (withBytes) {
    f.bytesUp = exchange_.bytesUp();
    f.bytesDown = exchange_.bytesDown();
  }
  (void)ctx_.options.sink->write(decisionEvent(party_, f, outcome, status, why, detail));
}

}  // namespace lens::proxy
