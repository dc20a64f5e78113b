#include "libcommon/app/proxy.h"

#include <unistd.h>

#include <iostream>
#include <optional>

#include "libcommon/tls/ca.h"
#include "libcommon/tls/trust_export.h"
#include "libcommon/util/exit_code.h"
#include "libcommon/util/file.h"

namespace lens::app::proxy {

namespace {

const ProxyDaemonText kText{
    .tool = "lens-proxy",
    .defaultListen = "127.0.0.1:3128",
    .overLimit = "answered 503 and closed",
    .headerTimeoutHelp = "a request head",
    .idleHelp = "a tunnel or kept-alive client",
    .waitingNote = "every request is answered 503",
    .noUpstream = "transport upstream is answered 503",
};

int fail(ExitCode code, const std::string& message) {
  std::cerr << "lens-proxy: " << message << '\n';
  return toInt(code);
}

void printCa(const std::string& dir, const tls::CaInfo& info) {
  const tls::CaFiles files = tls::caFiles(dir);
  std::cout << "certificate: " << files.cert << "\nkey:         " << files.key
            << "\nsubject:     " << info.subject << "\nsha256:      " << info.fingerprint
            << "\nvalid:       " << info.notBefore << " to " << info.notAfter
            << (info.expired ? " (EXPIRED)" : "") << '\n';
}

// A CA that is there but cannot be used is a configuration problem (3);
// a missing one or a failing system call a runtime failure (1).
ExitCode caExitCode(ErrorCode code) {
  if (code == ErrorCode::kInvalidArgument) return ExitCode::kUsage;
  return code == ErrorCode::kInvalidInput ? ExitCode::kInvalidConfig : ExitCode::kFailure;
}

// ca export: the certificate, after --bundle if given, as PEM or as a
// PKCS#12 trust store.
int runCaExport(const Options& o, const tls::CaInfo& ca) {
  std::string bundle;
  if (!o.caBundle.empty()) {
    auto text = util::readFile(o.caBundle, 64 * 1024 * 1024);
    if (!text)
      return fail(ExitCode::kFailure,
                  "ca export: --bundle " + o.caBundle + ": " + text.error().message);
    bundle = std::move(*text);
  }
  bundle = tls::appendToBundle(std::move(bundle), ca.certPem);
  if (o.caFormat == "pkcs12") {
    if (o.caOut.empty() && ::isatty(STDOUT_FILENO) == 1) {
      return fail(ExitCode::kUsage,
                  "ca export: a PKCS#12 store is binary; give --out FILE or redirect the output");
    }
    auto store = tls::pkcs12TrustStore(bundle, tls::kTrustStorePassword);
    if (!store) return fail(caExitCode(store.error().code), "ca export: " + store.error().message);
    bundle = std::move(*store);
  }
  if (o.caOut.empty()) {
    std::cout << bundle << std::flush;
    return std::cout ? 0 : toInt(ExitCode::kFailure);
  }
  if (Status s = util::writeFileAtomically(o.caOut, bundle, 0644); !s) {
    return fail(ExitCode::kFailure, "ca export: " + s.error().message);
  }
  return 0;
}

// ca env: the trust files made current, then one assignment per variable.
int runCaEnv(const Options& o, const std::string& dir, const tls::CaInfo& ca) {
  std::optional<tls::ProxySetting> proxy;
  if (!o.caProxy.empty()) {
    auto setting = tls::parseProxySetting(o.caProxy, o.caNoProxy);
    if (!setting) return fail(ExitCode::kUsage, "ca env: " + setting.error().message);
    proxy = std::move(*setting);
  }
  auto files = tls::ensureTrustFiles(dir, ca.certPem, o.caBundle, std::string(tls::kSystemRoots));
  if (!files) return fail(caExitCode(files.error().code), "ca env: " + files.error().message);
  auto env = tls::trustEnvironment(*files, proxy);
  if (!env) return fail(ExitCode::kUsage, "ca env: " + env.error().message);
  std::cout << tls::renderAssignments(*env,
                                      o.caShell == "fish" ? tls::Shell::kFish : tls::Shell::kSh)
            << std::flush;
  return std::cout ? 0 : toInt(ExitCode::kFailure);
}

int runCa(const Options& o) {
  const std::string dir = o.caDir.empty() ? o.daemon.stateDir + "/ca" : o.caDir;
  if (o.caCommand == "init") {
    auto made = tls::initCa(dir, o.caDays, o.caForce);
    if (!made) return fail(caExitCode(made.error().code), "ca init: " + made.error().message);
    static constexpr const char* kWhat[] = {"created", "kept the existing CA", "replaced"};
    std::cout << "lens-proxy: ca init: " << kWhat[static_cast<int>(made->outcome)] << '\n';
    printCa(dir, made->info);
    return 0;
  }
  auto ca = tls::loadCa(dir);
  if (!ca)
    return fail(caExitCode(ca.error().code), "ca " + o.caCommand + ": " + ca.error().message);
  if (o.caCommand == "show") {
    printCa(dir, *ca);
    return ca->expired ? toInt(ExitCode::kFailure) : 0;
  }
  if (o.caCommand == "env") return runCaEnv(o, dir, *ca);
  return runCaExport(o, *ca);
}

}  // namespace

std::unique_ptr<CLI::App> makeCli(Options& o) {
  auto app = cli::makeApp(
      "lens-proxy",
      "Explicit HTTP proxy: CONNECT and absolute-form requests, judged by the policy.", o.common);
  addListenOption(*app, o.daemon, kText);
  addProxyDaemonOptions(*app, o.daemon, kText);

  CLI::App* ca = app->add_subcommand(
      "ca", "The interception CA: create it, show it, export it, give the workload its trust");
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
  CLI::App* show =
      ca->add_subcommand("show", "Print the CA's files, subject, fingerprint and validity");
  caDir(show);
  CLI::App* exportCa = ca->add_subcommand(
      "export", "Print the CA certificate, or a trust bundle with it, as PEM or PKCS#12");
  caDir(exportCa);
  exportCa
      ->add_option("--bundle", o.caBundle,
                   "Put the certificate after this bundle, e.g. /etc/ssl/certs/ca-certificates.crt")
      ->type_name("FILE");
  exportCa
      ->add_option("--format", o.caFormat, "pem, or pkcs12: a Java trust store (password changeit)")
      ->check(CLI::IsMember({"pem", "pkcs12"}))
      ->capture_default_str();
  exportCa
      ->add_option("--out", o.caOut,
                   "Write atomically to this file (mode 0644) instead of standard output")
      ->type_name("FILE");
  CLI::App* env = ca->add_subcommand(
      "env", "Print, for eval, the variables that make common runtimes (and the JVM) trust the CA");
  caDir(env);
  env->add_option("--shell", o.caShell, "Syntax of the assignments: sh (export) or fish (set -gx)")
      ->check(CLI::IsMember({"sh", "fish"}))
      ->capture_default_str();
  env->add_option("--bundle", o.caBundle,
                  "Name this bundle (it must hold the CA) instead of CA_DIR/bundle.pem")
      ->type_name("FILE");
  CLI::Option* proxy =
      env->add_option("--proxy", o.caProxy,
                      "Also set the proxy variables and the JVM's proxy properties to this proxy")
          ->type_name("HOST:PORT");
  env->add_option("--no-proxy", o.caNoProxy,
                  "Hosts to reach without the proxy, comma-separated (NO_PROXY)")
      ->type_name("LIST")
      ->needs(proxy);
  for (CLI::App* sub : {init, show, exportCa, env}) {
    sub->callback([&o, name = sub->get_name()] { o.caCommand = name; });
  }
  return app;
}

int run(const Options& o) {
  if (!o.caCommand.empty()) return runCa(o);
  auto s = proxyServerOptions(o.daemon, kText);
  if (!s) return fail(ExitCode::kUsage, s.error().message);
  if (s->listen.empty()) s->listen = {kText.defaultListen};
  if (o.daemon.check) return checkProxyDaemon(o.daemon, kText, *s, "");
  return runProxyDaemon(o.daemon, kText, std::move(*s), "");
}

}  // namespace lens::app::proxy
