#include "libcommon/app/tproxy.h"

#include <iostream>

#include "libcommon/app/daemon.h"
#include "libcommon/audit/sink.h"
#include "libcommon/net/socket_mark.h"
#include "libcommon/policy/policy_parser.h"
#include "libcommon/proxy/server.h"
#include "libcommon/proxy/transparent.h"
#include "libcommon/proxy/upstream_url.h"
#include "libcommon/util/exit_code.h"

namespace lens::app::tproxy {

namespace {

constexpr const char* kTool = "lens-tproxy";

int fail(ExitCode code, const std::string& message) {
  std::cerr << kTool << ": " << message << '\n';
  return toInt(code);
}

std::string policyPath(const Options& o) {
  return o.policyFile.empty() ? o.stateDir + "/policy.json" : o.policyFile;
}

std::chrono::milliseconds seconds(double s) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000.0 + 0.5));
}

Result<lens::proxy::ServerOptions> serverOptions(const Options& o) {
  lens::proxy::ServerOptions s;
  s.tool = kTool;
  auto mode = lens::proxy::parseTransparentMode(o.mode);
  if (!mode) {
    return makeError(ErrorCode::kInvalidArgument,
                     "--mode: \"" + o.mode + "\" is neither redirect nor tproxy");
  }
  s.transparent = *mode;
  if (o.listen.empty()) {
    // IPv6 may be disabled in the container: then [::1] is skipped with a warning.
    s.listen = {"127.0.0.1:3129"};
    s.optionalListen = {"[::1]:3129"};
  } else {
    s.listen = o.listen;
  }
  s.maxConnections = o.maxConnections;
  s.peekTimeout = seconds(o.peekTimeout);
  s.maxClientHello = o.maxClientHello;
  s.maxHeaderBytes = o.maxHeaderSize;
  s.headerTimeout = seconds(o.headerTimeout);
  s.connectTimeout = seconds(o.connectTimeout);
  s.upstreamTimeout = seconds(o.upstreamTimeout);
  s.idleTimeout = seconds(o.idleTimeout);
  s.drainTimeout = seconds(o.drainTimeout);
  s.resolver.servers = o.resolvers;
  s.resolver.timeout = std::chrono::milliseconds(o.resolverTimeoutMs);
  s.resolver.tries = o.resolverTries;
  for (const auto& r : o.resolvers) {
    if (auto ok = lens::dns::normalizeServer(r); !ok) {
      return makeError(ErrorCode::kInvalidArgument, "--resolver: " + ok.error().message);
    }
  }
  auto mark = net::parseMark("--mark", o.mark);
  if (!mark) return mark.error();
  s.mark = *mark;
  return s;
}

int runCheck(const Options& o, const lens::proxy::ServerOptions& s) {
  policy::ParseOptions parse;
  parse.allowTransportFields = true;
  const policy::ParseOutcome out = policy::loadPolicyFile(policyPath(o), parse);
  for (const auto& d : out.errors) std::cerr << d.format() << '\n';
  for (const auto& d : out.warnings) std::cerr << d.format() << '\n';
  auto resolver = lens::dns::Upstream::create(s.resolver, {});
  if (!resolver) return fail(exitCodeFor(resolver.error().code), resolver.error().message);
  bool ok = out.ok();
  std::cout << "listen:    ";
  for (const auto& a : s.listen) std::cout << a << ' ';
  for (const auto& a : s.optionalListen) std::cout << a << "(if available) ";
  std::cout << "\nmode:      " << lens::proxy::toString(s.transparent)
            << (s.transparent == lens::proxy::TransparentMode::kTproxy
                    ? " (IP_TRANSPARENT listeners, original destination = local address)"
                    : " (original destination from SO_ORIGINAL_DST)")
            << "\nresolver:  " << (*resolver)->describeServers() << '\n'
            << "policy:    " << policyPath(o)
            << (out.ok() ? " (valid, version " + out.policy->version.substr(0, 12) + ")"
                         : " (INVALID)")
            << '\n';
  std::cout << "upstream:  ";
  if (!out.ok() || out.policy->proxyUpstream.empty()) {
    std::cout << "none (transport upstream is refused)\n";
  } else if (auto up = lens::proxy::parseUpstreamProxy(out.policy->proxyUpstream); !up) {
    std::cout << "INVALID\n";
    std::cerr << up.error().message << '\n';
    ok = false;
  } else {
    std::cout << up->redacted() << (up->authorization.empty() ? "" : " (with credentials)") << '\n';
  }
  return toInt(ok ? ExitCode::kOk : ExitCode::kInvalidConfig);
}

}  // namespace

