#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "libcommon/audit/sink.h"
#include "libcommon/decision/engine.h"
#include "libcommon/decision/engine_handoff.h"
#include "libcommon/dns/cache.h"
#include "libcommon/dns/message.h"
#include "libcommon/lockdown/pinner.h"
#include "libcommon/net/resolver.h"
#include "libcommon/util/result.h"
#include "libcommon/util/unique_fd.h"

namespace lens::dns {

struct ServerOptions {
  std::vector<std::string> listen;  // "ADDRESS:PORT" / "[IPV6]:PORT", UDP and TCP each
  // Listen addresses that may fail to bind with only a warning (the default
  // [::1] on a host without IPv6).
  std::vector<std::string> optionalListen;
  net::Resolver::Options upstream;
  Cache::Limits cache;
  std::size_t maxInflight =
      1024;  // queries waiting for the upstream (sent or queued); beyond: SERVFAIL
  // Queries sent upstream at once; more wait in order. A burst sent whole
  // overflows a local upstream's receive queue and costs a retry timeout.
  std::size_t upstreamWindow = 128;
  std::size_t maxTcpConnections = 256;  // beyond: closed at once
  std::chrono::milliseconds tcpIdle{10000};
  bool allowHttpsRr = false;
  bool noAaaa = false;
  bool pinning = true;
  std::vector<std::string> bootstrapHosts;  // always resolve (normalised names)
  std::uint32_t mark = 0x4E585553;
  audit::Sink* sink = nullptr;  // may be null
};

struct Stats {
  std::uint64_t queries = 0;
  std::uint64_t allowed = 0;
  std::uint64_t denied = 0;
  std::uint64_t forwarded = 0;
  std::uint64_t cacheHits = 0;
  std::uint64_t upstreamFailures = 0;
  std::uint64_t upstreamQueued = 0;  // waited for a place in the upstream window
  std::uint64_t queuedExpired =
      0;  // answered without going upstream: waited too long, or now denied
  std::uint64_t droppedMalformed = 0;
  std::uint64_t overflow = 0;           // answered SERVFAIL: too many in flight
  std::uint64_t truncated = 0;          // answered with TC over UDP
  std::uint64_t suppressedRecords = 0;  // HTTPS/SVCB, ANY, AAAA answered by lens-dns itself
  std::uint64_t tcpConnections = 0;
  std::uint64_t pinned = 0;  // set elements written
  std::uint64_t pinFailures = 0;
  std::uint64_t auditSuppressed = 0;  // repeated allow events folded
  std::size_t cacheEntries = 0;
  std::size_t cacheBytes = 0;
};
std::string statsJson(const Stats& stats);

// lens-dns's event loop: UDP and TCP listeners, the policy decision for each
// name, the cache, c-ares for upstream queries and the pins. One thread; the
// policy is swapped in from any thread with setEngine().
class Server {
 public:
  static Result<std::unique_ptr<Server>> create(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Thread-safe: the next query is decided with this engine.
  void setEngine(std::shared_ptr<const decision::Engine> engine);
  // Runs until SIGTERM or SIGINT (taken through a signalfd: block them in
  // every thread first) or stop(). SIGUSR1 prints the statistics on stderr.
  Status run();
  // Thread-safe.
  void stop();
  // From the loop's thread (or after run() returned).
  [[nodiscard]] Stats stats() const;
  // The addresses actually bound (with the kernel's ports for port 0).
  [[nodiscard]] const std::vector<std::string>& boundAddresses() const { return bound_; }
  [[nodiscard]] std::string upstreamServers() const { return upstream_->describeServers(); }

 private:
  struct Origin {
    int udpFd = -1;
    sockaddr_storage peer{};
    socklen_t peerLength = 0;
    std::uint64_t tcpConnection = 0;  // 0 = UDP
  };
  struct TcpConnection;
  struct Watch;
  enum class Outcome { kRespond, kPending, kDrop };

  explicit Server(ServerOptions options);
  Status bindAll();
  Status addWatch(int fd, std::uint32_t events, Watch* watch);
  Outcome handle(std::span<const std::uint8_t> wire, const Origin& origin,
                 std::vector<std::uint8_t>& out);
  // A query on its way upstream: sent now, or queued while the window is full.
  struct Forward {
    std::vector<std::uint8_t> wire;
    Query query;
    Origin origin;
    Cache::Memo verdict;
    Cache::Clock::time_point queued{};  // when it began to wait for the window
  };
  void forward(std::span<const std::uint8_t> wire, const Query& query, const Origin& origin,
               Cache::Memo verdict);
  void send(Forward f);
  // As many queued queries as the window has room for: one that waited
  // longer than a sent query may take is answered SERVFAIL, one the policy
  // no longer allows NXDOMAIN, without going upstream.
  void sendQueued();
  void onAnswer(const Result<std::span<const std::uint8_t>>& answer,
                const std::vector<std::uint8_t>& queryWire, const Query& query,
                const Origin& origin, Cache::Memo verdict);
  // The policy's decision for the query's name under the current generation.
  Cache::Memo decide(const Query& query) const;
  void audit(const Query& query, const Origin& origin, const Cache::Memo& verdict);
  void pin(const Cache::Memo& verdict, const std::vector<net::IpAddress>& addresses,
           std::uint32_t ttl);
  void finish(const Query& query, const Origin& origin, std::vector<std::uint8_t>& out);
  void deliver(const Origin& origin, std::span<const std::uint8_t> out);
  void readUdp(int fd);
  void acceptTcp(int fd);
  void readTcp(TcpConnection& connection);
  void flushTcp(TcpConnection& connection);
  void closeTcp(std::uint64_t id);
  // Logs a failed system call (errno) and closes the connection.
  void failTcp(TcpConnection& connection, const char* what);
  void sweepIdle();
  void onSignal();
  void applyPendingEngine();

  ServerOptions options_;
  util::UniqueFd epoll_;
  decision::EngineHandoff handoff_;  // new engines from the reloader's thread, and stop()
  util::UniqueFd signals_;
  std::vector<util::UniqueFd> udpSockets_;
  std::vector<util::UniqueFd> tcpListeners_;
  std::vector<std::string> bound_;
  std::vector<std::unique_ptr<Watch>> listenerWatches_;
  std::unordered_map<int, std::unique_ptr<Watch>> upstreamWatches_;
  std::unordered_map<std::uint64_t, std::unique_ptr<TcpConnection>> connections_;
  std::uint64_t nextConnection_ = 1;
  std::unique_ptr<net::Resolver> upstream_;
  std::deque<Forward> queued_;
  Cache cache_;
  std::unique_ptr<lockdown::Pinner> pinner_;
  bool pinWarned_ = false;
  Cache::Clock::time_point pinRetryAfter_{};
  std::unordered_set<std::string> bootstrap_;

  std::shared_ptr<const decision::Engine> engine_;
  std::uint64_t generation_ = 0;
  std::atomic<bool> stopping_{false};

  // Allow events already sent in this window (name, type, client): repeats
  // are counted instead of sent again.
  std::unordered_set<std::string> allowSeen_;
  Cache::Clock::time_point allowWindowStart_{};

  Stats stats_;
};

}  // namespace lens::dns
