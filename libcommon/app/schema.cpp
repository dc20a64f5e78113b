#include "libcommon/app/schema.h"

#include <cstdlib>
#include <iostream>
#include <variant>

#include "libcommon/decision/body.h"
#include "libcommon/decision/engine.h"
#include "libcommon/http/body_reader.h"
#include "libcommon/json/json_writer.h"
#include "libcommon/policy/default_policy.h"
#include "libcommon/policy/policy_parser.h"
#include "libcommon/policy/schema_generator.h"
#include "libcommon/policy/workload.h"
#include "libcommon/util/exit_code.h"
#include "libcommon/util/file.h"
#include "libcommon/util/strings.h"

namespace lens::app::schema {

namespace {

std::string defaultPolicyPath() {
  const char* state = std::getenv("LENS_STATE_DIR");
  return std::string(state && *state ? state : "/run/lens") + "/policy.json";
}

void printDiagnostics(const std::vector<policy::Diagnostic>& list) {
  for (const auto& d : list) std::cerr << d.format() << '\n';
}

int runPrint(const Options& o) {
  std::cout << (o.printDefaultPolicy ? std::string(policy::embeddedDefaultPolicy())
                                     : policy::generatePolicySchema());
  return toInt(ExitCode::kOk);
}

int runCheck(const Options& o) {
  bool allValid = true;
  for (const std::string& file : o.files) {
    policy::ParseOptions parse;
    parse.allowTransportFields = o.frames;
    const policy::ParseOutcome out = policy::loadPolicyFile(file, parse);
    printDiagnostics(out.errors);
    printDiagnostics(out.warnings);
    if (!out.ok()) {
      allValid = false;
      continue;
    }
    if (!o.quiet) {
      const auto& net = out.policy->network;
      std::cout << file << ": ok";
      if (net) {
        std::cout << " (" << net->http.size() << " http, " << net->tcp.size() << " tcp, "
                  << net->udp.size() << " udp rules; default "
                  << policy::toString(net->defaultVerdict) << ")";
      } else {
        std::cout << " (no network section: everything allowed)";
      }
      std::cout << '\n';
    }
  }
  return toInt(allValid ? ExitCode::kOk : ExitCode::kInvalidConfig);
}

std::string rulePath(const policy::PolicyDocument& doc, const decision::RuleRef& rule) {
  std::string table;
  if (rule.table == decision::Table::kHttp) {
    table = doc.network && doc.network->fromAllowedRoutes ? "network.allowedRoutes"
                                                          : "network.egress.http";
  } else {
    table = "network.egress." + std::string(decision::toString(rule.table));
  }
  return table + "[" + std::to_string(rule.index) + "]";
}

// The body of an explained request as a proxy reads it (the same limits
// and refusals, BodyLimits' defaults), classified; or the exit code after
// reporting why the file could not be read.
std::variant<decision::BodyFacts, int> readBody(const Options& o, const decision::Request& request,
                                                decision::BodyKind kind) {
  const decision::BodyLimits limits;
  http::RawRequest head;
  head.method = request.method;
  head.target = request.path;
  head.version = "HTTP/1.1";
  decision::BodyHeaders mirrored;
  for (const std::string& field : o.headers) {
    const std::size_t colon = field.find(':');
    if (colon == std::string::npos || colon == 0) {
      std::cerr << "lens-schema: --header must be \"Name: value\", not \"" << field << "\"\n";
      return toInt(ExitCode::kUsage);
    }
    const std::string name = field.substr(0, colon);
    std::string value = field.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t") + 1);
    head.addHeader(name, " " + value);
    if (util::iequals(name, "mcp-method")) mirrored.mcpMethod.push_back(value);
    if (util::iequals(name, "mcp-name")) mirrored.mcpName.push_back(value);
  }
  if (!o.contentType.empty()) head.addHeader("Content-Type", " " + o.contentType);
  // One byte over the limit is enough to tell "too large".
  auto text = util::readFile(o.bodyFile == "-" ? "/dev/stdin" : o.bodyFile, limits.of(kind) + 1);
  if (!text) {
    if (text.error().code == ErrorCode::kLimit) return decision::unreadableBody(kind, text.error());
    std::cerr << "lens-schema: --body " << o.bodyFile << ": " << text.error().message << '\n';
    return toInt(ExitCode::kUsage);
  }
  auto reader =
      http::BodyReader::start(head, http::Framing::kLength, text->size(), limits.of(kind));
  if (!reader) return decision::unreadableBody(kind, reader.error());
  return decision::classifyBody(kind, request.method, request.path, *text, mirrored);
}

int runExplain(const Options& o) {
  const std::string file = o.policyFile.empty() ? defaultPolicyPath() : o.policyFile;
  const policy::ParseOutcome out = policy::loadInstalledPolicy(file);
  printDiagnostics(out.errors);
  if (!out.ok()) return toInt(ExitCode::kInvalidConfig);
  printDiagnostics(out.warnings);

  decision::Request request;
  request.door = *decision::parseDoor(o.door);
  request.host = o.host;
  if (!o.addr.empty()) {
    request.address = net::IpAddress::parse(o.addr);
    if (!request.address) {
      std::cerr << "lens-schema: --addr " << o.addr << " is not an IP address\n";
      return toInt(ExitCode::kUsage);
    }
  }
  request.port = static_cast<std::uint16_t>(o.port);
  if (!o.scheme.empty())
    request.scheme = o.scheme == "http" ? policy::Scheme::kHttp : policy::Scheme::kHttps;
  request.method = o.method;
  request.path = o.path;
  request.callerChain = o.callers;
  request.upgrade = o.upgrade && !o.method.empty();

  const decision::Engine engine(out.policy);
  decision::Decision d = engine.decide(request);
  if (d.body != decision::BodyKind::kNone && !o.bodyFile.empty()) {
    auto facts = readBody(o, request, d.body);
    if (const int* code = std::get_if<int>(&facts)) return *code;
    request.body = std::make_shared<const decision::BodyFacts>(
        std::move(std::get<decision::BodyFacts>(facts)));
    d = engine.decide(request);
  }

  if (o.json) {
    json::ObjectWriter w;
    w.field("verdict", policy::toString(d.verdict));
    w.field("transport", policy::toString(d.transport));
    if (d.rule) {
      w.beginObject("rule")
          .field("table", decision::toString(d.rule->table))
          .field("index", d.rule->index)
          .field("match", d.rule->match)
          .field("path", rulePath(*out.policy, *d.rule))
          .endObject();
    } else {
      w.fieldNull("rule");
    }
    w.field("reason", d.reason);
    w.field("intercept", d.intercept);
    if (d.graphqlFrames) w.field("graphql_frames", true);
    w.beginArray("credentials");
    for (const auto& c : d.credentials) {
      w.beginObject().field("id", c.id).field("injection", policy::toString(c.type)).endObject();
    }
    w.endArray();
    if (request.body) {
      const decision::BodyFacts& b = *request.body;
      w.beginObject("body").field("kind", decision::toString(b.kind));
      if (b.problem) w.field("problem", b.problem->message);
      if (!b.graphqlOperations().empty()) w.field("graphql_operation", b.graphqlOperations());
      if (!b.mcpMethod().empty()) w.field("mcp_method", b.mcpMethod());
      if (!b.mcpTool().empty()) w.field("mcp_tool", b.mcpTool());
      w.endObject();
    } else if (d.body != decision::BodyKind::kNone) {
      w.beginObject("body")
          .field("kind", decision::toString(d.body))
          .field("needed", true)
          .endObject();
    }
    w.field("detail", d.detail);
    w.field("policy_version", out.policy->version);
    std::cout << w.finish() << '\n';
  } else {
    std::cout << "verdict:     " << policy::toString(d.verdict) << '\n'
              << "transport:   " << policy::toString(d.transport) << '\n'
              << "rule:        "
              << (d.rule ? rulePath(*out.policy, *d.rule) + " \"" + d.rule->match + "\""
                         : std::string("none (default)"))
              << '\n'
              << "reason:      " << d.reason << '\n'
              << "intercept:   " << (d.intercept ? "yes" : "no") << '\n';
    if (d.graphqlFrames)
      std::cout << "frames:      each graphql-ws frame is judged by the GraphQL rules\n";
    if (!d.credentials.empty()) {
      std::cout << "credentials:";
      for (const auto& c : d.credentials)
        std::cout << ' ' << c.id << " (" << policy::toString(c.type) << ")";
      std::cout << '\n';
    }
    if (request.body) {
      const decision::BodyFacts& b = *request.body;
      std::cout << "body:        " << decision::toString(b.kind);
      if (b.problem) std::cout << " (cannot be judged: " << b.problem->message << ")";
      if (!b.graphqlOperations().empty()) std::cout << " (" << b.graphqlOperations() << ")";
      if (!b.mcpMethod().empty())
        std::cout << " (" << b.mcpMethod() << (b.mcpTool().empty() ? "" : " " + b.mcpTool()) << ")";
      std::cout << '\n';
    } else if (d.body != decision::BodyKind::kNone) {
      std::cout << "body:        needed: " << decision::toString(d.body)
                << " rules judge it (pass --body FILE)\n";
    }
    std::cout << "detail:      " << d.detail << '\n';
  }
  return toInt(d.verdict == policy::Verdict::kDeny ? ExitCode::kDenied : ExitCode::kOk);
}

// The policy of env and files, or the exit code after reporting why not.
std::variant<std::shared_ptr<const policy::PolicyDocument>, int> loadForWorkload(const Options& o) {
  const std::string file =
      o.workloadPolicyFile.empty() ? defaultPolicyPath() : o.workloadPolicyFile;
  const policy::ParseOutcome out = policy::loadInstalledPolicy(file);
  printDiagnostics(out.errors);
  if (!out.ok()) return toInt(ExitCode::kInvalidConfig);
  return out.policy;
}

int runEnv(const Options& o) {
  auto loaded = loadForWorkload(o);
  if (const int* code = std::get_if<int>(&loaded)) return *code;
  for (const auto& [name, value] : policy::workloadEnvironment(*std::get<0>(loaded))) {
    std::cout << "export " << name << '=' << util::shellQuote(value) << '\n';
  }
  return toInt(ExitCode::kOk);
}

int runFiles(const Options& o) {
  unsigned long uid = 0;
  unsigned long gid = 0;
  const auto colon = o.owner.find(':');
  const auto u = colon == std::string::npos
                     ? std::nullopt
                     : util::parseDecimal(o.owner.substr(0, colon), 0xfffffffeUL);
  const auto g = colon == std::string::npos
                     ? std::nullopt
                     : util::parseDecimal(o.owner.substr(colon + 1), 0xfffffffeUL);
  if (!u || !g) {
    std::cerr << "lens-schema: files: --owner must be UID:GID (numbers), not \"" << o.owner
              << "\"\n";
    return toInt(ExitCode::kUsage);
  }
  uid = *u;
  gid = *g;
  auto loaded = loadForWorkload(o);
  if (const int* code = std::get_if<int>(&loaded)) return *code;
  auto written = policy::writeWorkloadFiles(*std::get<0>(loaded), static_cast<uid_t>(uid),
                                            static_cast<gid_t>(gid), o.filesRoot);
  if (!written) {
    std::cerr << "lens-schema: files: " << written.error().message << '\n';
    return toInt(exitCodeFor(written.error().code));
  }
  return toInt(ExitCode::kOk);
}

}  // namespace

std::unique_ptr<CLI::App> makeCli(Options& o) {
  auto app = cli::makeApp(
      "lens-schema", "Print the policy JSON Schema, check policies, explain decisions.", o.common);
  app->require_subcommand(1);

  CLI::App* print = app->add_subcommand("print", "Print the policy JSON Schema (draft 2020-12)");
  print->add_flag("--default-policy", o.printDefaultPolicy,
                  "Print the embedded deny-by-default policy instead");
  print->callback([&o] { o.command = "print"; });

  CLI::App* check =
      app->add_subcommand("check", "Validate policy files; report every error with its location");
  check->add_option("files", o.files, "Policy files")->required()->type_name("FILE");
  check->add_flag("--frames", o.frames,
                  "Accept control-plane frame fields (type, proxyUpstream, ...)");
  check->add_flag("-q,--quiet", o.quiet, "Print nothing for valid files");
  check->callback([&o] { o.command = "check"; });

  CLI::App* explain = app->add_subcommand("explain", "Show which rule decides a request, and how");
  explain->add_option("--policy", o.policyFile, "Policy file (default $LENS_STATE_DIR/policy.json)")
      ->type_name("FILE");
  explain->add_option("--door", o.door, "Where the request enters")
      ->check(CLI::IsMember(
          {"dns", "connect", "forward", "transparent-tls", "transparent-http", "raw-tcp", "udp"}))
      ->capture_default_str();
  auto* host =
      explain->add_option("--host", o.host, "Host as the client sends it (name or IP literal)");
  auto* addr =
      explain->add_option("--addr", o.addr, "Destination IP address (resolved or original)");
  explain
      ->add_option("--port", o.port,
                   "Destination port (default: 443, or 80 for forward and transparent-http)")
      ->check(CLI::Range(0, 65535));
  explain->add_option("--method", o.method, "HTTP method of a request inside the connection");
  explain->add_option("--path", o.path, "Request path (with --method)")->capture_default_str();
  explain->add_option("--scheme", o.scheme, "Override the door's scheme")
      ->check(CLI::IsMember({"http", "https"}));
  explain->add_option("--caller", o.callers, "Caller executable, then its ancestors (repeatable)");
  explain
      ->add_option("--body", o.bodyFile,
                   "Request body (a file, - for stdin), judged when GraphQL or MCP rules cover "
                   "the request")
      ->type_name("FILE");
  explain->add_option("--content-type", o.contentType, "Content-Type of the --body");
  explain->add_option("--header", o.headers,
                      "A header of the request, \"Name: value\" (repeatable)");
  explain->add_flag("--upgrade", o.upgrade,
                    "The request asks for a WebSocket upgrade (a GraphQL subscription socket)");
  explain->add_flag("--json", o.json, "Print one JSON object");
  explain->callback([&o, host, addr] {
    o.command = "explain";
    if (host->count() == 0 && addr->count() == 0)
      throw CLI::ValidationError("explain", "--host or --addr is required");
  });
  CLI::App* env =
      app->add_subcommand("env", "Print the workload's environment from a policy as shell exports");
  env->add_option("--policy", o.workloadPolicyFile,
                  "Policy file (default $LENS_STATE_DIR/policy.json)")
      ->type_name("FILE");
  env->callback([&o] { o.command = "env"; });

  CLI::App* files =
      app->add_subcommand("files", "Write the policy's files for the workload, owned by it");
  files
      ->add_option("--policy", o.workloadPolicyFile,
                   "Policy file (default $LENS_STATE_DIR/policy.json)")
      ->type_name("FILE");
  files->add_option("--owner", o.owner, "Owner of the files: UID:GID")
      ->required()
      ->type_name("UID:GID");
  files->add_option("--root", o.filesRoot, "Directory that stands for /tmp")
      ->capture_default_str()
      ->type_name("DIR");
  files->callback([&o] { o.command = "files"; });
  return app;
}

int run(const Options& o) {
  if (o.command == "print") return runPrint(o);
  if (o.command == "check") return runCheck(o);
  if (o.command == "explain") return runExplain(o);
  if (o.command == "env") return runEnv(o);
  if (o.command == "files") return runFiles(o);
  return toInt(ExitCode::kUsage);
}

}  // namespace lens::app::schema
