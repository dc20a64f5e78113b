#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "libcommon/net/ip_address.h"
#include "libcommon/util/result.h"

struct ares_channeldata;
struct ares_addrinfo;

namespace lens::net {

// The c-ares channel below lens-dns and both proxy doors: forwards raw DNS
// queries to the upstream resolvers (lens-dns), on sockets carrying the
// trusted mark: retries, server rotation on failure, and TCP when an answer
// comes back truncated are c-ares's. Also resolves names to addresses for a
// daemon's own connections (lens-proxy, lens-tproxy). Single-threaded:
// every call comes from the event loop that owns it.
class Resolver {
 public:
  struct Options {
    // "ADDRESS", "ADDRESS:PORT" or "[IPV6]:PORT"; empty = the nameservers
    // of /etc/resolv.conf.
    std::vector<std::string> servers;
    std::chrono::milliseconds timeout{1500};  // per try; c-ares doubles it on later rounds
    int tries = 2;
    std::uint32_t mark = 0;  // SO_MARK of every upstream socket (0 = none)
  };
  // How the event loop learns which descriptors to watch.
  using WatchFn = std::function<void(int fd, bool readable, bool writable)>;
  // The answer (exactly as the upstream sent it, c-ares's query id), or an
  // error when every try failed (timeout, refused, SERVFAIL...).
  using Callback = std::function<void(Result<std::span<const std::uint8_t>>)>;

  static Result<std::unique_ptr<Resolver>> create(const Options& options, WatchFn watch);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  void send(std::span<const std::uint8_t> query, Callback callback);
  // The addresses of a name (A and AAAA, and the hosts file as the system's
  // resolver reads it), or an error when the name does not exist, has no
  // address or the servers failed. A name from the hosts file is answered
  // before resolve() returns.
  using AddressCallback = std::function<void(Result<std::vector<net::IpAddress>>)>;
  void resolve(const std::string& name, AddressCallback callback);
  // Call with the descriptor c-ares asked to watch when it is ready.
  void process(int fd, bool readable, bool writable);
  // Call when nothing happened for timeoutMs(): handles retries and timeouts.
  void processTimeouts();
  // Milliseconds until c-ares needs processTimeouts(), or -1 with nothing pending.
  [[nodiscard]] int timeoutMs() const;
  [[nodiscard]] std::size_t pending() const { return pending_; }
  // The servers in use, as text (for the startup line and --check).
  [[nodiscard]] std::string describeServers() const;
  // True once a socket could not be given the trusted mark (EPERM).
  [[nodiscard]] bool markFailed() const { return markFailed_; }

 private:
  Resolver() = default;
  static void onSocketState(void* self, int fd, int readable, int writable);
  static int onSocketCreated(int fd, int type, void* self);
  static void onAnswer(void* arg, int status, int timeouts, unsigned char* answer, int length);
  static void onAddresses(void* arg, int status, int timeouts, ares_addrinfo* result);

  ares_channeldata* channel_ = nullptr;
  WatchFn watch_;
  std::uint32_t mark_ = 0;
  bool markFailed_ = false;
  std::size_t pending_ = 0;
};

// Splits "ADDRESS[:PORT]" / "[IPV6]:PORT" into the c-ares server form
// ("1.2.3.4:53", "[::1]:53"); checks the address. Exposed for tests.
Result<std::string> normalizeServer(std::string_view text);

}  // namespace lens::net
