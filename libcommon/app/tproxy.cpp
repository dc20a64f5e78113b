#include "libcommon/app/tproxy.h"

#include <iostream>

#include "libcommon/proxy/transparent.h"
#include "libcommon/util/exit_code.h"

namespace lens::app::tproxy {

namespace {

const ProxyDaemonText kText{
    .tool = "lens-tproxy",
    .defaultListen = "127.0.0.1:3129 and [::1]:3129",
    .overLimit = "closed at once",
    .headerTimeoutHelp = "a TLS ClientHello or an HTTP request head",
    .idleHelp = "a relayed connection",
    .waitingNote = "every connection is refused",
    .noUpstream = "transport upstream is refused",
};

Result<lens::proxy::ServerOptions> serverOptions(const Options& o) {
  auto s = proxyServerOptions(o.daemon, kText);
  if (!s) return s;
  auto mode = lens::proxy::parseTransparentMode(o.mode);
  if (!mode) {
    return makeError(ErrorCode::kInvalidArgument,
                     "--mode: \"" + o.mode + "\" is neither redirect nor tproxy");
  }
  s->transparent = *mode;
  if (s->listen.empty()) {
    // IPv6 may be disabled in the container: then [::1] is skipped with a warning.
    s->listen = {"127.0.0.1:3129"};
    s->optionalListen = {"[::1]:3129"};
  }
  s->peekTimeout = fromSeconds(o.peekTimeout);
  s->maxClientHello = o.maxClientHello;
  return s;
}

}  // namespace

std::unique_ptr<CLI::App> makeCli(Options& o) {
  auto app = cli::makeApp(kText.tool,
                          "Transparent proxy: TCP connections the cage redirects, classified by "
                          "their first bytes (TLS SNI, HTTP Host, raw) and judged by the policy.",
                          o.common);
  addListenOption(*app, o.daemon, kText);
  app->add_option("--mode", o.mode,
                  "How connections arrive: redirect (nat REDIRECT, SO_ORIGINAL_DST) or tproxy "
                  "(IP_TRANSPARENT listener); as lens-lockdown --mode")
      ->check(CLI::IsMember({"redirect", "tproxy"}))
      ->type_name("MODE")
      ->capture_default_str();
  addProxyDaemonOptions(*app, o.daemon, kText);
  app->add_option("--peek-timeout", o.peekTimeout,
                  "Seconds to wait for the first bytes that tell TLS and HTTP apart; then the "
                  "connection is judged as raw TCP")
      ->check(CLI::Range(0.01, 60.0))
      ->capture_default_str();
  app->add_option("--max-client-hello", o.maxClientHello,
                  "Largest TLS ClientHello in bytes; larger ones are refused")
      ->check(CLI::Range(512, 262144))
      ->capture_default_str();
  return app;
}

int run(const Options& o) {
  auto s = serverOptions(o);
  if (!s) {
    std::cerr << kText.tool << ": " << s.error().message << '\n';
    return toInt(ExitCode::kUsage);
  }
  const std::string mode(lens::proxy::toString(s->transparent));
  if (o.daemon.check) {
    const std::string how =
        s->transparent == lens::proxy::TransparentMode::kTproxy
            ? " (IP_TRANSPARENT listeners, original destination = local address)"
            : " (original destination from SO_ORIGINAL_DST)";
    return checkProxyDaemon(o.daemon, kText, *s, "mode:      " + mode + how + "\n");
  }
  return runProxyDaemon(o.daemon, kText, std::move(*s), " (" + mode + ")");
}

}  // namespace lens::app::tproxy
