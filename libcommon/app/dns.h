#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "libcommon/cli/cli.h"

namespace lens::app::dns {

// lens-dns: the filtering DNS stub.
struct Options {
  cli::CommonOptions common;
  std::vector<std::string> listen;  // default 127.0.0.1:5355 and [::1]:5355
  std::vector<std::string> upstreams;
  int upstreamTimeoutMs = 1500;
  int upstreamTries = 2;
  std::string stateDir = "/run/lens";
  std::string policyFile;  // default STATE_DIR/policy.json
  std::string audit;       // default unix:STATE_DIR/audit.sock
  std::string readyFile;
  bool check = false;
  std::vector<std::string> bootstrapHosts;
  bool allowHttpsRr = false;
  bool noAaaa = false;
  bool noNft = false;
  std::uint64_t cacheSize = 16u << 20;
  std::uint32_t minTtl = 0;
  std::uint32_t maxTtl = 86400;
  std::uint32_t maxNegativeTtl = 3600;
  std::size_t maxInflight = 1024;
  std::size_t upstreamWindow = 128;
  std::size_t maxTcpConnections = 256;
  int tcpIdleSeconds = 10;
  std::string mark = "0x4e585553";
};

std::unique_ptr<CLI::App> makeCli(Options& options);
int run(const Options& options);

}  // namespace lens::app::dns
