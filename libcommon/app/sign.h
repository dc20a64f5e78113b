#pragma once

#include <CLI/CLI.hpp>

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include "libcommon/cli/cli.h"

namespace lens::app::sign {

// lens-sign: AWS SigV4 signing and re-signing, credential placeholder
// exchange, on a request read from standard input.
struct Options {
  cli::CommonOptions common;
  std::string command;  // aws-sigv4, resign, inject

  // aws-sigv4
  std::string contextFile;
  std::string accessKey;
  std::string secretKey;
  std::string secretKeyFile;
  std::string sessionToken;
  std::string sessionTokenFile;
  std::string region;
  std::string service;
  bool presign = false;
  std::optional<std::uint32_t> expires;
  bool signBody = false;
  std::string payload;  // sha256, unsigned, streaming; empty: sha256
  std::size_t chunkSize = 64 * 1024;
  std::string stage = "request";

  // aws-sigv4 and resign
  std::string time;  // empty: the context file's, else now

  // resign and inject
  std::string policyFile;  // empty: $LENS_STATE_DIR/policy.json
  std::string host;        // HOST[:PORT]; resign: default the Host header

  std::size_t maxBody = 1024 * 1024;
};

std::unique_ptr<CLI::App> makeCli(Options& options);

// Reads the request from `in`, writes the result to `out` and at most one
// line naming the problem to `err`; returns the exit status.
int run(const Options& options, std::istream& in, std::ostream& out, std::ostream& err);
int run(const Options& options);  // standard input, output and error

}  // namespace lens::app::sign
