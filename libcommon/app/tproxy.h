#pragma once

#include <CLI/CLI.hpp>

#include <cstddef>
#include <memory>
#include <string>

#include "libcommon/app/proxy_daemon.h"
#include "libcommon/cli/cli.h"

namespace lens::app::tproxy {

// lens-tproxy: the transparent proxy for connections the cage redirects.
struct Options {
  cli::CommonOptions common;
  ProxyDaemonOptions daemon;  // --listen default 127.0.0.1:3129 and [::1]:3129 (when IPv6 is there)
  std::string mode = "redirect";  // redirect | tproxy (lens-lockdown --mode)
  double peekTimeout = 0.5;
  std::size_t maxClientHello = 16 * 1024;
};

std::unique_ptr<CLI::App> makeCli(Options& options);
int run(const Options& options);

}  // namespace lens::app::tproxy
