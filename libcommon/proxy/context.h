#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "libcommon/audit/sink.h"
#include "libcommon/decision/engine.h"
#include "libcommon/net/resolver.h"
#include "libcommon/proxy/approvals.h"
#include "libcommon/proxy/bridge.h"
#include "libcommon/proxy/caller_identifier.h"
#include "libcommon/proxy/h2_session.h"
#include "libcommon/proxy/pipe_pool.h"
#include "libcommon/proxy/reactor.h"
#include "libcommon/proxy/stream.h"
#include "libcommon/proxy/transparent.h"
#include "libcommon/proxy/upstream_url.h"
#include "libcommon/tls/leaf_cache.h"

namespace lens::proxy {

class Connection;

using Clock = std::chrono::steady_clock;

// HTTP/2 with intercepted clients (--http2, lens-proxy(1) "HTTP/2"):
//   kOff: HTTP/1.1 only;
//   kOn: origin first: when the connection allows its host outright, the
//     origin is dialled during the client's handshake and the client is
//     offered what the origin chose (h2, or HTTP/1.1 to a client that can
//     speak it); otherwise h2 and HTTP/1.1, translated as needed;
//   kAlways: h2 and HTTP/1.1 to every client, each stream translated to
//     HTTP/1.1 for an origin that speaks only that (the origin is never
//     dialled before a request is judged).
enum class Http2Mode : std::uint8_t { kOff, kOn, kAlways };

struct ServerOptions {
  std::vector<std::string> listen;  // "ADDRESS:PORT" / "[IPV6]:PORT"
  std::size_t maxConnections = 1024;
  std::size_t maxHeaderBytes = 32 * 1024;          // request head; more: 431
  std::chrono::milliseconds headerTimeout{30000};  // a request head must arrive within (408)
  std::chrono::milliseconds connectTimeout{
      10000};  // TCP (and TLS) connect to an origin or the upstream proxy (504)
  std::chrono::milliseconds upstreamTimeout{30000};  // the upstream proxy's answer to CONNECT (504)
  std::chrono::milliseconds idleTimeout{
      300000};  // tunnels, responses and kept-alive clients without traffic
  std::chrono::milliseconds drainTimeout{10000};  // after SIGTERM
  net::Resolver::Options resolver;                // servers, timeout, tries (mark set from `mark`)
  std::uint32_t mark = 0x4E585553;
  audit::Sink* sink = nullptr;  // may be null
  // TLS interception: the CA directory (empty: none), the leaf cache's
  // size, extra origin trust (PEM, --origin-ca), and --intercept all.
  std::string caDir;
  std::size_t leafCache = 1024;
  std::string originCaPem;
  bool interceptAll = false;
  std::uint64_t maxSignedBody = 8 * 1024 * 1024;  // an AWS body re-signed by its hash (413 above)
  decision::BodyLimits bodyLimits;                // bodies GraphQL and MCP rules read (413 above)
  // lens-tproxy: the clients were redirected by the cage, not configured.
  std::string tool = "lens-proxy";  // audit source, refusal bodies
  TransparentMode transparent = TransparentMode::kOff;
  std::vector<std::string> optionalListen;     // bound when the address exists (a default [::1])
  std::chrono::milliseconds peekTimeout{500};  // first bytes (TLS, HTTP or not); then raw
  std::size_t maxClientHello = 16 * 1024;      // a larger ClientHello is refused
  // Approvals: the broker's socket (empty: none, every ask is refused
  // no-approver) and how long a connection waits for an answer at most.
  std::string approvalSocket;
  std::chrono::milliseconds approvalTimeout{70000};
  // HTTP/2 inside interception (--http2), and its limits.
  Http2Mode http2 = Http2Mode::kOn;
  H2Limits h2;
};

struct Stats {
  std::uint64_t accepted = 0;
  std::uint64_t refusedOverLimit = 0;
  std::uint64_t requests = 0;  // request heads judged (CONNECT and forward)
  std::uint64_t allowed = 0;
  std::uint64_t denied = 0;          // 403
  std::uint64_t badRequests = 0;     // 400, 408, 431
  std::uint64_t upstreamErrors = 0;  // 502, 503, 504
  std::uint64_t tunnels = 0;         // CONNECT tunnels established
  std::uint64_t bytesUp = 0;         // client to destination
  std::uint64_t bytesDown = 0;       // destination to client
  std::uint64_t closedByPolicy = 0;  // tunnels a reload no longer allowed
  std::uint64_t closedByDrain = 0;
  std::uint64_t open = 0;
  // Transparent doors: how redirected connections were classified.
  std::uint64_t classifiedTls = 0;
  std::uint64_t classifiedHttp = 0;
  std::uint64_t classifiedRaw = 0;
  std::uint64_t redirectLoops = 0;
  // TLS interception.
  std::uint64_t intercepted = 0;     // client TLS sessions the proxy answered
  std::uint64_t mitmRequests = 0;    // requests read inside them
  std::uint64_t hostMismatches = 0;  // 421 answers
  std::uint64_t h2Connections = 0;   // intercepted connections speaking HTTP/2 now
  std::uint64_t h2Streams = 0;       // their streams being served now
  std::uint64_t h2Goaways = 0;       // HTTP/2 connections ended for abuse or a protocol error
  std::uint64_t originFirst = 0;  // intercepted clients offered what the origin chose (--http2 on)
};
std::string statsJson(const Stats& stats, bool transparent = false);

// The route to the upstream proxy named by the policy in force.
struct UpstreamRoute {
  UpstreamProxy proxy;
  std::shared_ptr<TlsClientConfig> tls;  // for https://
};

// What every connection shares; owned by the Server, used from its thread.
struct ProxyContext {
  ServerOptions options;
  Reactor reactor;
  std::unique_ptr<net::Resolver> resolver;
  std::shared_ptr<const decision::Engine> engine;
  std::shared_ptr<const UpstreamRoute> upstream;  // null: none (or an invalid one)
  std::string upstreamProblem;                    // why there is none, for logs
  // TLS interception: leaves from the CA (null: no usable CA, caProblem says
  // why) and the trust for origins (system roots, --origin-ca, the policy's
  // proxyCaCert).
  std::unique_ptr<tls::LeafCache> leaves;
  std::string caProblem;
  // The program behind a connection, found off the loop (binaries rules).
  std::unique_ptr<CallerIdentifier> callers;
  // Asks the approval broker (null: no --approval-socket).
  std::unique_ptr<Approvals> approvals;
  std::shared_ptr<TlsClientConfig> originTls;
  BridgeTlsCache bridgeTls;  // forward bridges: client identity and roots
  Stats stats;
  PipePool pipes;
  bool draining = false;
  bool markWarned = false;
  // Transparent mode: the local endpoints ("ip:port") of the connections we
  // dial. One of them arriving at the listener is our own dial redirected
  // back (an unmarked socket inside the cage): a loop, refused.
  std::unordered_set<std::string> outgoing;
  Clock::time_point now = Clock::now();
  // A connection has closed: destroy it once the current events are handled.
  std::function<void(std::uint64_t id)> release;
  // The open connection with this id, or nullptr (for late callbacks).
  std::function<Connection*(std::uint64_t id)> find;
  // A connection serving an HTTP/2 stream: its id, then the connection
  // joins the others (ticked, re-judged, drained, found by id).
  std::function<std::uint64_t()> newId;
  std::function<void(std::unique_ptr<Connection>)> adopt;
};

}  // namespace lens::proxy
