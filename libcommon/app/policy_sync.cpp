#include "libcommon/app/policy_sync.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/NetSSL.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <variant>

#include "libcommon/approval/broker.h"
#include "libcommon/log/logging.h"
#include "libcommon/net/socket_mark.h"
#include "libcommon/sync/agent.h"
#include "libcommon/sync/audit_intake.h"
#include "libcommon/sync/client.h"
#include "libcommon/sync/control_socket.h"
#include "libcommon/sync/protocol.h"
#include "libcommon/sync/spool.h"
#include "libcommon/sync/token.h"
#include "libcommon/util/exit_code.h"
#include "libcommon/util/unique_fd.h"

namespace lens::app::policy_sync {

namespace {

constexpr std::string_view kTool = "lens-policy-sync";
constexpr std::uint64_t kMinSpool = 64 * 1024;

int fail(ExitCode code, const std::string& message) {
  std::cerr << kTool << ": " << message << '\n';
  return toInt(code);
}

// Everything run() derives from the options before it starts anything.
struct Plan {
  bool standalone = false;
  sync::ControlUrl url;
  std::string token;
  std::string tokenSource;
  Poco::Net::Context::Ptr tls;
  std::string policyPath;
  std::string auditSocket;
  std::string approvalSocket;
  std::string spoolDir;
  std::uint64_t spoolMax = 0;
  std::uint64_t maxFrame = 0;
  std::chrono::milliseconds ping{};
  std::chrono::milliseconds pongTimeout{};
};

std::chrono::milliseconds toMs(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000)));
}

std::variant<Plan, int> makePlan(const Options& o) {
  Plan p;
  if (o.url.empty() == o.policyFile.empty()) {
    return fail(ExitCode::kUsage,
                o.url.empty() ? "give --url (server mode) or --policy-file (standalone mode)"
                              : "give --url or --policy-file, not both");
  }
  p.standalone = !o.policyFile.empty();
  const std::string state = o.stateDir.empty() ? std::string("/run/lens") : o.stateDir;
  p.policyPath = o.policy.empty() ? state + "/policy.json" : o.policy;
  p.auditSocket = o.auditSocket.empty() ? state + "/audit.sock" : o.auditSocket;
  p.approvalSocket = o.approvalSocket.empty() ? state + "/approval.sock" : o.approvalSocket;
  if (!(o.approvalTimeout > 0 && o.approvalTimeout <= 86400))
    return fail(ExitCode::kUsage, "--approval-timeout takes seconds between 0 and 86400");
  if (o.maxPending < 1 || o.maxPending > 1000000)
    return fail(ExitCode::kUsage, "--max-pending takes a number from 1 to 1000000");
  if (!o.approveWith.empty() && ::access(o.approveWith.c_str(), X_OK) != 0)
    return fail(ExitCode::kInvalidConfig,
                "cannot run --approve-with " + o.approveWith + ": " + std::strerror(errno));
  p.spoolDir = state + "/spool";

  const auto spoolMax = parseSize(o.spoolMax);
  if (!spoolMax || *spoolMax < kMinSpool) {
    return fail(ExitCode::kUsage, "--spool-max \"" + o.spoolMax +
                                      "\": give a size of at least 64K (for example 64M)");
  }
  p.spoolMax = *spoolMax;
  const auto maxFrame = parseSize(o.maxFrame);
  if (!maxFrame || *maxFrame < 1024 || *maxFrame > (1u << 30)) {
    return fail(ExitCode::kUsage,
                "--max-frame \"" + o.maxFrame + "\": give a size from 1K to 1G (for example 16M)");
  }
  p.maxFrame = *maxFrame;
  if (!(o.pingInterval > 0 && o.pingInterval <= 3600) ||
      !(o.pongTimeout > 0 && o.pongTimeout <= 3600)) {
    return fail(ExitCode::kUsage,
                "--ping-interval and --pong-timeout take seconds between 0 and 3600");
  }
  p.ping = toMs(o.pingInterval);
  p.pongTimeout = toMs(o.pongTimeout);

  if (!p.standalone) {
    auto url = sync::parseControlUrl(o.url);
    if (!url) return fail(ExitCode::kUsage, url.error().message);
    p.url = *url;
    auto token = sync::loadToken(o.tokenFile, std::getenv("LENS_TOKEN"));
    if (!token) return fail(ExitCode::kInvalidConfig, token.error().message);
    p.token = std::move(*token);
    p.tokenSource = o.tokenFile.empty() ? "LENS_TOKEN" : "--token-file " + o.tokenFile;
    if (!o.caFile.empty() && ::access(o.caFile.c_str(), R_OK) != 0) {
      return fail(ExitCode::kInvalidConfig,
                  "cannot read --ca-file " + o.caFile + ": " + std::strerror(errno));
    }
    if (p.url.secure) {
      auto tls = sync::makeTlsContext(o.caFile, p.url.host);
      if (!tls) return fail(ExitCode::kInvalidConfig, tls.error().message);
      p.tls = *tls;
    }
  }
  return p;
}

