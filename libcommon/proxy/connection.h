#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/audit/event.h"
#include "libcommon/decision/decision.h"
#include "libcommon/decision/request.h"
#include "libcommon/http/framing.h"
#include "libcommon/net/ip_address.h"
#include "libcommon/net/socket_address.h"
#include "libcommon/proxy/context.h"
#include "libcommon/proxy/request_head.h"

namespace lens::proxy {

// Bytes waiting to be written, consumed from the front.
class Buffer {
 public:
  [[nodiscard]] bool empty() const { return offset_ == data_.size(); }
  [[nodiscard]] std::size_t size() const { return data_.size() - offset_; }
  [[nodiscard]] const char* data() const { return data_.data() + offset_; }
  void append(std::string_view bytes) { data_.append(bytes); }
  void consume(std::size_t n);
  void clear();

 private:
  std::string data_;
  std::size_t offset_ = 0;
};

// One client of the explicit proxy, from accept to close: reads a request
// head (bounded in size and time), judges it with the decision engine,
// resolves and checks the destination against the safety floor, dials it
// (directly or through the upstream proxy), and then
//   - for CONNECT: answers 200 and relays the tunnel, with splice() when
//     both ends are plain sockets, or hands it to the interception stage;
//   - for an absolute-form request: sends it in origin form, relays the
//     response by its framing, and reads the next request (keep-alive),
//     which is judged on its own.
// Refusals end the connection with a one-line answer. Emits one audit event
// per decision and one when it closes.
//
// A redirected connection (lens-tproxy, startTransparent) enters before all
// that: an egress.tcp rule for the original destination decides at once
// (raw relay or refusal, nothing read); otherwise the first bytes classify
// it (bounded in bytes and time):
//   - a TLS ClientHello: door transparent-tls, the host is its SNI (the
//     original address when there is none), a tunnel as for CONNECT, the
//     ClientHello forwarded first;
//   - an HTTP/1 request line: door transparent-http, the destination from
//     the Host header, then the forward path above (keep-alive, each
//     request judged);
//   - anything else, or nothing within the peek timeout (the server speaks
//     first): door raw-tcp on the original address and port, a tunnel.
// A name (SNI, Host) is resolved and the checked addresses are dialled; the
// address the client had connected to is never used for it, so a client
// that resolved an allowed name to another address reaches the name's.
// Refusals close the connection: a TLS client gets an alert first, an HTTP
// client a 403 (or 400, 503, ...) answer, a raw one just the close.
class Connection final : public IoHandler {
 public:
  Connection(ProxyContext& ctx, std::uint64_t id, int fd, const sockaddr_storage& peer);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  // lens-tproxy: the cage redirected this connection; `original` is where
  // the client meant to go; `loop` when that is one of our own listeners.
  void startTransparent(const net::SocketAddress& original, bool loop);
  void onIo(int fd, std::uint32_t events) override;
  // Deadlines; the context's `now` is current.
  void onTick();
  // The policy changed: a relayed tunnel or request the new policy no longer
  // allows is closed (audit reason policy-changed).
  void rejudge();
  // SIGTERM: a client idle between requests is closed; the rest finish.
  void drain();
  // The drain timeout passed: close now.
  void forceClose(std::string_view reason);

  [[nodiscard]] bool closed() const { return state_ == State::kClosed; }
  [[nodiscard]] std::uint64_t id() const { return id_; }

 private:
  enum class State : std::uint8_t {
    kClassify,      // transparent: reading the first bytes to tell TLS, HTTP and the rest apart
    kClientHello,   // transparent: reading the rest of a TLS ClientHello
    kHead,          // reading a request head
    kResolving,     // waiting for the destination's (or upstream proxy's) addresses
    kConnecting,    // TCP connect in progress
    kTlsHandshake,  // TLS to an https:// upstream proxy
    kProxyReply,    // CONNECT sent to the upstream proxy, reading its answer
    kTunnel,        // relaying bytes both ways
    kForward,       // relaying one request and its response
    kClosing,       // writing a final answer, then closing
    kClosed,
  };

  // One direction of a tunnel.
  struct Flow {
    Buffer* buffer = nullptr;  // bytes to write before anything else
    Pipe pipe;
    bool srcEof = false;
    bool dstShut = false;
    bool readable = false;      // the source reported readable since the last EAGAIN
    bool writeBlocked = false;  // the destination answered EAGAIN
  };

  void drive();
  [[nodiscard]] bool waitingForServer() const;
  void readEarly();
  // One read of at most `max` bytes from the client into in_. kWait: nothing
  // now (epoll will say when); kEnd: the client closed or failed.
  enum class ClientRead : std::uint8_t { kMore, kWait, kEnd };
  ClientRead readClient(std::size_t max);
  void updateInterest();

