#include "libcommon/app/lockdown.h"

#include <linux/capability.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <variant>

#include "libcommon/lockdown/allow_set.h"
#include "libcommon/lockdown/ruleset.h"
#include "libcommon/net/policy_routing.h"
#include "libcommon/net/socket_mark.h"
#include "libcommon/nft/nft_context.h"
#include "libcommon/policy/policy_parser.h"
#include "libcommon/util/exit_code.h"
#include "libcommon/util/privilege.h"
#include "libcommon/util/strings.h"

namespace lens::app::lockdown {

namespace {

using lens::lockdown::Config;

// The rule preference of the TPROXY fwmark rule (before main at 32766).
constexpr std::uint32_t kRulePriority = 3129;

const std::string kTable =
    std::string(lens::lockdown::kTableFamily) + " " + std::string(lens::lockdown::kTableName);

int fail(const Options& o, ExitCode code, const std::string& message) {
  std::cerr << "lens-lockdown: " << o.command << ": " << message << '\n';
  return toInt(code);
}

// A mark the cage matches on: a zero mark would match every unmarked packet.
Result<std::uint32_t> parseCageMark(std::string_view option, const std::string& text) {
  auto value = net::parseMark(option, text);
  if (value && *value == 0) {
    return makeError(ErrorCode::kInvalidArgument, "invalid " + std::string(option) + " \"" + text +
                                                      "\": the mark must not be zero");
  }
  return value;
}

// Where cgroup v2 is mounted, from /proc/self/mounts; empty when it is not.
std::string cgroup2Root() {
  std::ifstream mounts("/proc/self/mounts");
  std::string device, mountPoint, type;
  std::string rest;
  while (mounts >> device >> mountPoint >> type && std::getline(mounts, rest)) {
    if (type == "cgroup2") return mountPoint;
  }
  return {};
}

// nftables resolves a cgroupv2 scope to the cgroup's id when the rule is
// loaded, looking the path up below /sys/fs/cgroup: the cgroup must exist,
// and in the hybrid layout (cgroup v2 at /sys/fs/cgroup/unified) the path
// needs that prefix while the level still counts from the v2 root.
std::optional<int> resolveCgroup(const Options& o, lens::lockdown::Scope& scope) {
  if (scope.kind != lens::lockdown::Scope::Kind::kCgroup) return std::nullopt;
  constexpr std::string_view kNftRoot = "/sys/fs/cgroup";
  const std::string root = cgroup2Root();
  if (root.empty())
    return fail(o, ExitCode::kPrivilege, "--scope cgroup: needs cgroup v2, which is not mounted");
  if (root != kNftRoot && !root.starts_with(std::string(kNftRoot) + "/")) {
    return fail(o, ExitCode::kPrivilege,
                "--scope cgroup: cgroup v2 is mounted at " + root +
                    ", but nftables looks cgroups up below " + std::string(kNftRoot));
  }
  scope.cgroupMountPrefix =
      root.size() > kNftRoot.size() ? root.substr(kNftRoot.size() + 1) : std::string();
  std::error_code ec;
  if (!std::filesystem::is_directory(root + "/" + scope.cgroup, ec)) {
    return fail(o, ExitCode::kInvalidConfig,
                "--scope " + scope.toString() + ": no such cgroup (" + root + "/" + scope.cgroup +
                    " does not exist); create it before applying the cage");
  }
  return std::nullopt;
}

}  // namespace

std::variant<Plan, int> makePlan(const Options& o) {
  Plan plan;
  Config& c = plan.config;
  c.mode = o.mode == "tproxy" ? lens::lockdown::Mode::kTproxy : lens::lockdown::Mode::kRedirect;
  auto scope = lens::lockdown::Scope::parse(o.scope);
  if (!scope) return fail(o, ExitCode::kUsage, scope.error().message);
  c.scope = *scope;
  const bool touchesKernel = o.command == "check" || o.command == "apply";
  if (touchesKernel) {
    if (auto code = resolveCgroup(o, c.scope)) return *code;
  }
  auto mark = parseCageMark("--mark", o.mark);
  if (!mark) return fail(o, ExitCode::kUsage, mark.error().message);
  auto tproxyMark = parseCageMark("--tproxy-mark", o.tproxyMark);
  if (!tproxyMark) return fail(o, ExitCode::kUsage, tproxyMark.error().message);
  if (*mark == *tproxyMark)
    return fail(o, ExitCode::kUsage, "--mark and --tproxy-mark must differ");
  c.mark = *mark;
  c.tproxyMark = *tproxyMark;
  c.dnsPort = static_cast<std::uint16_t>(o.dnsPort);
  c.transparentPort = static_cast<std::uint16_t>(o.transparentPort);
  c.routeTable = static_cast<std::uint32_t>(o.routeTable);
  c.logGroup = static_cast<std::uint16_t>(o.logGroup);
  const bool buildsRuleset = o.command == "render" || o.command == "check" || o.command == "apply";
  if (buildsRuleset && !o.policyFile.empty()) {
    const policy::ParseOutcome out = policy::loadInstalledPolicy(o.policyFile);
    for (const auto& d : out.errors) std::cerr << d.format() << '\n';
    if (!out.ok())
      return fail(o, ExitCode::kInvalidConfig,
                  "invalid policy " + o.policyFile + ": nothing changed");
    for (const auto& d : out.warnings) std::cerr << d.format() << '\n';
    plan.elements = lens::lockdown::staticAllowElements(*out.policy);
  }
  return plan;
}

namespace {

net::FwmarkRoute fwmarkRoute(const Config& c) {
  return {c.tproxyMark, c.routeTable, kRulePriority};
}

// Maps an nftables or rtnetlink failure onto the exit code table.
int failWith(const Options& o, const Error& e, bool transaction) {
  switch (e.code) {
    case ErrorCode::kPermission:
      return fail(
          o, ExitCode::kPrivilege,
          "nftables refused: " + e.message + " (needs CAP_NET_ADMIN and a kernel with nf_tables)");
    case ErrorCode::kNotFound:
      if (transaction) {
        return fail(o, ExitCode::kPrivilege,
                    "the kernel lacks an nftables feature the ruleset needs: " + e.message +
                        " (nf_tables, nft_nat, nft_reject, nft_tproxy or nft_socket missing, or "
                        "the cgroup does not "
                        "exist)");
      }
      return fail(o, ExitCode::kFailure, e.message);
    default:
      return fail(o, ExitCode::kFailure, "nftables rejected the ruleset: " + e.message);
  }
}

std::optional<int> requireNetAdmin(const Options& o) {
  if (hasEffectiveCapability(CAP_NET_ADMIN)) return std::nullopt;
  return fail(o, ExitCode::kPrivilege,
              "needs CAP_NET_ADMIN (run as root, or grant the capability); nothing changed");
}

std::string summary(const Plan& p) {
  return "mode " + std::string(toString(p.config.mode)) + ", scope " + p.config.scope.toString() +
         ", " + std::to_string(p.elements.size()) + " static raw-allow element" +
         (p.elements.size() == 1 ? "" : "s");
}

int runRender(const Plan& p) {
  std::cout << lens::lockdown::renderScript(p.config, p.elements);
  return toInt(ExitCode::kOk);
}

int runCheck(const Options& o, const Plan& p) {
  if (auto code = requireNetAdmin(o)) return *code;
  nft::NftContext nft;
  auto result = nft.run(lens::lockdown::renderScript(p.config, p.elements), /*dryRun=*/true);
  if (!result) return failWith(o, result.error(), true);
  std::cout << "ruleset ok: " << summary(p) << " (dry run, nothing changed)\n";
  return toInt(ExitCode::kOk);
}

int runApply(const Options& o, const Plan& p) {
  if (auto code = requireNetAdmin(o)) return *code;
  const net::FwmarkRoute route = fwmarkRoute(p.config);
  const bool tproxy = p.config.mode == lens::lockdown::Mode::kTproxy;
  bool routeWasThere = false;
  if (tproxy) {
    auto there = net::fwmarkRouteInstalled(route);
    if (!there) return failWith(o, there.error(), false);
    routeWasThere = *there;
    if (auto ok = net::installFwmarkRoute(route); !ok) return failWith(o, ok.error(), false);
  }
  nft::NftContext nft;
  auto result = nft.run(lens::lockdown::renderScript(p.config, p.elements));
  if (!result) {
    // The transaction left the kernel as it was; take back the routing too.
    if (tproxy && !routeWasThere) (void)net::removeFwmarkRoute(route);
    return failWith(o, result.error(), true);
  }
  if (!tproxy) {
    if (auto ok = net::removeFwmarkRoute(route); !ok) return failWith(o, ok.error(), false);
  }
  std::cerr << "lens-lockdown: cage applied: " << summary(p) << '\n';
  return toInt(ExitCode::kOk);
}

int runShow(const Options& o, const Plan& p) {
  if (auto code = requireNetAdmin(o)) return *code;
  nft::NftContext nft;
  auto result = nft.run("list table " + kTable);
  if (!result && result.error().code == ErrorCode::kNotFound) {
    std::cout << "no cage installed: table " << kTable << " does not exist\n";
    return toInt(ExitCode::kFailure);
  }
  if (!result) return failWith(o, result.error(), false);
  std::cout << *result;
  auto routed = net::fwmarkRouteInstalled(fwmarkRoute(p.config));
  if (routed && *routed) {
    std::cout << "# policy routing (tproxy): fwmark " << o.tproxyMark << " lookup "
              << p.config.routeTable << " priority " << kRulePriority
              << "; local default routes dev lo in table " << p.config.routeTable << '\n';
  }
  return toInt(ExitCode::kOk);
}

int runRemove(const Options& o, const Plan& p) {
  if (auto code = requireNetAdmin(o)) return *code;
  nft::NftContext nft;
  auto result = nft.run("delete table " + kTable);
  if (!result && result.error().code != ErrorCode::kNotFound)
    return failWith(o, result.error(), false);
  if (auto ok = net::removeFwmarkRoute(fwmarkRoute(p.config)); !ok)
    return failWith(o, ok.error(), false);
  std::cerr << "lens-lockdown: cage removed" << (result ? "" : " (none was installed)") << '\n';
  return toInt(ExitCode::kOk);
}

}  // namespace

std::unique_ptr<CLI::App> makeCli(Options& o) {
  auto app = cli::makeApp("lens-lockdown",
                          "Render, check, apply, show and remove the nftables cage.", o.common);
  app->require_subcommand(1);
  app->add_option("--mode", o.mode,
                  "How unmarked TCP reaches the transparent proxy: redirect or tproxy")
      ->check(CLI::IsMember({"redirect", "tproxy"}))
      ->capture_default_str();
  app->add_option("--scope", o.scope, "Which sockets are caged: all, uid:N or cgroup:PATH")
      ->capture_default_str();
  app->add_option("--policy", o.policyFile,
                  "Policy whose tcp/udp IP and CIDR rules fill the static raw-allow sets")
      ->type_name("FILE");
  app->add_option("--dns-port", o.dnsPort, "Local port of the DNS stub (lens-dns)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app->add_option("--transparent-port", o.transparentPort,
                  "Local port of the transparent proxy (lens-tproxy)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app->add_option("--mark", o.mark, "Socket mark of trusted traffic (the daemons' SO_MARK)")
      ->capture_default_str();
  app->add_option("--tproxy-mark", o.tproxyMark,
                  "Mark that steers packets to the TPROXY route (tproxy mode)")
      ->capture_default_str();
  app->add_option("--route-table", o.routeTable,
                  "Routing table of the TPROXY local route (tproxy mode)")
      ->check(CLI::Range(1, 0x7fffffff))
      ->capture_default_str();
  app->add_option("--log-group", o.logGroup,
                  "NFLOG group the cage logs refused packets to (and watch reads)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();

  const std::pair<const char*, const char*> commands[] = {
      {"render", "Print the ruleset (the transaction apply runs); touch nothing"},
      {"check", "Validate the ruleset with the kernel as a dry run; change nothing"},
      {"apply", "Install or replace the cage in one transaction"},
      {"show", "Print the installed cage, or say that none is installed (exit 1)"},
      {"remove", "Delete the cage (an absent cage is success)"},
  };
  for (const auto& [name, help] : commands) {
    app->add_subcommand(name, help)->callback([&o, command = std::string(name)] {
      o.command = command;
    });
  }
  CLI::App* watch = app->add_subcommand(
      "watch",
      "Write an audit event for each packet the cage refuses (NFLOG), until SIGTERM or SIGINT");
  watch->callback([&o] { o.command = "watch"; });
  watch
      ->add_option("--audit", o.audit,
                   "Audit sink: -, a file, unix:PATH, or off (default unix:STATE_DIR/audit.sock)")
      ->type_name("SINK");
  watch->add_option("--state-dir", o.stateDir, "State directory (audit.sock)")
      ->capture_default_str();
  watch->add_option("--ready-file", o.readyFile, "Create this file once the NFLOG group is bound")
      ->type_name("FILE")
      ->envname("LENS_READY_FILE");
  return app;
}

int run(const Options& o) {
  auto plan = makePlan(o);
  if (const int* code = std::get_if<int>(&plan)) return *code;
  const Plan& p = std::get<Plan>(plan);
  if (o.command == "render") return runRender(p);
  if (o.command == "check") return runCheck(o, p);
  if (o.command == "apply") return runApply(o, p);
  if (o.command == "show") return runShow(o, p);
  if (o.command == "remove") return runRemove(o, p);
  if (o.command == "watch") return runWatch(o, p);
  return toInt(ExitCode::kUsage);
}

}  // namespace lens::app::lockdown