Result<std::string> readPolicyFile(const std::string& path, std::uint64_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(ErrorCode::kIo, "cannot read " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) > limit) {
    return makeError(ErrorCode::kInvalidPolicy,
                     path + " is larger than " + std::to_string(limit) + " bytes");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int runCheck(const Options& o, const Plan& p) {
  std::cout << "mode:            "
            << (p.standalone ? "standalone (--policy-file " + o.policyFile + ")" : "server")
            << '\n';
  if (!p.standalone) {
    std::cout << "control plane:   " << p.url.text() << '\n'
              << "token:           from " << p.tokenSource << " (" << p.token.size() << " bytes)\n"
              << "tls roots:       "
              << (p.url.secure ? "system" + (o.caFile.empty() ? std::string() : " + " + o.caFile)
                               : "(not tls)")
              << '\n'
              << "spool:           " << p.spoolDir << " (at most " << p.spoolMax << " bytes)\n"
              << "max frame:       " << p.maxFrame << " bytes\n"
              << "ping / dead:     " << o.pingInterval << " s / " << o.pongTimeout
              << " s without pong\n";
  }
  std::cout << "approvals:       unix:" << p.approvalSocket << ", answered by "
            << (!o.approveWith.empty() ? o.approveWith
                : p.standalone         ? std::string("nobody (no-approver)")
                                       : std::string("the control plane"))
            << ", " << o.approvalTimeout << " s, at most " << o.maxPending << " open\n";
  std::cout << "policy file:     " << p.policyPath << '\n'
            << "audit intake:    unix:" << p.auditSocket << '\n';
  for (const auto& f : o.notifyPidfiles) std::cout << "notify pidfile:  " << f << '\n';

  json::JsonLimits limits;
  limits.maxBytes = p.maxFrame;
  const std::string file = p.standalone ? o.policyFile : p.policyPath;
  auto text = readPolicyFile(file, std::max<std::uint64_t>(p.maxFrame, limits.maxBytes));
  if (!text) {
    if (!p.standalone && ::access(file.c_str(), F_OK) != 0) {
      std::cout << "installed policy: none yet (deny everything until the first policy frame)\n";
      return toInt(ExitCode::kOk);
    }
    return fail(ExitCode::kInvalidConfig, text.error().message);
  }
  const sync::PolicyFrameCheck check = sync::checkPolicyFrame(*text, limits, file);
  for (const auto& w : check.warnings) std::cerr << w << '\n';
  for (const auto& e : check.errors) std::cerr << e << '\n';
  if (check.protocolTooOld) return toInt(ExitCode::kDenied);
  if (!check.ok()) return toInt(ExitCode::kInvalidConfig);
  std::cout << (p.standalone ? "policy:          " : "installed policy: ") << file
            << ": ok (version " << check.version.substr(0, 12) << ")\n";
  return toInt(ExitCode::kOk);
}

// Blocks SIGTERM and SIGINT in every thread and turns them into a stop
// request on an eventfd; SIGPIPE and SIGHUP are ignored.
class StopSignal {
 public:
  StopSignal() {
    ::signal(SIGPIPE, SIG_IGN);
    ::signal(SIGHUP, SIG_IGN);
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  }
  // The thread writes to fd_: it is joined before fd_ closes.
  ~StopSignal() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  [[nodiscard]] int fd() const { return fd_.get(); }
  // `before` runs in the signal thread before the stop is signalled.
  void start(std::function<void(int)> before) {
    thread_ = std::thread([this, before = std::move(before)] {
      const timespec tick{0, 200 * 1000 * 1000};
      while (!done_) {
        const int sig = ::sigtimedwait(&set_, nullptr, &tick);
        if (sig <= 0) continue;
        if (before) before(sig);
        const std::uint64_t one = 1;
        (void)!::write(fd_.get(), &one, sizeof one);
        return;
      }
    });
  }

 private:
  sigset_t set_{};
  util::UniqueFd fd_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// Says "ready" once (DESIGN.md section 3): a line on stderr and --ready-file.
// Spool append failures, logged at most every 10 s while they last (a full
// file system fails appends as fast as events come) with the events lost
// since the last line. The spool itself counts lost events into its next
// spool_overflow record.
class SpoolFailures {
 public:
  explicit SpoolFailures(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}

  void append(sync::Spool& spool, const std::vector<std::string>& records) {
    Status s = spool.append(records);
    std::lock_guard lock(mutex_);
    if (s) {
      if (lost_ > 0 && due()) {
        logger_->warn("spool: writing again; {} more events were lost", lost_);
        lost_ = 0;
      }
      return;
    }
    lost_ += records.size();
    if (due()) {
      logger_->error("spool: {}; {} events lost (counted in a spool_overflow event)",
                     s.error().message, lost_);
      lost_ = 0;
    }
  }

 private:
  bool due() {
    const auto now = std::chrono::steady_clock::now();
    if (logged_ && now - last_ < std::chrono::seconds(10)) return false;
    logged_ = true;
    last_ = now;
    return true;
  }

  std::shared_ptr<spdlog::logger> logger_;
  std::mutex mutex_;
  std::uint64_t lost_ = 0;  // since the last line
  bool logged_ = false;
  std::chrono::steady_clock::time_point last_;
};

class Readiness {
 public:
  Readiness(std::string readyFile, std::string intake)
      : readyFile_(std::move(readyFile)), intake_(std::move(intake)) {}
  void announce(const std::string& version) {
    std::call_once(once_, [&] {
      std::cerr << kTool << ": ready (policy " << version.substr(0, 12)
                << ", audit intake unix:" << intake_ << ")" << std::endl;
      if (!readyFile_.empty()) {
        std::ofstream out(readyFile_, std::ios::trunc);
        out << ::getpid() << '\n';
        if (!out) log::get("sync")->error("cannot write --ready-file {}", readyFile_);
      }
    });
  }

 private:
  std::string readyFile_;
  std::string intake_;
  std::once_flag once_;
};

Result<std::unique_ptr<approval::Broker>> openBroker(const Options& o, const Plan& p) {
  approval::Broker::Options b;
  b.path = p.approvalSocket;
  b.timeout = toMs(o.approvalTimeout);
  b.maxPending = o.maxPending;
  b.program = o.approveWith;
  b.controlPlane = !p.standalone;
  auto broker = approval::Broker::open(std::move(b));
  if (!broker) return makeError(broker.error().code, "approvals: " + broker.error().message);
  (*broker)->start();
  return broker;
}

int runStandalone(const Options& o, const Plan& p, StopSignal& stop, sync::EventIds& ids) {
  auto logger = log::get("sync");
  sync::Agent::Options agentOptions;
  agentOptions.policyPath = p.policyPath;
  agentOptions.notifyPidfiles = o.notifyPidfiles;
  agentOptions.limits.maxBytes = p.maxFrame;
  std::mutex outMutex;
  auto writeLine = [&](const std::string& line) {
    std::lock_guard lock(outMutex);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  };
  agentOptions.emit = [&](const audit::Event& event) {
    if (auto record = sync::acceptAuditLine(event.toJson(), ids.next())) writeLine(*record);
  };
  sync::Agent agent(agentOptions);
  agent.loadInstalled();

  auto text = readPolicyFile(o.policyFile, p.maxFrame);
  if (!text) return fail(exitCodeFor(text.error().code), text.error().message);
  const sync::InstallResult installed = agent.install(*text, o.policyFile);
  switch (installed.status) {
    case sync::InstallResult::Status::kApplied:
    case sync::InstallResult::Status::kUnchanged:
      break;
    case sync::InstallResult::Status::kProtocolTooOld:
      return fail(ExitCode::kDenied,
                  o.policyFile + " needs a newer lens-policy-sync (minProtocolDate)");
    case sync::InstallResult::Status::kRejected:
      return fail(ExitCode::kInvalidConfig,
                  o.policyFile + " is not a valid policy; " + p.policyPath + " left as it was");
    case sync::InstallResult::Status::kIoError:
      return fail(ExitCode::kFailure, installed.errors.empty() ? "cannot install the policy"
                                                               : installed.errors.front());
  }

  sync::AuditIntake::Options intakeOptions;
  intakeOptions.path = p.auditSocket;
  intakeOptions.ids = &ids;
  intakeOptions.onRecords = [&](std::vector<std::string>&& records) {
    for (const auto& r : records) writeLine(r);
  };
  auto intake = sync::AuditIntake::open(intakeOptions);
  if (!intake) return fail(ExitCode::kFailure, intake.error().message);
  auto broker = openBroker(o, p);
  if (!broker) return fail(exitCodeFor(broker.error().code), broker.error().message);
  (*intake)->start();
  stop.start([&](int sig) { logger->info("stopping ({})", strsignal(sig)); });

  Readiness ready(o.readyFile, p.auditSocket);
  ready.announce(installed.version);
  pollfd pfd{stop.fd(), POLLIN, 0};
  while (::poll(&pfd, 1, -1) <= 0) {
  }
  (*intake)->stop();
  logger->info("stopped: {} audit events forwarded to stdout, {} malformed dropped",
               (*intake)->accepted(), (*intake)->malformed());
  return toInt(ExitCode::kOk);
}

int runServer(const Options& o, const Plan& p, StopSignal& stop, sync::EventIds& ids) {
  auto logger = log::get("sync");
  sync::Spool::Options spoolOptions;
  spoolOptions.dir = p.spoolDir;
  spoolOptions.maxBytes = p.spoolMax;
  spoolOptions.overflowRecord = [&ids](std::uint64_t dropped) {
    audit::Event event(kTool, "SPOOL overflow");
    event.outcome(audit::Outcome::kError).meta("reason", "spool_overflow").meta("dropped", dropped);
    auto record = sync::acceptAuditLine(event.toJson(), ids.next());
    return record ? *record : std::string();
  };
  spoolOptions.overflowCount = [](std::string_view record) -> std::optional<std::uint64_t> {
    if (record.find("\"spool_overflow\"") == std::string_view::npos) return std::nullopt;
    try {
      Poco::JSON::Parser parser;
      const auto obj = parser.parse(std::string(record)).extract<Poco::JSON::Object::Ptr>();
      if (obj->optValue<std::string>("source", "") != kTool) return std::nullopt;
      const auto meta = obj->getObject("metadata");
      if (!meta || meta->optValue<std::string>("reason", "") != "spool_overflow")
        return std::nullopt;
      return meta->getValue<std::uint64_t>("dropped");
    } catch (const Poco::Exception&) {
      return std::nullopt;
    }
  };
  auto spool = sync::Spool::open(spoolOptions);
  if (!spool) return fail(ExitCode::kFailure, "spool " + p.spoolDir + ": " + spool.error().message);

  Readiness ready(o.readyFile, p.auditSocket);
  std::atomic<bool> intakeBound{false};
  std::string pendingVersion;
  std::mutex readyMutex;

  sync::Agent::Options agentOptions;
  agentOptions.policyPath = p.policyPath;
  agentOptions.notifyPidfiles = o.notifyPidfiles;
  agentOptions.limits.maxBytes = p.maxFrame;
  SpoolFailures spoolFailures(logger);
  agentOptions.emit = [&](const audit::Event& event) {
    if (auto record = sync::acceptAuditLine(event.toJson(), ids.next())) {
      spoolFailures.append(**spool, {std::move(*record)});
    }
  };
  agentOptions.onInstalled = [&](const std::string& version) {
    std::lock_guard lock(readyMutex);
    if (intakeBound) {
      ready.announce(version);
    } else {
      pendingVersion = version;
    }
  };
  auto broker = openBroker(o, p);
  if (!broker) return fail(exitCodeFor(broker.error().code), broker.error().message);
  agentOptions.broker = broker->get();
  sync::Agent agent(agentOptions);
  agent.loadInstalled();
  agent.setExtraCounters([&]() -> std::vector<std::pair<std::string, std::uint64_t>> {
    const auto s = (*spool)->stats();
    const auto a = (*broker)->stats();
    return {{"spool_pending_bytes", s.pendingBytes},
            {"spool_dropped", s.dropped},
            {"spool_corrupt", s.corrupt},
            {"approval_asks", a.asks},
            {"approval_prompts", a.prompts},
            {"approvals_open", a.pending},
            {"approval_allowed", a.allowed},
            {"approval_denied", a.denied}};
  });

  sync::AuditIntake::Options intakeOptions;
  intakeOptions.path = p.auditSocket;
  intakeOptions.ids = &ids;
  intakeOptions.onRecords = [&](std::vector<std::string>&& records) {
    spoolFailures.append(**spool, records);
  };
  auto lastSync = std::chrono::steady_clock::now();
  // A failed sync is logged once until it changes or clears (a full disk
  // fails every second).
  std::string lastSyncError;
  intakeOptions.onTick = [&] {
    const auto now = std::chrono::steady_clock::now();
    if (now - lastSync < std::chrono::seconds(1)) return;
    lastSync = now;
    if (Status s = (*spool)->sync(); !s) {
      if (s.error().message != lastSyncError) logger->error("spool: {}", s.error().message);
      lastSyncError = s.error().message;
    } else if (!lastSyncError.empty()) {
      logger->info("spool: synced again");
      lastSyncError.clear();
    }
  };
  auto intake = sync::AuditIntake::open(intakeOptions);
  if (!intake) return fail(ExitCode::kFailure, intake.error().message);
  std::mutex intakeMutex;
  auto stopIntake = [&] {
    std::lock_guard lock(intakeMutex);
    (*intake)->stop();
  };
  (*intake)->start();
  stop.start([&](int sig) {
    logger->info("stopping ({}): taking what is queued on the audit socket", strsignal(sig));
    stopIntake();
  });
  {
    std::lock_guard lock(readyMutex);
    intakeBound = true;
    const std::string installed = agent.installedVersion();
    if (!installed.empty()) {
      ready.announce(installed);
    } else if (!pendingVersion.empty()) {
      ready.announce(pendingVersion);
    } else {
      logger->info("no policy installed yet: waiting for the first policy frame from {}",
                   p.url.text());
    }
  }

  sync::Client::Options clientOptions;
  clientOptions.connect.url = p.url;
  clientOptions.connect.token = p.token;
  clientOptions.connect.tls = p.tls;
  clientOptions.connect.mark = net::kTrustedMark;
  clientOptions.connect.maxMessage = p.maxFrame;
  clientOptions.pingInterval = p.ping;
  clientOptions.pongTimeout = p.pongTimeout;
  clientOptions.broker = broker->get();
  sync::Client client(clientOptions, agent, **spool, stop.fd());
  const sync::Client::Outcome outcome = client.run();

  stopIntake();
  if (Status s = (*spool)->sync(); !s) logger->error("spool: {}", s.error().message);
  const auto stats = (*spool)->stats();
  logger->info(
      "stopped: {} events sent, {} bytes left in the spool, {} dropped by overflow, {} malformed "
      "audit lines",
      agent.counters().eventsSent.load(), stats.pendingBytes, stats.dropped,
      (*intake)->malformed());
  switch (outcome) {
    case sync::Client::Outcome::kStopped:
      return toInt(ExitCode::kOk);
    case sync::Client::Outcome::kUnauthorized:
      return fail(ExitCode::kDenied, p.url.text() + ": " + client.refusal() + "; not retrying");
    case sync::Client::Outcome::kRecycle:
      return fail(ExitCode::kDenied, "the control plane sent a policy for a newer protocol than " +
                                         std::string(sync::kProtocolDate) +
                                         "; exiting so that the sandbox is recycled");
  }
  return toInt(ExitCode::kFailure);
}

}  // namespace

std::optional<std::uint64_t> parseSize(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t multiplier = 1;
  std::string digits = text;
  switch (digits.back()) {
    case 'K':
    case 'k':
      multiplier = 1ull << 10;
      break;
    case 'M':
    case 'm':
      multiplier = 1ull << 20;
      break;
    case 'G':
    case 'g':
      multiplier = 1ull << 30;
      break;
    default:
      break;
  }
  if (multiplier != 1) digits.pop_back();
  if (digits.empty() || digits.size() > 12) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value * multiplier;
}

std::unique_ptr<CLI::App> makeCli(Options& o) {
  auto app = cli::makeApp(
      std::string(kTool),
      "Control-plane client: receive policies over a WebSocket, install them atomically, "
      "forward audit events (spooled on disk while offline).",
      o.common);
  app->add_option("--url", o.url, "Control plane, ws://HOST[:PORT]/PATH or wss://... (server mode)")
      ->type_name("URL");
  app->add_option("--policy-file", o.policyFile,
                  "Standalone mode: install this policy once and forward audit events to stdout")
      ->type_name("FILE");
  app->add_option("--token-file", o.tokenFile,
                  "File holding the bearer token (else the LENS_TOKEN variable)")
      ->type_name("FILE");
  app->add_option("--ca-file", o.caFile,
                  "PEM certificates trusted for wss:// in addition to the system roots")
      ->type_name("FILE");
  app->add_option("--state-dir", o.stateDir, "State directory: policy.json, audit.sock, spool/")
      ->type_name("DIR")
      ->capture_default_str();
  app->add_option("--policy", o.policy, "Where to install the policy (default STATE/policy.json)")
      ->type_name("FILE");
  app->add_option("--audit-socket", o.auditSocket,
                  "Audit intake, a Unix datagram socket (default STATE/audit.sock)")
      ->type_name("PATH");
  app->add_option("--approval-socket", o.approvalSocket,
                  "The approval broker's socket, for the proxies (default STATE/approval.sock)")
      ->type_name("PATH");
  app->add_option("--approval-timeout", o.approvalTimeout,
                  "Seconds a prompt waits for an answer (then decision-timeout)")
      ->type_name("SECONDS")
      ->capture_default_str();
  app->add_option("--max-pending", o.maxPending,
                  "Prompts open at once; more asks are refused at once (no-approver)")
      ->capture_default_str();
  app->add_option("--approve-with", o.approveWith,
                  "Answer prompts with this program (the frame as JSON on stdin, the decision "
                  "on stdout) instead of the control plane")
      ->type_name("PROGRAM");
  app->add_option("--spool-max", o.spoolMax,
                  "Most bytes of unsent events kept on disk; the oldest give way")
      ->type_name("SIZE")
      ->capture_default_str();
  app->add_option("--max-frame", o.maxFrame,
                  "Largest inbound message; larger ones are refused and counted")
      ->type_name("SIZE")
      ->capture_default_str();
  app->add_option("--notify-pidfile", o.notifyPidfiles,
                  "Send SIGHUP to the pid in this file after a new policy")
      ->type_name("FILE");
  app->add_option("--ping-interval", o.pingInterval, "Seconds between WebSocket pings")
      ->type_name("SECONDS")
      ->capture_default_str();
  app->add_option("--pong-timeout", o.pongTimeout,
                  "Seconds without a pong after which the connection is dead")
      ->type_name("SECONDS")
      ->capture_default_str();
  app->add_option("--ready-file", o.readyFile, "Create this file (with the pid) once ready")
      ->type_name("FILE");
  app->add_flag("--check", o.check,
                "Validate the configuration and policy, print what would run, and exit");
  return app;
}

int run(const Options& o) {
  struct SslScope {
    SslScope() { Poco::Net::initializeSSL(); }
    ~SslScope() { Poco::Net::uninitializeSSL(); }
  } ssl;
  auto planned = makePlan(o);
  if (auto* code = std::get_if<int>(&planned)) return *code;
  const Plan& p = std::get<Plan>(planned);
  if (o.check) return runCheck(o, p);

  if (::mkdir(p.spoolDir.substr(0, p.spoolDir.rfind('/')).c_str(), 0755) != 0 && errno != EEXIST) {
    return fail(ExitCode::kFailure,
                "cannot create the state directory: " + std::string(std::strerror(errno)));
  }
  StopSignal stop;
  sync::EventIds ids;
  if (p.standalone) return runStandalone(o, p, stop, ids);
  return runServer(o, p, stop, ids);
}

}  // namespace lens::app::policy_sync
