#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libcommon/cli/cli.h"

namespace lens::app::policy_sync {

// lens-policy-sync: the control-plane client (DESIGN.md sections 2 and 8).
struct Options {
  cli::CommonOptions common;

  std::string url;         // ws:// or wss://; server mode
  std::string policyFile;  // standalone mode
  std::string tokenFile;   // else LENS_TOKEN
  std::string caFile;
  std::string stateDir = "/run/lens";
  std::string policy;          // default STATE/policy.json
  std::string auditSocket;     // default STATE/audit.sock
  std::string approvalSocket;  // default STATE/approval.sock
  double approvalTimeout = 60;
  std::size_t maxPending = 1024;
  std::string approveWith;  // a program that answers prompts
  std::string spoolMax = "64M";
  std::string maxFrame = "16M";
  std::vector<std::string> notifyPidfiles;
  double pingInterval = 20;
  double pongTimeout = 60;
  std::string readyFile;
  bool check = false;
};

std::unique_ptr<CLI::App> makeCli(Options& options);

// "64M" -> 67108864: a byte count with an optional K, M or G suffix (powers of 1024).
[[nodiscard]] std::optional<std::uint64_t> parseSize(const std::string& text);

int run(const Options& options);

}  // namespace lens::app::policy_sync
