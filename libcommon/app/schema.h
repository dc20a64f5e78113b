#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libcommon/cli/cli.h"

namespace lens::app::schema {

// lens-schema: print the policy JSON Schema, check policy files, explain decisions.
struct Options {
  cli::CommonOptions common;
  std::string command;  // print, check, explain, env, files

  // print
  bool printDefaultPolicy = false;

  // check
  std::vector<std::string> files;
  bool frames = false;  // accept control-plane frame fields
  bool quiet = false;

  // explain
  std::string policyFile;
  std::string door = "connect";
  std::string host;
  std::string addr;
  int port = 0;
  std::string method;
  std::string path = "/";
  std::string scheme;
  std::vector<std::string> callers;
  std::string bodyFile;              // explain: the request body, when body rules judge it
  std::string contentType;           // explain: its Content-Type
  std::vector<std::string> headers;  // explain: "Name: value" fields (Mcp-Method, ...)
  bool upgrade = false;              // explain: the request asks for a WebSocket upgrade
  bool json = false;

  // env, files
  std::string workloadPolicyFile;
  std::string owner;  // files: UID:GID
  std::string filesRoot = "/tmp";
};

std::unique_ptr<CLI::App> makeCli(Options& options);
int run(const Options& options);

}  // namespace lens::app::schema