  // Request head and decision.
  void readHead();
  void judge();
  void act();  // the decision is made: refuse, or go and reach the destination
  // Transparent entry.
  void classify();
  void readHello();
  void judgeTunnel(decision::Door door, std::string host);
  // The request for the engine, with the caller chain (looked up the first time).
  [[nodiscard]] decision::Request engineRequest();
  // The program that opened the client connection (net/socket_owner.h),
  // looked up once: its exe and its ancestors', empty when unknown.
  const std::vector<std::string>& callerChain();
  void refuse(int status, std::string_view reason, std::string_view text,
              std::string_view detail = {});
  void onDecided();

  // Reaching the destination.
  void resolve(const std::string& name, bool viaProxy);
  void onResolved(Result<std::vector<net::IpAddress>> addresses, bool viaProxy);
  void dialNext();
  void finishConnect();
  void dialFailed(bool timedOut, const std::string& why);
  void connected();
  void continueHandshake();
  void askUpstreamProxy();
  void readProxyReply();
  void established();

  // Relaying.
  void startTunnel();
  [[nodiscard]] bool pumpFlow(Flow& flow, Stream& src, Stream& dst, std::uint64_t& counter);
  void pumpTunnel();
  void startForward();
  void pumpForward();
  [[nodiscard]] bool parseResponse();
  void finishExchange();
  void closeServer();
  void dropServerSocket();
  void forgetOutgoing();  // our dial's local endpoint leaves ctx_.outgoing

  // Ending.
  void flushClosing();
  void close(std::string_view reason, bool failure = false);
  void emitDecision(audit::Outcome outcome, int status, std::string_view reason,
                    std::string_view detail);

  ProxyContext& ctx_;
  std::uint64_t id_;
  std::unique_ptr<Stream> client_;
  std::unique_ptr<Stream> server_;  // the destination, or the upstream proxy
  Watch clientWatch_;
  Watch serverWatch_;
  audit::Endpoint peer_;
  net::SocketAddress peerAddress_;
  bool callerLooked_ = false;
  std::vector<std::string> callerChain_;       // empty: unknown
  std::optional<audit::ProcessInfo> caller_;  // actor.process of the audit events
  State state_ = State::kHead;
  bool transparent_ = false;
  decision::Door door_ = decision::Door::kConnect;  // transparent: the door it was classified to
  net::SocketAddress original_;                      // transparent: where the client meant to go
  Clock::time_point opened_;
  Clock::time_point deadline_;    // of the current wait (head, connect, proxy reply, closing)
  Clock::time_point lastActive_;  // bytes moved (tunnel, forward, kept-alive head)

  std::string in_;  // client bytes not yet used: head, request body, the next request
  Buffer toServer_;
  Buffer toClient_;
  std::string
      fromServer_;  // server bytes being parsed (a response head, the upstream proxy's answer)

  std::optional<ProxyRequest> request_;
  std::shared_ptr<const decision::Engine> engine_;  // the snapshot that judged the request
  decision::Decision decision_;
  std::string action_;
  std::string lastMethod_;  // of the last request, for the close event
  std::string lastHost_;
  std::shared_ptr<const UpstreamRoute> route_;  // set when going through the upstream proxy
  std::vector<net::IpAddress> addresses_;
  std::size_t nextAddress_ = 0;
  std::optional<net::IpAddress> dialled_;
  bool connectTimedOut_ = false;
  std::string lastDialError_;
  std::string serverKey_;   // what the open server connection reaches (forward keep-alive)
  std::string outgoing_;    // transparent mode: this dial's local endpoint in ctx_.outgoing
  std::string pendingKey_;  // what the connection being dialled will reach
  bool inResolve_ = false;
  std::optional<Result<std::vector<net::IpAddress>>> resolved_;  // an answer given at once
  bool headerSeen_ = false;

  // Forward exchange.
  http::BodyTracker requestBody_;
  http::BodyTracker responseBody_;
  bool requestDone_ = false;
  bool responseHead_ = false;
  bool responseDone_ = false;
  bool serverClose_ = false;
  bool closeClientAfter_ = false;
  bool clientEof_ = false;
  bool serverEof_ = false;
  bool sentThisRequest_ = false;  // bytes of the current response went to the client

  Flow up_;    // client -> server
  Flow down_;  // server -> client
  std::uint64_t bytesUp_ = 0;
  std::uint64_t bytesDown_ = 0;
  std::uint32_t requests_ = 0;
  bool connectEvent_ = false;  // the server socket reported writable/error while connecting
  bool connectError_ = false;  // ... with EPOLLERR or EPOLLHUP
};

}  // namespace lens::proxy
