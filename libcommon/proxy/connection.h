#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "libcommon/approval/protocol.h"
#include "libcommon/audit/event.h"
#include "libcommon/decision/decision.h"
#include "libcommon/decision/request.h"
#include "libcommon/http/body_reader.h"
#include "libcommon/net/ip_address.h"
#include "libcommon/net/socket_address.h"
#include "libcommon/proxy/audit_events.h"
#include "libcommon/proxy/buffer.h"
#include "libcommon/proxy/context.h"
#include "libcommon/proxy/graphql_socket.h"
#include "libcommon/proxy/h2_origin.h"
#include "libcommon/proxy/h2_session.h"
#include "libcommon/proxy/http_exchange.h"
#include "libcommon/proxy/interception.h"
#include "libcommon/proxy/origin_dialer.h"
#include "libcommon/proxy/request_head.h"
#include "libcommon/proxy/tunnel_relay.h"
#include "libcommon/sign/boundary.h"
#include "libcommon/util/unique_fd.h"

namespace lens::proxy {

// One client of a proxy door, from accept to close. Every request, whatever
// carried it, goes through one pipeline (DESIGN.md 5a): parse the head →
// name agreement (inside interception) → decide (the engine) → reach the
// destination (OriginDialer: resolve, floor re-check, dial, upstream proxy,
// TLS to the origin when intercepting) → relay (HttpExchange for a request,
// TunnelRelay for a tunnel or an upgrade) → audit event.
//
// The doors:
//   - CONNECT (lens-proxy): judged by host and port; a tunnel (splice()
//     when both ends are plain sockets), or, when the decision needs to
//     see the requests (rules, credentials, tlsTerminate, --intercept all),
//     interception: 200, TLS with the client using a leaf minted from the
//     CA (InterceptionSession), then HTTP/1.1 requests read inside, each
//     judged and sent to the origin over TLS (dialled when the first
//     allowed request needs it), keep-alive, refusals answered inside TLS;
//   - an absolute-form request (lens-proxy): relayed in origin form,
//     keep-alive, each request judged;
//   - a redirected connection (lens-tproxy, startTransparent): an egress.tcp
//     rule for the original destination decides at once (raw relay or
//     refusal, nothing read); otherwise the first bytes classify it (bounded
//     in bytes and time): a TLS ClientHello (door transparent-tls, host =
//     SNI, a tunnel, or interception as for CONNECT with the ClientHello
//     fed to the TLS server), an HTTP/1 request (door transparent-http, the
//     forward path), or anything else (door raw-tcp, a tunnel).
// A name (CONNECT host, SNI, Host) is resolved and the checked addresses are
// dialled; the address a redirected client had connected to is never used.
// Refusals outside TLS end the connection with a one-line answer (a TLS
// client gets an alert, a raw one the close).
//
// HTTP/2 (connection_h2.cpp): an intercepted client that chose h2 by ALPN
// gets an H2ServerSession; each of its streams is served by a connection
// of its own whose client is the stream (H2StreamPipe), inside the same
// interception (host, SNI, caller), reading the stream's request as
// HTTP/1.1 (h2_translate.h) through the very pipeline above. Those
// connections hand their idle origin connections to the next stream of
// the same client (the pool), so the origin sees keep-alive HTTP/1.1, or
// share one HTTP/2 session to it. A WebSocket over HTTP/2 (RFC 8441) is
// the HTTP/1.1 upgrade to the pipeline, then a tunnel like any other.
// With --http2 on, an intercepted client offering h2 to a host allowed
// outright waits while the origin is dialled (askOrigin), and is offered
// the protocol the origin chose.
class Connection final : public IoHandler, private H2Host {
 public:
  Connection(ProxyContext& ctx, std::uint64_t id, util::UniqueFd fd, const sockaddr_storage& peer);
  // A connection serving one stream of `parent` (an HTTP/2 client).
  Connection(ProxyContext& ctx, std::uint64_t id, const Connection& parent,
             std::unique_ptr<Stream> stream);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  void startStream();
  // HTTP/2: the other side has news (a stream's bytes, an answer's room).
  void wake();
  // HTTP/2: the stream this connection serves ended first (reset by the
  // client, or its connection closed).
  void abandon();
  // lens-tproxy: the cage redirected this connection; `original` is where
  // the client meant to go; `loop` when that is one of our own listeners.
  void startTransparent(const net::SocketAddress& original, bool loop);
  void onIo(int fd, std::uint32_t events) override;
  // Deadlines; the context's `now` is current.
  void onTick();
  // The policy changed: a tunnel, an intercepted connection or a request the
  // new policy no longer allows is closed (audit reason policy-changed).
  void rejudge();
  // SIGTERM: a client idle between requests is closed; the rest finish.
  void drain();
  // The drain timeout passed: close now.
  void forceClose(std::string_view reason);

