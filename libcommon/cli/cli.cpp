#include "libcommon/cli/cli.h"

#include <algorithm>
#include <cstring>
#include <iostream>

#include "libcommon/json/json_writer.h"
#include "libcommon/log/logging.h"
#include "libcommon/util/exit_code.h"

namespace lens::cli {

namespace {

constexpr std::string_view kCliSpecFlag = "--cli-spec";

bool isShared(const CLI::Option* opt) {
  for (const std::string& name : opt->get_lnames()) {
    if (name == "help" || name == "version" || name == "cli-spec") return true;
  }
  return false;
}

// Settings of a subcommand that are the toolkit's shared settings (DESIGN.md
// section 3) get their variable too; other subcommand options are per-call
// arguments (a host to explain, a file to check) and get none, so that a
// stray LENS_HOST does not change every tool.
bool isSharedSetting(const CLI::Option* opt) {
  static constexpr std::string_view kShared[] = {"policy", "state-dir", "audit", "listen",
                                                 "log-level"};
  const std::string& name = opt->get_lnames().front();
  return std::find(std::begin(kShared), std::end(kShared), name) != std::end(kShared);
}

void applyEnvNames(CLI::App& app, bool topLevel) {
  for (CLI::Option* opt : app.get_options()) {
    if (opt->get_positional() || opt->get_lnames().empty() || isShared(opt) ||
        !opt->get_envname().empty()) {
      continue;
    }
    if (topLevel || isSharedSetting(opt)) opt->envname(envNameFor(opt->get_lnames().front()));
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    applyEnvNames(*sub, false);
}

void writeApp(json::ObjectWriter& w, const CLI::App& app) {
  w.field("name", app.get_name());
  w.field("description", app.get_description());
  w.beginArray("options");
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_group().empty()) continue;  // hidden
    w.beginObject();
    w.beginArray("names");
    for (const std::string& s : opt->get_snames()) w.element("-" + s);
    for (const std::string& l : opt->get_lnames()) w.element("--" + l);
    if (opt->get_positional()) w.element(opt->get_name());
    w.endArray();
    w.field("positional", opt->get_positional());
    w.field("takes_value", opt->get_expected_max() != 0 && opt->get_type_size() != 0);
    w.field("repeatable", opt->get_expected_max() > 1 ||
                              opt->get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll);
    w.field("required", opt->get_required());
    w.field("type", opt->get_type_name());
    w.field("env", opt->get_envname());
    w.field("description", opt->get_description());
    w.endObject();
  }
  w.endArray();
  w.beginArray("subcommands");
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    w.beginObject();
    writeApp(w, *sub);
    w.endObject();
  }
  w.endArray();
}

}  // namespace

std::string envNameFor(std::string_view longName) {
  std::string out = "LENS_";
  for (char c : longName) {
    out += (c == '-') ? '_' : (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  }
  return out;
}

std::unique_ptr<CLI::App> makeApp(std::string name, std::string description,
                                  CommonOptions& common) {
  auto app = std::make_unique<CLI::App>(std::move(description), std::move(name));
  app->fallthrough();  // shared options are accepted after a subcommand too
  app->set_version_flag("--version", app->get_name() + " " LENS_VERSION);
  app->add_option("--log-level", common.logLevel,
                  "Diagnostics on stderr: trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app->add_flag(std::string(kCliSpecFlag))
      ->description("Print the command-line options as JSON")
      ->group("");
  app->footer(
      "Exit status: 0 ok, 1 runtime failure, 2 usage, 3 invalid configuration or policy,\n"
      "4 denied, 5 missing privilege or kernel feature.");
  return app;
}

std::optional<int> parse(CLI::App& app, int argc, const char* const* argv, CommonOptions& common) {
  applyEnvNames(app, true);
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], kCliSpecFlag.data()) == 0) {
      std::cout << cliSpecJson(app) << '\n';
      return toInt(ExitCode::kOk);
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? code : toInt(ExitCode::kUsage);
  }
  log::setup(common.logLevel);
  return std::nullopt;
}

std::string cliSpecJson(const CLI::App& app) {
  json::ObjectWriter w;
  writeApp(w, app);
  return w.finish();
}

}  // namespace lens::cli
