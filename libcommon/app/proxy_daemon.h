#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "libcommon/proxy/context.h"
#include "libcommon/util/result.h"

namespace lens::app {

// What lens-proxy and lens-tproxy share: the settings of a proxy::Server,
// their options, --check and the life of the daemon.
struct ProxyDaemonOptions {
  std::vector<std::string> listen;  // empty: the tool's default
  std::string stateDir = "/run/lens";
  std::string policyFile;  // default STATE_DIR/policy.json
  std::string audit;       // default unix:STATE_DIR/audit.sock
  std::string readyFile;
  bool check = false;
  std::size_t maxConnections = 1024;
  std::size_t maxHeaderSize = 32 * 1024;
  double headerTimeout = 30;
  double connectTimeout = 10;
  double upstreamTimeout = 30;
  double idleTimeout = 300;
  double drainTimeout = 10;
  std::vector<std::string> resolvers;
  int resolverTimeoutMs = 2000;
  int resolverTries = 2;
  std::string mark = "0x4e585553";
  // TLS interception (the CA is STATE_DIR/ca).
  std::string intercept = "needed";  // or "all"
  std::string http2 = "on";          // --http2 on|off|always
  std::uint32_t h2MaxStreams = 100;
  std::size_t leafCache = 1024;
  std::uint64_t maxSignedBody = 8 * 1024 * 1024;  // an AWS body re-signed by its hash, read whole
  std::uint64_t maxGraphqlBody = 64 * 1024;       // a body GraphQL rules judge, read whole
  std::uint64_t maxMcpBody = 1024 * 1024;         // a body MCP rules judge, read whole
  std::string originCa;         // PEM bundle file trusted for origins besides the system roots
  std::string approvalSocket;   // default STATE_DIR/approval.sock; "off": none
  double approvalTimeout = 70;  // seconds an ask waits at most (the broker's own is 60)
};

// The wording that differs between the two tools.
struct ProxyDaemonText {
  std::string tool;               // "lens-proxy"
  std::string defaultListen;      // for --help
  std::string overLimit;          // what happens to a client over --max-connections
  std::string headerTimeoutHelp;  // what must arrive within --header-timeout
  std::string idleHelp;           // what --idle-timeout closes
  std::string waitingNote;        // until the first policy ("every request is answered 503")
  std::string noUpstream;  // --check, no upstream proxy ("transport upstream is answered 503")
};

// Adds the shared options, after --listen and before the tool's own.
void addListenOption(CLI::App& app, ProxyDaemonOptions& o, const ProxyDaemonText& text);
void addProxyDaemonOptions(CLI::App& app, ProxyDaemonOptions& o, const ProxyDaemonText& text);

[[nodiscard]] std::string policyPathOf(const ProxyDaemonOptions& o);

// A duration option in seconds, rounded to milliseconds.
[[nodiscard]] std::chrono::milliseconds fromSeconds(double seconds);

// The server settings of the shared options (listen addresses left to the
// tool); kInvalidArgument naming the option that is wrong.
[[nodiscard]] Result<proxy::ServerOptions> proxyServerOptions(const ProxyDaemonOptions& o,
                                                              const ProxyDaemonText& text);

// --check: prints the listen addresses, the resolver, the policy and its
// upstream proxy, with `extra` lines after the addresses; 0, or 3 when the
// policy or its upstream proxy is invalid.
[[nodiscard]] int checkProxyDaemon(const ProxyDaemonOptions& o, const ProxyDaemonText& text,
                                   const proxy::ServerOptions& s, const std::string& extra);

// Opens the audit sink, builds the server and runs it as a daemon
// (runDaemon) until it stops. `readyExtra` follows the addresses in the
// ready line.
[[nodiscard]] int runProxyDaemon(const ProxyDaemonOptions& o, const ProxyDaemonText& text,
                                 proxy::ServerOptions s, const std::string& readyExtra);

}  // namespace lens::app