  [[nodiscard]] bool closed() const { return state_ == State::kClosed; }
  [[nodiscard]] std::uint64_t id() const { return id_; }

 private:
  enum class State : std::uint8_t {
    kClassify,     // transparent: reading the first bytes to tell TLS, HTTP and the rest apart
    kClientHello,  // transparent: reading the rest of a TLS ClientHello
    kHead,         // reading a request head (also inside an intercepted connection)
    kDialing,      // reaching the destination (OriginDialer)
    kPeekTls,      // --intercept all, after CONNECT's 200: does the client speak TLS?
    kIdentifying,  // waiting for the program behind the connection, found off the loop
    kApproving,    // waiting for the approval broker's answer (an ask, the credential gate)
    kMinting,      // waiting for the leaf certificate, minted off the loop
    kClientTls,    // TLS handshake with the client (interception)
    kBody,         // reading the body a GraphQL or MCP rule judges, before deciding
    kSignedBody,   // reading the body an AWS re-signature covers, before dialling
    kTunnel,       // relaying bytes both ways
    kForward,      // relaying one request and its response
    kAnswering,    // writing a refusal inside an intercepted connection, then the next request
    kH2,           // an intercepted client speaking HTTP/2: its streams are served by others
    kQueued,       // an HTTP/2 stream's request waits for one of its origin's connections
    kClosing,      // writing a final answer, then closing
    kClosed,
  };

  void enter(State next);
  void drive();
  void readEarly();
  // One read of at most `max` bytes from the client into in_. kWait: nothing
  // now (epoll will say when); kEnd: the client closed or failed.
  enum class ClientRead : std::uint8_t { kMore, kWait, kEnd };
  ClientRead readClient(std::size_t max);
  void updateInterest();

  // The request head and its decision.
  void readHead();
  void judge();
  void act();  // the decision is made: refuse, intercept, or reach the destination
  // Transparent entry.
  void classify();
  void readHello();
  void judgeTunnel(decision::Door door, std::string host);
  [[nodiscard]] decision::Request engineRequest();
  // The caller (binaries rules): identify() asks for it off the loop when
  // the policy needs it and returns true (kIdentifying until
  // onCaller()); callerChain() answers from what was found, or (a policy
  // that began to need it after the connection came) looks it up in place.
  bool identify(bool always = false);
  void onCaller(Result<net::SocketOwner> owner);
  void afterCaller();  // judges (transparent) or reads the head, once the caller is known
  void setCaller(const Result<net::SocketOwner>& owner);
  [[nodiscard]] std::optional<net::SocketAddress> callerDestination() const;
  void judgeRedirected();  // transparent: the first decision, on the original destination
  const std::vector<std::string>& callerChain();
  // Approvals (connection_approval.cpp): the policy asks for the request,
  // or the credential gate asks for a placeholder (DESIGN.md 5b). The
  // caller is found first (the prompt names it); kApproving until the
  // broker answers, then act() goes on (or the request is refused).
  [[nodiscard]] bool approved() const;
  // The decision lets the connection go on: allowed, or asked about
  // something an approver already allowed.
  [[nodiscard]] bool permits(const decision::Decision& d) const;
  [[nodiscard]] approval::Item requestItem() const;
  void askApproval(approval::Item item);
  void sendAsk();
  void onApproval(const approval::Reply& reply);
  void settleApproval(const approval::Reply& reply);
  void credentialAnswered(const approval::Reply& reply);
  void rejudgeWaiting();
  void cancelApproval();
  // The credential gate asks about the placeholder of the refusal; false
  // when it does not apply (no broker, not a placeholder, asked already).
  bool gateCredential(const sign::BoundaryRefusal& refusal);
  void refuse(int status, std::string_view reason, std::string_view text,
              std::string_view detail = {});
  // A response of the proxy's own is queued: the next request follows
  // (`keep`), or the connection closes after it.
  void answered(bool keep);
  void dial();
  // The credentials stage of a request (libcommon/sign/boundary.h): false
  // when it refused the request; kSignedBody when it waits for the body.
  // finishCredentials: true when the request goes on to the origin.
  bool exchangeCredentials();
  bool finishCredentials();
  void answerLocally(const sign::TokenAnswer& answer);
  // Inside interception: the forward bridge of the route that allowed the
  // current request (bridge.h), or null.
  [[nodiscard]] const policy::ForwardBridge* bridge() const;
  void readSignedBody();
  bool refuseCredentials();
  // Body rules (connection_body.cpp): the decision wants the body; it is
  // read whole (bounded, de-chunked, 100-continue answered), classified
  // and judged again, then act() goes on.
  void startBody();
  void readBody();
  // `read`: the body is whole at the front of in_ (else it was refused
  // before its end, and the connection cannot go on after the answer).
  void bodyJudged(decision::BodyFacts facts, bool read);
  [[nodiscard]] int refusalStatus() const;

