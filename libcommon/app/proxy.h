#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "libcommon/app/proxy_daemon.h"
#include "libcommon/cli/cli.h"

namespace lens::app::proxy {

// lens-proxy: the explicit HTTP proxy (CONNECT and absolute-form requests).
struct Options {
  cli::CommonOptions common;
  ProxyDaemonOptions daemon;  // --listen default 127.0.0.1:3128

  // lens-proxy ca init|show|export|env: the interception CA and its trust.
  std::string caCommand;  // empty: run the proxy
  std::string caDir;      // default STATE_DIR/ca
  int caDays = 3650;
  bool caForce = false;
  std::string caOut;  // export: default standard output
  std::string
      caBundle;  // export: a bundle to put the CA certificate after; env: the bundle to name
  std::string caFormat = "pem";  // export: pem or pkcs12
  std::string caShell = "sh";    // env: sh or fish
  std::string caProxy;           // env: HOST:PORT of the workload's proxy
  std::string caNoProxy;         // env: NO_PROXY entries, comma-separated
};

std::unique_ptr<CLI::App> makeCli(Options& options);
int run(const Options& options);

}  // namespace lens::app::proxy