std::unique_ptr<CLI::App> makeCli(Options& o) {
  auto app = cli::makeApp(kTool,
                          "Transparent proxy: TCP connections the cage redirects, classified by "
                          "their first bytes (TLS SNI, HTTP Host, raw) and judged by the policy.",
                          o.common);
  app->add_option("--listen", o.listen,
                  "Address to listen on (repeatable; default 127.0.0.1:3129 and [::1]:3129)")
      ->type_name("ADDR:PORT");
  app->add_option("--mode", o.mode,
                  "How connections arrive: redirect (nat REDIRECT, SO_ORIGINAL_DST) or tproxy "
                  "(IP_TRANSPARENT listener); as lens-lockdown --mode")
      ->check(CLI::IsMember({"redirect", "tproxy"}))
      ->type_name("MODE")
      ->capture_default_str();
  app->add_option("--state-dir", o.stateDir, "State directory (policy.json, audit.sock)")
      ->capture_default_str();
  app->add_option("--policy", o.policyFile, "Policy file (default STATE_DIR/policy.json)")
      ->type_name("FILE");
  app->add_option("--audit", o.audit,
                  "Audit sink: -, a file, unix:PATH, or off (default unix:STATE_DIR/audit.sock)")
      ->type_name("SINK");
  app->add_option("--ready-file", o.readyFile,
                  "Create this file once listening with a policy loaded")
      ->type_name("FILE");
  app->add_flag("--check", o.check,
                "Check the options and the policy, print what would run, and exit");
  app->add_option("--max-connections", o.maxConnections,
                  "Clients at once; more are closed at once")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app->add_option("--peek-timeout", o.peekTimeout,
                  "Seconds to wait for the first bytes that tell TLS and HTTP apart; then the "
                  "connection is judged as raw TCP")
      ->check(CLI::Range(0.01, 60.0))
      ->capture_default_str();
  app->add_option("--max-client-hello", o.maxClientHello,
                  "Largest TLS ClientHello in bytes; larger ones are refused")
      ->check(CLI::Range(512, 262144))
      ->capture_default_str();
  app->add_option("--max-header-size", o.maxHeaderSize,
                  "Largest HTTP request head in bytes; larger ones get 431")
      ->check(CLI::Range(1024, 1048576))
      ->capture_default_str();
  app->add_option("--header-timeout", o.headerTimeout,
                  "Seconds for a TLS ClientHello or an HTTP request head to arrive")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app->add_option("--connect-timeout", o.connectTimeout,
                  "Seconds to connect to a server or the upstream proxy")
      ->check(CLI::Range(0.05, 600.0))
      ->capture_default_str();
  app->add_option("--upstream-timeout", o.upstreamTimeout,
                  "Seconds for the upstream proxy to answer CONNECT")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app->add_option("--idle-timeout", o.idleTimeout,
                  "Seconds without traffic before a relayed connection is closed")
      ->check(CLI::Range(0.05, 86400.0))
      ->capture_default_str();
  app->add_option("--drain-timeout", o.drainTimeout,
                  "Seconds open connections may take to finish after SIGTERM")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app->add_option("--resolver", o.resolvers,
                  "DNS server ADDRESS[:PORT] for names (repeatable; default /etc/resolv.conf)")
      ->type_name("ADDR");
  app->add_option("--resolver-timeout", o.resolverTimeoutMs,
                  "Milliseconds to wait for a DNS answer per try")
      ->check(CLI::Range(100, 60000))
      ->capture_default_str();
  app->add_option("--resolver-tries", o.resolverTries, "Tries per DNS server")
      ->check(CLI::Range(1, 10))
      ->capture_default_str();
  app->add_option("--mark", o.mark,
                  "Socket mark of every socket lens-tproxy opens (trusted by the cage)")
      ->capture_default_str();
  return app;
}

int run(const Options& o) {
  auto s = serverOptions(o);
  if (!s) return fail(ExitCode::kUsage, s.error().message);
  if (o.check) return runCheck(o, *s);

  blockDaemonSignals();
  auto opened = openAuditSink(o.audit, o.stateDir);
  if (!opened) return fail(exitCodeFor(opened.error().code), opened.error().message);
  std::unique_ptr<audit::Sink> sink = std::move(*opened);
  s->sink = sink.get();
  const std::string mode(lens::proxy::toString(s->transparent));

  auto server = lens::proxy::Server::create(std::move(*s));
  if (!server) return fail(startupExitCode(server.error()), server.error().message);
  lens::proxy::Server& srv = **server;

  DaemonRun daemon;
  daemon.tool = kTool;
  daemon.policyPath = policyPath(o);
  daemon.sink = sink.get();
  daemon.readyFile = o.readyFile;
  daemon.waitingNote = "every connection is refused";
  daemon.setEngine = [&srv](std::shared_ptr<const decision::Engine> engine) {
    srv.setEngine(std::move(engine));
  };
  daemon.readyText = [&srv, mode] {
    return "listening on " + joinAddresses(srv.boundAddresses()) + " (" + mode + "); resolver " +
           srv.resolvers();
  };
  daemon.serve = [&srv] { return srv.run(); };
  daemon.statsJson = [&srv] { return lens::proxy::statsJson(srv.stats(), true); };
  return runDaemon(daemon);
}

}  // namespace lens::app::tproxy