  // Interception.
  void startInterception(bool optional);
  void peekTls();
  void beginClientTls();
  // Origin first (--http2 on): true when the origin may be dialled before
  // the client's handshake ends (the host is allowed outright, directly).
  [[nodiscard]] bool originFirst() const;
  // The ClientHello is read (`offered`: its ALPN list): a client that
  // offers h2 waits while the origin is dialled with h2 and HTTP/1.1 (the
  // only dial of an intercepted connection before its handshake is done).
  void askOrigin(const std::vector<std::string>& offered);
  void originAnswered();  // the origin connection is up (or failed): the leaf next
  void findLeaf();
  void onLeaf(Result<tls::LeafCache::Context> leaf);
  void acceptClientTls(tls::LeafCache::Context leaf);
  void continueClientTls();

  // Reaching the destination, relaying.
  void onDialed();
  void dialFailed();
  void established();
  void startTunnel(std::string_view toServer, std::string_view toClient,
                   RelayPolicer* policer = nullptr);
  // A GraphQL subscription socket (Decision::graphqlFrames): the operation
  // of one subscribe (or start) frame, judged like a request's body with
  // the handshake's head; allowed ones are audited here, a refusal when
  // the socket closes (graphqlRefused).
  Status judgeFrame(const graphql::Operation& operation);
  void graphqlRefused();
  // Bytes a relay step moved (totals and stats); `progress` resets the idle clock.
  void account(std::uint64_t up, std::uint64_t down, bool progress);
  void pumpTunnel();
  void startForward();
  void pumpForward();
  void finishExchange();
  void closeServer();

  // HTTP/2 (connection_h2.cpp).
  void startH2();
  void pumpH2();
  [[nodiscard]] bool writeH2();
  std::uint64_t serveStream(std::shared_ptr<H2Channel> channel) override;
  void wakeStream(std::uint64_t server) override;
  void abandonStream(std::uint64_t server) override;
  std::string refuseStream(int status, std::string_view reason, std::string_view text) override;
  // A stream's connection: an idle origin connection of the pool for `key`.
  bool takePooled(const std::string& key);
  void returnPooled();
  // A stream's connection: its request goes on an HTTP/2 session to the
  // origin (one the pool has for `key`, or the connection just dialled when
  // the origin chose h2).
  bool joinH2Origin(const std::string& key);
  bool startH2Origin();
  // server_ (HTTP/2 to the origin) becomes a session of the pool.
  bool shareH2Origin();
  // Origin first: the connection dialled during the handshake goes to the
  // pool the client's streams share.
  void poolOriginFirst();
  // A stream's connection holds one of the origin connections its client
  // may have per origin (counted in the pool): false when they are all in
  // use (kQueued until one is free).
  bool takeOriginSlot(const std::string& key);
  void releaseOriginSlot();

 public:
  // The pool woke a queued stream's connection: false when it is not queued.
  bool retryDial();

 private:
  // Ending.
  void flushOut();
  void close(std::string_view reason, bool failure = false);
  [[nodiscard]] DecisionFacts facts() const;
  void emitDecision(audit::Outcome outcome, int status, std::string_view reason,
                    std::string_view detail, bool withBytes = false);

