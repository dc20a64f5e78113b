#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "libcommon/decision/engine.h"
#include "libcommon/decision/engine_handoff.h"
#include "libcommon/net/socket_address.h"
#include "libcommon/proxy/connection.h"
#include "libcommon/proxy/context.h"
#include "libcommon/util/result.h"
#include "libcommon/util/unique_fd.h"

namespace lens::proxy {

// lens-proxy's event loop: the listeners, every client connection, c-ares
// for name resolution, the policy swaps and the graceful stop. One thread;
// the policy is swapped in from any thread with setEngine().
class Server {
 public:
  static Result<std::unique_ptr<Server>> create(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Thread-safe: later requests are judged with this engine, open tunnels
  // are judged again, and the upstream proxy of its policy is used.
  void setEngine(std::shared_ptr<const decision::Engine> engine);
  // Runs until SIGTERM or SIGINT (block them in every thread first; they
  // are taken through a signalfd) or stop(), then drains: no new clients,
  // open ones finish within the drain timeout, then they are closed.
  // SIGUSR1 prints the statistics on stderr.
  Status run();
  void stop();  // thread-safe
  [[nodiscard]] Stats stats() const { return ctx_.stats; }
  [[nodiscard]] bool transparent() const {
    return ctx_.options.transparent != TransparentMode::kOff;
  }
  [[nodiscard]] const std::vector<std::string>& boundAddresses() const { return bound_; }
  [[nodiscard]] std::string resolvers() const { return ctx_.resolver->describeServers(); }

 private:
  class Listener;
  class Control;

  explicit Server(ServerOptions options);
  Status bindAll();
  void accept(int fd);
  void applyPendingEngine();
  // TLS interception: the CA's leaves (or why there are none), and the trust
  // for origins (--origin-ca plus the policy's proxyCaCert).
  void loadInterceptionCa();
  Status updateOriginTrust(const std::string& proxyCa);
  void onSignal();
  void beginDrain();
  void tick();
  void collect();

  ProxyContext ctx_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unique_ptr<Control> control_;  // the wake eventfd and the signalfd
  std::unordered_map<int, std::unique_ptr<Watch>> resolverWatches_;
  std::unique_ptr<IoHandler> resolverHandler_;
  std::vector<std::string> bound_;
  std::vector<net::SocketAddress> boundSockets_;  // for the redirect-loop check
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<std::unique_ptr<Connection>> graveyard_;
  std::uint64_t nextId_ = 1;
  decision::EngineHandoff handoff_;  // new engines from the reloader's thread, and stop()
  util::UniqueFd signals_;           // the signalfd
  std::atomic<bool> stopRequested_{false};
  bool draining_ = false;
  Clock::time_point drainDeadline_{};
  std::string upstreamText_;  // the policy's proxyUpstream and proxyCaCert in force
  std::string upstreamCa_;
  std::string originProxyCa_;               // the proxyCaCert in ctx_.originTls
  std::unique_ptr<IoHandler> leafHandler_;  // collects leaves minted off the loop
  std::unique_ptr<Watch> leafWatch_;
  std::unique_ptr<IoHandler> callerHandler_;  // collects callers found off the loop
  std::unique_ptr<Watch> callerWatch_;
};

}  // namespace lens::proxy
