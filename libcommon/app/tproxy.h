#pragma once

#include <CLI/CLI.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "libcommon/cli/cli.h"

namespace lens::app::tproxy {

// lens-tproxy: the transparent proxy for connections the cage redirects.
struct Options {
  cli::CommonOptions common;
  std::vector<std::string> listen;  // default 127.0.0.1:3129 and [::1]:3129 (when IPv6 is there)
  std::string mode = "redirect";    // redirect | tproxy (lens-lockdown --mode)
  std::string stateDir = "/run/lens";
  std::string policyFile;  // default STATE_DIR/policy.json
  std::string audit;       // default unix:STATE_DIR/audit.sock
  std::string readyFile;
  bool check = false;
  std::size_t maxConnections = 1024;
  double peekTimeout = 0.5;
  std::size_t maxClientHello = 16 * 1024;
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
};

std::unique_ptr<CLI::App> makeCli(Options& options);
int run(const Options& options);

}  // namespace lens::app::tproxy