  ProxyContext& ctx_;
  std::uint64_t id_;
  std::unique_ptr<Stream> client_;
  std::unique_ptr<Stream> server_;  // the destination (or the upstream proxy's tunnel to it)
  OutgoingEntry serverOutgoing_;    // lens-tproxy: server_'s local endpoint in ctx_.outgoing
  Watch clientWatch_;
  Watch serverWatch_;
  OriginDialer dialer_;
  TunnelRelay relay_;
  std::unique_ptr<GraphqlSocket> graphqlSocket_;  // the relay's policer, when it has one
  HttpExchange exchange_;
  std::optional<InterceptionSession> mitm_;
  std::optional<sign::BoundaryRequest> boundary_;         // the current request's credentials stage
  std::optional<http::BodyReader> bodyReader_;            // the body a rule judges, being read
  std::shared_ptr<const decision::BodyFacts> bodyFacts_;  // what it was, once read
  // The current request's approval.
  struct Approval {
    std::uint64_t ref = 0;                   // waiting for this ask of ctx_.approvals
    std::optional<approval::Item> item;      // what is (or is to be) asked
    std::optional<approval::Answer> answer;  // what the broker said
    std::string id;                          // the prompt's id, for the event
    std::optional<http::RawRequest> head;    // credential gate: the head before the stage
    bool gateDenied = false;                 // the credential gate refused the request
  };
  Approval approval_;
  sign::BoundaryReport credentialReport_;  // what it did, for the request's event
  std::string credentialRefused_;          // the credential of a refusal, for its event
  EventParty party_;
  net::SocketAddress peerAddress_;
  bool callerLooked_ = false;
  std::vector<std::string> callerChain_;  // empty: unknown
  State state_ = State::kHead;            // changed by enter() only
  std::uint64_t moves_ = 0;               // state changes so far
  bool transparent_ = false;
  std::size_t helloWaitFor_ = 0;  // transparent: the ClientHello parser wants this many bytes first
  bool clientReadable_ = false;   // the client reported readable since the last EAGAIN
  bool serverReadable_ = false;   // a kept origin connection said something between requests
  bool insideTls_ = false;        // interception: the client's TLS handshake is done
  bool decided_ = false;          // decision_ is the engine's answer for request_
  bool connectAnswered_ = false;  // CONNECT's 200 went out before the destination was dialled
  bool clientSpeaksH1_ = false;   // origin first: the client offered http/1.1 too
  std::vector<std::string> clientAlpn_;  // offered to the client; empty: the context's list
  decision::Door door_ = decision::Door::kConnect;  // transparent: the door it was classified to
  net::SocketAddress original_;                     // transparent: where the client meant to go
  Clock::time_point opened_;
  Clock::time_point deadline_;    // of the current wait (head, peek, handshake, closing)
  Clock::time_point lastActive_;  // bytes moved (tunnel, forward, kept-alive head)

  std::string in_;  // client bytes not yet used: head, request body, the next request
  Buffer out_;      // an answer of the proxy's own to write to the client

  std::optional<ProxyRequest> request_;
  std::shared_ptr<const decision::Engine> engine_;  // the snapshot that judged the request
  decision::Decision decision_;
  std::string action_;         // of the connection (close event)
  std::string requestAction_;  // of the request being judged (decision events)
  std::string lastMethod_;     // of the last request, for the close event
  std::string lastHost_;
  std::string serverKey_;        // what the open server connection reaches (keep-alive)
  std::string pendingKey_;       // what the connection being dialled will reach
  std::string serverPending_;    // bytes the upstream proxy sent after its 200
  bool requestAudited_ = false;  // the current request's event went out
  std::uint64_t bytesUp_ = 0;
  std::uint64_t bytesDown_ = 0;
  std::uint32_t requests_ = 0;

  // HTTP/2: the session of a client speaking it, or (stream_) the client
  // this connection serves a stream of; the idle origin connections both
  // share.
  struct IdleOrigin {
    std::string key;
    std::unique_ptr<Stream> stream;
    OutgoingEntry outgoing;
    std::optional<net::IpAddress> address;
  };
  struct OriginPool {
    std::vector<IdleOrigin> idle;                            // HTTP/1.1, one request at a time
    std::vector<std::shared_ptr<H2OriginSession>> sessions;  // HTTP/2, shared by the streams
    // Per origin: HTTP/1.1 connections open (idle, in use or being
    // dialled), whether its protocol is known, the streams waiting.
    struct Origin {
      int open = 0;
      bool known = false;
      std::deque<std::uint64_t> waiting;
    };
    std::unordered_map<std::string, Origin> origins;
    // One connection of `key` is free (or closed): the first waiting stream
    // tries again.
    void wakeNext(ProxyContext& ctx, const std::string& key);
  };
  std::unique_ptr<H2ServerSession> h2_;
  bool stream_ = false;
  std::shared_ptr<OriginPool> pool_;
  std::optional<net::IpAddress> pooledAddress_;  // where a pooled origin connection goes
  std::string slotKey_;                          // the origin slot this stream's connection holds
  bool redial_ = false;                          // kQueued: a connection is free, try again
};

}  // namespace lens::proxy
