#include "libcommon/app/proxy_daemon.h"

#include <iostream>

#include "libcommon/app/daemon.h"
#include "libcommon/audit/sink.h"
#include "libcommon/net/socket_mark.h"
#include "libcommon/policy/policy_parser.h"
#include "libcommon/proxy/server.h"
#include "libcommon/proxy/upstream_url.h"
#include "libcommon/tls/leaf_cache.h"
#include "libcommon/util/exit_code.h"
#include "libcommon/util/file.h"

namespace lens::app {

namespace {

int fail(const ProxyDaemonText& text, ExitCode code, const std::string& message) {
  std::cerr << text.tool << ": " << message << '\n';
  return toInt(code);
}

}  // namespace

std::chrono::milliseconds fromSeconds(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0 + 0.5));
}

void addListenOption(CLI::App& app, ProxyDaemonOptions& o, const ProxyDaemonText& text) {
  app.add_option("--listen", o.listen,
                 "Address to listen on (repeatable; default " + text.defaultListen + ")")
      ->type_name("ADDR:PORT");
}

void addProxyDaemonOptions(CLI::App& app, ProxyDaemonOptions& o, const ProxyDaemonText& text) {
  app.add_option("--state-dir", o.stateDir, "State directory (policy.json, audit.sock)")
      ->capture_default_str();
  app.add_option("--policy", o.policyFile, "Policy file (default STATE_DIR/policy.json)")
      ->type_name("FILE");
  app.add_option("--audit", o.audit,
                 "Audit sink: -, a file, unix:PATH, or off (default unix:STATE_DIR/audit.sock)")
      ->type_name("SINK");
  app.add_option("--ready-file", o.readyFile,
                 "Create this file once listening with a policy loaded")
      ->type_name("FILE");
  app.add_flag("--check", o.check,
               "Check the options and the policy, print what would run, and exit");
  app.add_option("--max-connections", o.maxConnections,
                 "Clients at once; more are " + text.overLimit)
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--max-header-size", o.maxHeaderSize,
                 "Largest HTTP request head in bytes; larger ones get 431")
      ->check(CLI::Range(1024, 1048576))
      ->capture_default_str();
  app.add_option("--header-timeout", o.headerTimeout,
                 "Seconds for " + text.headerTimeoutHelp + " to arrive")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app.add_option("--connect-timeout", o.connectTimeout,
                 "Seconds to connect to a server or the upstream proxy (HTTP: then 504)")
      ->check(CLI::Range(0.05, 600.0))
      ->capture_default_str();
  app.add_option("--upstream-timeout", o.upstreamTimeout,
                 "Seconds for the upstream proxy to answer CONNECT (HTTP: then 504)")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app.add_option("--idle-timeout", o.idleTimeout,
                 "Seconds without traffic before " + text.idleHelp + " is closed")
      ->check(CLI::Range(0.05, 86400.0))
      ->capture_default_str();
  app.add_option("--drain-timeout", o.drainTimeout,
                 "Seconds open connections may take to finish after SIGTERM")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--resolver", o.resolvers,
                 "DNS server ADDRESS[:PORT] for names (repeatable; default /etc/resolv.conf)")
      ->type_name("ADDR");
  app.add_option("--resolver-timeout", o.resolverTimeoutMs,
                 "Milliseconds to wait for a DNS answer per try")
      ->check(CLI::Range(100, 60000))
      ->capture_default_str();
  app.add_option("--resolver-tries", o.resolverTries, "Tries per DNS server")
      ->check(CLI::Range(1, 10))
      ->capture_default_str();
  app.add_option(
         "--intercept", o.intercept,
         "TLS connections to intercept: needed (when the policy must see the requests) or all "
         "(every TLS connection an egress.tcp rule does not open)")
      ->check(CLI::IsMember({"needed", "all"}))
      ->capture_default_str();
  app.add_option("--http2", o.http2,
                 "HTTP/2 with intercepted clients, each stream judged like a request: on (the "
                 "origin is asked first when the host is allowed outright, and the client is "
                 "offered what it chose), always (offered to every client, translated to "
                 "HTTP/1.1 for origins that speak only that) or off")
      ->check(CLI::IsMember({"on", "always", "off"}))
      ->capture_default_str();
  app.add_option("--h2-max-streams", o.h2MaxStreams,
                 "Concurrent streams an HTTP/2 client may open on one connection")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--leaf-cache", o.leafCache,
                 "Interception certificates kept in memory (one per host name)")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--max-signed-body", o.maxSignedBody,
                 "Largest AWS request body re-signed by its hash (read whole first; larger: 413)")
      ->type_name("BYTES")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 30))
      ->capture_default_str();
  app.add_option("--max-graphql-body", o.maxGraphqlBody,
                 "Largest request body GraphQL rules read to judge (larger: 413 body-too-large)")
      ->type_name("BYTES")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{64} << 20))
      ->capture_default_str();
  app.add_option("--max-mcp-body", o.maxMcpBody,
                 "Largest request body MCP rules read to judge (larger: 413 body-too-large)")
      ->type_name("BYTES")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{64} << 20))
      ->capture_default_str();
  app.add_option("--origin-ca", o.originCa,
                 "PEM bundle of CAs trusted for intercepted origins besides the system roots")
      ->envname("LENS_ORIGIN_CA")
      ->type_name("FILE");
  app.add_option("--approval-socket", o.approvalSocket,
                 "The approval broker of lens-policy-sync, asked when the policy says ask "
                 "(default STATE_DIR/approval.sock; off: every ask is refused no-approver)")
      ->type_name("PATH");
  app.add_option("--approval-timeout", o.approvalTimeout,
                 "Seconds a connection waits for an approval at most (then decision-timeout)")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app.add_option("--mark", o.mark,
                 "Socket mark of every socket " + text.tool + " opens (trusted by the cage)")
      ->capture_default_str();
}

