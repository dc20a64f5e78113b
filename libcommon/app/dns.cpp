#include "libcommon/app/dns.h"

#include <iostream>

#include "libcommon/app/daemon.h"
#include "libcommon/audit/sink.h"
#include "libcommon/dns/server.h"
#include "libcommon/net/socket_mark.h"
#include "libcommon/policy/match_pattern.h"
#include "libcommon/policy/policy_parser.h"
#include "libcommon/util/exit_code.h"

namespace lens::app::dns {

namespace {

int fail(ExitCode code, const std::string& message) {
  std::cerr << "lens-dns: " << message << '\n';
  return toInt(code);
}

std::string policyPath(const Options& o) {
  return o.policyFile.empty() ? o.stateDir + "/policy.json" : o.policyFile;
}

Result<lens::dns::ServerOptions> serverOptions(const Options& o) {
  lens::dns::ServerOptions s;
  if (o.listen.empty()) {
    s.listen = {"127.0.0.1:5355"};
    s.optionalListen = {"[::1]:5355"};
  } else {
    s.listen = o.listen;
  }
  s.upstream.servers = o.upstreams;
  s.upstream.timeout = std::chrono::milliseconds(o.upstreamTimeoutMs);
  s.upstream.tries = o.upstreamTries;
  s.cache.maxBytes = o.cacheSize;
  s.cache.minTtl = o.minTtl;
  s.cache.maxTtl = o.maxTtl;
  s.cache.maxNegativeTtl = o.maxNegativeTtl;
  if (o.minTtl > o.maxTtl)
    return makeError(ErrorCode::kInvalidArgument, "--min-ttl is above --max-ttl");
  s.maxInflight = o.maxInflight;
  s.upstreamWindow = o.upstreamWindow;
  s.maxTcpConnections = o.maxTcpConnections;
  s.tcpIdle = std::chrono::seconds(o.tcpIdleSeconds);
  s.allowHttpsRr = o.allowHttpsRr;
  s.noAaaa = o.noAaaa;
  s.pinning = !o.noNft;
  for (const std::string& host : o.bootstrapHosts) {
    if (host.empty() || host.find_first_of(" /:@") != std::string::npos) {
      return makeError(ErrorCode::kInvalidArgument,
                       "invalid --bootstrap-host \"" + host + "\": give a host name");
    }
    s.bootstrapHosts.push_back(policy::normalizeHost(host));
  }
  auto mark = net::parseMark("--mark", o.mark);
  if (!mark) return mark.error();
  s.mark = *mark;
  return s;
}

int runCheck(const Options& o, lens::dns::ServerOptions& s) {
  const policy::ParseOutcome out = policy::loadInstalledPolicy(policyPath(o));
  for (const auto& d : out.errors) std::cerr << d.format() << '\n';
  for (const auto& d : out.warnings) std::cerr << d.format() << '\n';
  auto upstream = lens::net::Resolver::create(s.upstream, {});
  if (!upstream) return fail(exitCodeFor(upstream.error().code), upstream.error().message);
  std::cout << "listen:    ";
  for (const auto& a : s.listen) std::cout << a << ' ';
  for (const auto& a : s.optionalListen) std::cout << a << " (if available) ";
  std::cout << "(udp and tcp)\n"
            << "upstream:  " << (*upstream)->describeServers() << '\n'
            << "policy:    " << policyPath(o)
            << (out.ok() ? " (valid, version " + out.policy->version.substr(0, 12) + ")"
                         : " (INVALID)")
            << '\n'
            << "pinning:   " << (s.pinning ? "into inet lens_sandbox raw4/raw6" : "off (--no-nft)")
            << '\n';
  return toInt(out.ok() ? ExitCode::kOk : ExitCode::kInvalidConfig);
}

}  // namespace

std::unique_ptr<CLI::App> makeCli(Options& o) {
  auto app = cli::makeApp(
      "lens-dns", "Filtering DNS stub: resolves only the names the policy allows.", o.common);
  app->add_option(
         "--listen", o.listen,
         "Address to serve on, UDP and TCP (repeatable; default 127.0.0.1:5355 and [::1]:5355)")
      ->type_name("ADDR:PORT");
  app->add_option("--upstream", o.upstreams,
                  "Upstream resolver ADDRESS[:PORT] (repeatable; default: /etc/resolv.conf)")
      ->type_name("ADDR");
  app->add_option("--upstream-timeout", o.upstreamTimeoutMs,
                  "Milliseconds to wait for an upstream answer per try")
      ->check(CLI::Range(100, 60000))
      ->capture_default_str();
  app->add_option("--upstream-tries", o.upstreamTries, "Tries per upstream server before SERVFAIL")
      ->check(CLI::Range(1, 10))
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
  app->add_option("--bootstrap-host", o.bootstrapHosts,
                  "A name that always resolves, e.g. the control plane (repeatable)")
      ->type_name("HOST");
  app->add_flag("--allow-https-rr", o.allowHttpsRr,
                "Forward HTTPS and SVCB queries instead of answering them empty");
  app->add_flag("--no-aaaa", o.noAaaa, "Answer AAAA queries empty (clients stay on IPv4)");
  app->add_flag("--no-nft", o.noNft, "Do not pin answers into the lockdown's raw-allow sets");
  app->add_option("--cache-size", o.cacheSize,
                  "Cache memory bound in bytes (0 turns the cache off)")
      ->capture_default_str();
  app->add_option("--min-ttl", o.minTtl, "Floor of cached TTLs, in seconds")->capture_default_str();
  app->add_option("--max-ttl", o.maxTtl, "Ceiling of cached TTLs, in seconds")
      ->capture_default_str();
  app->add_option("--max-negative-ttl", o.maxNegativeTtl,
                  "Ceiling of cached NXDOMAIN/NODATA TTLs, in seconds")
      ->capture_default_str();
  app->add_option(
         "--max-inflight", o.maxInflight,
         "Queries waiting for the upstream (sent or queued) at once; more are answered SERVFAIL")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app->add_option("--upstream-window", o.upstreamWindow,
                  "Queries sent upstream at once; more wait in order")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app->add_option("--max-tcp-connections", o.maxTcpConnections,
                  "TCP clients at once; more are closed")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app->add_option("--tcp-idle-timeout", o.tcpIdleSeconds,
                  "Seconds before an idle TCP client is closed")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app->add_option("--mark", o.mark,
                  "Socket mark of every socket lens-dns opens (trusted by the cage)")
      ->capture_default_str();
  return app;
}

int run(const Options& o) {
  auto s = serverOptions(o);
  if (!s) return fail(ExitCode::kUsage, s.error().message);
  for (const auto& u : o.upstreams) {
    if (auto ok = lens::net::normalizeServer(u); !ok)
      return fail(ExitCode::kUsage, ok.error().message);
  }
  if (o.check) return runCheck(o, *s);

  blockDaemonSignals();
  auto opened = openAuditSink(o.audit, o.stateDir);
  if (!opened) return fail(exitCodeFor(opened.error().code), opened.error().message);
  std::unique_ptr<audit::Sink> sink = std::move(*opened);
  s->sink = sink.get();

  auto server = lens::dns::Server::create(std::move(*s));
  if (!server) return fail(startupExitCode(server.error()), server.error().message);
  lens::dns::Server& srv = **server;

  DaemonRun daemon;
  daemon.tool = "lens-dns";
  daemon.policyPath = policyPath(o);
  daemon.sink = sink.get();
  daemon.readyFile = o.readyFile;
  daemon.waitingNote = "every name is denied (NXDOMAIN)";
  daemon.setEngine = [&srv](std::shared_ptr<const decision::Engine> engine) {
    srv.setEngine(std::move(engine));
  };
  daemon.readyText = [&srv] {
    return "listening on " + joinAddresses(srv.boundAddresses()) + " (udp, tcp); upstream " +
           srv.upstreamServers();
  };
  daemon.serve = [&srv] { return srv.run(); };
  daemon.statsJson = [&srv] { return lens::dns::statsJson(srv.stats()); };
  return runDaemon(daemon);
}

}  // namespace lens::app::dns
