#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace lens::cli {

// Options every tool shares.
struct CommonOptions {
  std::string logLevel = "info";
};

// A CLI11 app with the shared options: --help, --version, --log-level and
// the hidden --cli-spec (prints the option list as JSON; the man page test
// and the completion generator read it).
std::unique_ptr<CLI::App> makeApp(std::string name, std::string description, CommonOptions& common);

// Parses argv. Returns an exit code when the tool should stop now (help,
// version, --cli-spec, usage error), or nullopt to go on. Before parsing,
// every long option without an environment variable gets LENS_<NAME>
// (flags win over the environment). Sets up logging at --log-level.
std::optional<int> parse(CLI::App& app, int argc, const char* const* argv, CommonOptions& common);

// The JSON option list printed by --cli-spec.
std::string cliSpecJson(const CLI::App& app);

// LENS_<NAME> for a long option name ("state-dir" -> "LENS_STATE_DIR").
std::string envNameFor(std::string_view longName);

}  // namespace lens::cli