std::string policyPathOf(const ProxyDaemonOptions& o) {
  return o.policyFile.empty() ? o.stateDir + "/policy.json" : o.policyFile;
}

Result<proxy::ServerOptions> proxyServerOptions(const ProxyDaemonOptions& o,
                                                const ProxyDaemonText& text) {
  proxy::ServerOptions s;
  s.tool = text.tool;
  s.listen = o.listen;
  s.maxConnections = o.maxConnections;
  s.maxHeaderBytes = o.maxHeaderSize;
  s.headerTimeout = fromSeconds(o.headerTimeout);
  s.connectTimeout = fromSeconds(o.connectTimeout);
  s.upstreamTimeout = fromSeconds(o.upstreamTimeout);
  s.idleTimeout = fromSeconds(o.idleTimeout);
  s.drainTimeout = fromSeconds(o.drainTimeout);
  s.resolver.servers = o.resolvers;
  s.resolver.timeout = std::chrono::milliseconds(o.resolverTimeoutMs);
  s.resolver.tries = o.resolverTries;
  for (const auto& r : o.resolvers) {
    if (auto ok = net::normalizeServer(r); !ok) {
      return makeError(ErrorCode::kInvalidArgument, "--resolver: " + ok.error().message);
    }
  }
  auto mark = net::parseMark("--mark", o.mark);
  if (!mark) return mark.error();
  s.mark = *mark;
  s.caDir = o.stateDir + "/ca";
  s.leafCache = o.leafCache;
  s.maxSignedBody = o.maxSignedBody;
  s.bodyLimits.graphql = static_cast<std::size_t>(o.maxGraphqlBody);
  s.bodyLimits.mcp = static_cast<std::size_t>(o.maxMcpBody);
  s.interceptAll = o.intercept == "all";
  s.http2 = o.http2 == "off"      ? proxy::Http2Mode::kOff
            : o.http2 == "always" ? proxy::Http2Mode::kAlways
                                  : proxy::Http2Mode::kOn;
  s.h2.maxStreams = o.h2MaxStreams;
  if (o.approvalSocket != "off")
    s.approvalSocket = o.approvalSocket.empty() ? o.stateDir + "/approval.sock" : o.approvalSocket;
  s.approvalTimeout = fromSeconds(o.approvalTimeout);
  if (!o.originCa.empty()) {
    auto pem = util::readFile(o.originCa, 16 * 1024 * 1024);
    if (!pem) return makeError(ErrorCode::kInvalidArgument, "--origin-ca: " + pem.error().message);
    if (pem->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return makeError(ErrorCode::kInvalidArgument,
                       "--origin-ca: " + o.originCa + " holds no PEM certificate");
    }
    s.originCaPem = std::move(*pem);
  }
  return s;
}

