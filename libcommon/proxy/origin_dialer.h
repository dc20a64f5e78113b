#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "libcommon/decision/decision.h"
#include "libcommon/decision/engine.h"
#include "libcommon/decision/request.h"
#include "libcommon/net/ip_address.h"
#include "libcommon/proxy/buffer.h"
#include "libcommon/proxy/context.h"
#include "libcommon/proxy/stream.h"

namespace lens::proxy {

// lens-tproxy: the local endpoint of one of our own dials, listed in
// ProxyContext::outgoing while the socket lives (a connection arriving from
// it is our dial redirected back: a loop). Removes itself.
class OutgoingEntry {
 public:
  OutgoingEntry() = default;
  OutgoingEntry(std::unordered_set<std::string>& set, std::string key);
  ~OutgoingEntry() { reset(); }
  OutgoingEntry(OutgoingEntry&& other) noexcept;
  OutgoingEntry& operator=(OutgoingEntry&& other) noexcept;
  OutgoingEntry(const OutgoingEntry&) = delete;
  OutgoingEntry& operator=(const OutgoingEntry&) = delete;
  void reset();

 private:
  std::unordered_set<std::string>* set_ = nullptr;
  std::string key_;
};

// Where a connection must go, and how.
struct DialTarget {
  std::string host;  // as asked: a name (resolved here) or an IP literal
  std::uint16_t port = 0;
  std::shared_ptr<const UpstreamRoute> route;  // through the upstream proxy; null: direct
  // Direct dials: every address the name resolves to is checked against the
  // safety floor and judged again with it (`check` plus the address).
  decision::Request check;
  std::shared_ptr<const decision::Engine> engine;
  // An approver allowed what the policy asks about: an address the rules
  // still ask about passes (one they deny does not).
  bool approved = false;
  // TLS to the destination once the route is open (interception); null: none.
  std::shared_ptr<TlsClientConfig> tls;
  std::vector<std::string> alpn;
  // The name sent as SNI and checked in the certificate; empty: `host` (a
  // forward bridge dials an address and names the service).
  std::string serverName;
};

// Reaches a destination for one connection: resolves the name (or the
// upstream proxy's), re-checks every address against the floor and the
// rules, dials the addresses in turn, and through an upstream proxy
// runs TLS to it (https://) and its CONNECT; then, when asked, TLS to the
// destination itself. The owner drives it from its event loop: it
// forwards the events of `watch` (the socket being dialled, registered by
// the owner with interest()), calls step() and onTick(), and takes the
// stream once stage() is kDone.
class OriginDialer {
 public:
  // `wake` is called after an asynchronous answer (the resolver's) moved
  // the dial on, so the owner drives it.
  OriginDialer(ProxyContext& ctx, Watch& watch, std::function<void()> wake);
  ~OriginDialer();
  OriginDialer(const OriginDialer&) = delete;
  OriginDialer& operator=(const OriginDialer&) = delete;

  enum class Stage : std::uint8_t {
    kIdle,
    kResolving,
    kConnecting,
    kProxyTls,    // TLS to an https:// upstream proxy
    kProxyReply,  // CONNECT sent to the upstream proxy, reading its answer
    kOriginTls,   // TLS to the destination
    kDone,
    kFailed,
  };
  void start(DialTarget target);
  [[nodiscard]] Stage stage() const { return stage_; }
  [[nodiscard]] bool busy() const {
    return stage_ != Stage::kIdle && stage_ != Stage::kDone && stage_ != Stage::kFailed;
  }

  void onEvents(std::uint32_t events);
  void step();
  void onTick();
  [[nodiscard]] std::uint32_t interest() const;
  // Drops what is being dialled (the owner closes or reuses nothing of it).
  void cancel();

  struct Failure {
    int status = 502;
    std::string_view reason;
    std::string text;
    std::string detail;
    std::optional<decision::Decision> refusal;  // the rules or the floor refused an address
  };
  [[nodiscard]] const Failure& failure() const { return failure_; }

  // After kDone.
  [[nodiscard]] std::unique_ptr<Stream> takeStream();
  [[nodiscard]] std::string takePending();  // bytes the upstream proxy sent after its 200
  [[nodiscard]] OutgoingEntry takeOutgoing() { return std::move(outgoing_); }
  [[nodiscard]] const std::optional<net::IpAddress>& dialled() const { return dialled_; }
  [[nodiscard]] const DialTarget& target() const { return target_; }

 private:
  void resolve(const std::string& name);
  void onResolved(Result<std::vector<net::IpAddress>> addresses);
  void dialNext();
  void finishConnect();
  void dialFailed(bool timedOut, const std::string& why);
  void connected();
  void continueProxyTls();
  void askUpstreamProxy();
  void readProxyReply();
  void routeOpen();
  void continueOriginTls();
  void dropSocket();
  void fail(int status, std::string_view reason, std::string text, std::string detail = {});

  ProxyContext& ctx_;
  Watch& watch_;
  std::function<void()> wake_;
  std::shared_ptr<std::uint64_t>
      alive_;  // the resolver's callback checks it (and the dial's number)
  std::uint64_t dials_ = 0;
  DialTarget target_;
  Stage stage_ = Stage::kIdle;
  Clock::time_point deadline_{};
  std::unique_ptr<Stream> stream_;
  OutgoingEntry outgoing_;
  std::vector<net::IpAddress> addresses_;
  std::size_t nextAddress_ = 0;
  std::optional<net::IpAddress> dialled_;
  bool connectTimedOut_ = false;
  bool connectEvent_ = false;  // the socket reported writable/error while connecting
  bool connectError_ = false;  // ... with EPOLLERR or EPOLLHUP
  std::string lastDialError_;
  bool inResolve_ = false;
  std::optional<Result<std::vector<net::IpAddress>>> resolved_;  // an answer given at once
  Buffer toServer_;
  std::string fromServer_;
  Failure failure_;
};

}  // namespace lens::proxy
