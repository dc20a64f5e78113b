#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "libcommon/cli/cli.h"
#include "libcommon/lockdown/allow_set.h"
#include "libcommon/lockdown/ruleset.h"

namespace lens::app::lockdown {

// lens-lockdown: render, check, apply, show and remove the nftables cage.
struct Options {
  cli::CommonOptions common;
  std::string command;  // render, check, apply, show, remove, watch

  std::string mode = "redirect";
  std::string scope = "all";
  std::string policyFile;  // optional: static raw-allow elements
  int dnsPort = 5355;
  int transparentPort = 3129;
  std::string mark = "0x4e585553";
  std::string tproxyMark = "0x4e585554";
  int routeTable = 3129;
  int logGroup = lens::lockdown::kDefaultLogGroup;  // NFLOG group of the refusal log

  // watch
  std::string audit;  // empty: unix:STATE_DIR/audit.sock
  std::string stateDir = "/run/lens";
  std::string readyFile;
};

std::unique_ptr<CLI::App> makeCli(Options& options);

// What a command would install: the configuration and the static elements of
// --policy. Checks the options (and, for check and apply, that a cgroup scope
// exists); on failure prints why and holds the exit code.
struct Plan {
  lens::lockdown::Config config;
  std::vector<lens::lockdown::AllowElement> elements;
};
std::variant<Plan, int> makePlan(const Options& options);

int run(const Options& options);

// `watch`: binds the NFLOG group and writes one audit event per refused
// packet until SIGTERM or SIGINT (libcommon/app/lockdown_watch.cpp).
int runWatch(const Options& options, const Plan& plan);

}  // namespace lens::app::lockdown
