#include "libcommon/app/proxy.h"

#include <iostream>

#include "libcommon/app/daemon.h"
#include "libcommon/net/socket_mark.h"
#include "libcommon/audit/sink.h"
#include "libcommon/policy/policy_parser.h"
#include "libcommon/proxy/server.h"
#include "libcommon/proxy/upstream_url.h"
#include "libcommon/tls/ca.h"
#include "libcommon/util/exit_code.h"
#include "libcommon/util/file.h"

namespace lens::app::proxy {

namespace {

int fail(ExitCode code, const std::string& message) {
  std::cerr << "lens-proxy: " << message << '\n';
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
  s.listen = o.listen.empty() ? std::vector<std::string>{"127.0.0.1:3128"} : o.listen;
  s.maxConnections = o.maxConnections;
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
  std::cout << "\nresolver:  " << (*resolver)->describeServers() << '\n'
            << "policy:    " << policyPath(o)
            << (out.ok() ? " (valid, version " + out.policy->version.substr(0, 12) + ")"
                         : " (INVALID)")
            << '\n';
  std::cout << "upstream:  ";
  if (!out.ok() || out.policy->proxyUpstream.empty()) {
    std::cout << "none (transport upstream is answered 503)\n";
  } else if (auto up = lens::proxy::parseUpstreamProxy(out.policy->proxyUpstream); !up) {
    std::cout << "INVALID\n";
    std::cerr << up.error().message << '\n';
    ok = false;
  } else {
    std::cout << up->redacted() << (up->authorization.empty() ? "" : " (with credentials)") << '\n';
  }
  return toInt(ok ? ExitCode::kOk : ExitCode::kInvalidConfig);
}

void printCa(const std::string& dir, const tls::CaInfo& info) {
  const tls::CaFiles files = tls::caFiles(dir);
  std::cout << "certificate: " << files.cert << "\nkey:         " << files.key << "\nsubject:     " << info.subject
            << "\nsha256:      " << info.fingerprint << "\nvalid:       " << info.notBefore << " to " << info.notAfter
            << (info.expired ? " (EXPIRED)" : "") << '\n';
}

// A CA that is there but cannot be used is a configuration problem (3);
// a missing one or a failing system call a runtime failure (1).
ExitCode caExitCode(ErrorCode code) {
  if (code == ErrorCode::kInvalidArgument) return ExitCode::kUsage;
  return code == ErrorCode::kInvalidInput ? ExitCode::kInvalidConfig : ExitCode::kFailure;
}

int runCa(const Options& o) {
  const std::string dir = o.caDir.empty() ? o.stateDir + "/ca" : o.caDir;
  if (o.caCommand == "init") {
    auto made = tls::initCa(dir, o.caDays, o.caForce);
    if (!made) return fail(caExitCode(made.error().code), "ca init: " + made.error().message);
    static constexpr const char* kWhat[] = {"created", "kept the existing CA", "replaced"};
    std::cout << "lens-proxy: ca init: " << kWhat[static_cast<int>(made->outcome)] << '\n';
    printCa(dir, made->info);
    return 0;
  }
  auto ca = tls::loadCa(dir);
  if (!ca) return fail(caExitCode(ca.error().code), "ca " + o.caCommand + ": " + ca.error().message);
  if (o.caCommand == "show") {
    printCa(dir, *ca);
    return ca->expired ? toInt(ExitCode::kFailure) : 0;
  }
  std::string bundle;
  if (!o.caBundle.empty()) {
    auto text = util::readFile(o.caBundle, 64 * 1024 * 1024);
    if (!text) return fail(ExitCode::kFailure, "ca export: --bundle " + o.caBundle + ": " + text.error().message);
    bundle = std::move(*text);
  }
  bundle = tls::appendToBundle(std::move(bundle), ca->certPem);
  if (o.caOut.empty()) {
    std::cout << bundle << std::flush;
    return std::cout ? 0 : toInt(ExitCode::kFailure);
  }
  if (Status s = util::writeFileAtomically(o.caOut, bundle, 0644); !s) {
    return fail(ExitCode::kFailure, "ca export: " + s.error().message);
  }
  return 0;
}

}  // namespace

std::unique_ptr<CLI::App> makeCli(Options& o) {
  auto app = cli::makeApp(
      "lens-proxy",
      "Explicit HTTP proxy: CONNECT and absolute-form requests, judged by the policy.", o.common);
  app->add_option("--listen", o.listen, "Address to listen on (repeatable; default 127.0.0.1:3128)")
      ->type_name("ADDR:PORT");
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
                  "Clients at once; more are answered 503 and closed")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app->add_option("--max-header-size", o.maxHeaderSize,
                  "Largest request head in bytes; larger ones get 431")
      ->check(CLI::Range(1024, 1048576))
      ->capture_default_str();
  app->add_option("--header-timeout", o.headerTimeout,
                  "Seconds for a request head to arrive; slower clients get 408")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app->add_option("--connect-timeout", o.connectTimeout,
                  "Seconds to connect to a server or the upstream proxy; then 504")
      ->check(CLI::Range(0.05, 600.0))
      ->capture_default_str();
  app->add_option("--upstream-timeout", o.upstreamTimeout,
                  "Seconds for the upstream proxy to answer CONNECT; then 504")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app->add_option("--idle-timeout", o.idleTimeout,
                  "Seconds without traffic before a tunnel or kept-alive client is closed")
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
                  "Socket mark of every socket lens-proxy opens (trusted by the cage)")
      ->capture_default_str();

  CLI::App* ca = app->add_subcommand("ca", "The interception CA: create it, show it, export its certificate");
  ca->require_subcommand(1);
  auto caDir = [&o](CLI::App* sub) {
    sub->add_option("--ca-dir", o.caDir, "Directory of ca.crt and ca.key (default STATE_DIR/ca)")
        ->type_name("DIR");
  };
  CLI::App* init = ca->add_subcommand("init", "Create the CA unless a usable one exists");
  caDir(init);
  init->add_option("--days", o.caDays, "Validity of a new CA in days")
      ->check(CLI::Range(1, 36500))
      ->capture_default_str();
  init->add_flag("--force", o.caForce, "Replace the CA even if it is usable");
  CLI::App* show = ca->add_subcommand("show", "Print the CA's files, subject, fingerprint and validity");
  caDir(show);
  CLI::App* exportCa = ca->add_subcommand("export", "Print the CA certificate (PEM), or a trust bundle with it");
  caDir(exportCa);
  exportCa->add_option("--bundle", o.caBundle,
                       "Put the certificate after this bundle, e.g. /etc/ssl/certs/ca-certificates.crt")
      ->type_name("FILE");
  exportCa->add_option("--out", o.caOut, "Write atomically to this file (mode 0644) instead of standard output")
      ->type_name("FILE");
  for (CLI::App* sub : {init, show, exportCa}) {
    sub->callback([&o, name = sub->get_name()] { o.caCommand = name; });
  }
  return app;
}