int checkProxyDaemon(const ProxyDaemonOptions& o, const ProxyDaemonText& text,
                     const proxy::ServerOptions& s, const std::string& extra) {
  policy::ParseOptions parse;
  parse.allowTransportFields = true;
  const policy::ParseOutcome out = policy::loadPolicyFile(policyPathOf(o), parse);
  for (const auto& d : out.errors) std::cerr << d.format() << '\n';
  for (const auto& d : out.warnings) std::cerr << d.format() << '\n';
  auto resolver = net::Resolver::create(s.resolver, {});
  if (!resolver) return fail(text, exitCodeFor(resolver.error().code), resolver.error().message);
  bool ok = out.ok();
  std::cout << "listen:    ";
  for (const auto& a : s.listen) std::cout << a << ' ';
  for (const auto& a : s.optionalListen) std::cout << a << "(if available) ";
  std::cout << '\n'
            << extra << "resolver:  " << (*resolver)->describeServers() << '\n'
            << "policy:    " << policyPathOf(o)
            << (out.ok() ? " (valid, version " + out.policy->version.substr(0, 12) + ")"
                         : " (INVALID)")
            << '\n';
  {
    auto ca = tls::SigningCa::load(s.caDir);
    std::cout << "intercept: " << (s.interceptAll ? "all" : "needed") << ", HTTP/2 " << o.http2
              << ", CA " << (ca ? s.caDir + " (usable)" : "none: " + ca.error().message) << '\n';
  }
  std::cout << "approvals: "
            << (s.approvalSocket.empty() ? "off (every ask is refused no-approver)"
                                         : s.approvalSocket)
            << '\n';
  std::cout << "upstream:  ";
  if (!out.ok() || out.policy->proxyUpstream.empty()) {
    std::cout << "none (" << text.noUpstream << ")\n";
  } else if (auto up = proxy::parseUpstreamProxy(out.policy->proxyUpstream); !up) {
    std::cout << "INVALID\n";
    std::cerr << up.error().message << '\n';
    ok = false;
  } else {
    std::cout << up->redacted() << (up->authorization.empty() ? "" : " (with credentials)") << '\n';
  }
  return toInt(ok ? ExitCode::kOk : ExitCode::kInvalidConfig);
}

int runProxyDaemon(const ProxyDaemonOptions& o, const ProxyDaemonText& text, proxy::ServerOptions s,
                   const std::string& readyExtra) {
  blockDaemonSignals();
  auto opened = openAuditSink(o.audit, o.stateDir);
  if (!opened) return fail(text, exitCodeFor(opened.error().code), opened.error().message);
  std::unique_ptr<audit::Sink> sink = std::move(*opened);
  s.sink = sink.get();
  const bool transparent = s.transparent != proxy::TransparentMode::kOff;

  auto server = proxy::Server::create(std::move(s));
  if (!server) return fail(text, startupExitCode(server.error()), server.error().message);
  proxy::Server& srv = **server;

  DaemonRun daemon;
  daemon.tool = text.tool;
  daemon.policyPath = policyPathOf(o);
  daemon.sink = sink.get();
  daemon.readyFile = o.readyFile;
  daemon.waitingNote = text.waitingNote;
  daemon.setEngine = [&srv](std::shared_ptr<const decision::Engine> engine) {
    srv.setEngine(std::move(engine));
  };
  daemon.readyText = [&srv, readyExtra] {
    return "listening on " + joinAddresses(srv.boundAddresses()) + readyExtra + "; resolver " +
           srv.resolvers();
  };
  daemon.serve = [&srv] { return srv.run(); };
  daemon.statsJson = [&srv, transparent] { return proxy::statsJson(srv.stats(), transparent); };
  return runDaemon(daemon);
}

}  // namespace lens::app