int run(const Options& o) {
  if (!o.caCommand.empty()) return runCa(o);
  auto s = serverOptions(o);
  if (!s) return fail(ExitCode::kUsage, s.error().message);
  if (o.check) return runCheck(o, *s);

  blockDaemonSignals();
  auto opened = openAuditSink(o.audit, o.stateDir);
  if (!opened) return fail(exitCodeFor(opened.error().code), opened.error().message);
  std::unique_ptr<audit::Sink> sink = std::move(*opened);
  s->sink = sink.get();

  auto server = lens::proxy::Server::create(std::move(*s));
  if (!server) return fail(startupExitCode(server.error()), server.error().message);
  lens::proxy::Server& srv = **server;

  DaemonRun daemon;
  daemon.tool = "lens-proxy";
  daemon.policyPath = policyPath(o);
  daemon.sink = sink.get();
  daemon.readyFile = o.readyFile;
  daemon.waitingNote = "every request is answered 503";
  daemon.setEngine = [&srv](std::shared_ptr<const decision::Engine> engine) {
    srv.setEngine(std::move(engine));
  };
  daemon.readyText = [&srv] {
    return "listening on " + joinAddresses(srv.boundAddresses()) + "; resolver " + srv.resolvers();
  };
  daemon.serve = [&srv] { return srv.run(); };
  daemon.statsJson = [&srv] { return lens::proxy::statsJson(srv.stats()); };
  return runDaemon(daemon);
}

}  // namespace lens::app::proxy
