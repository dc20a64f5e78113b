// lens-lockdown watch: the audit trail of the kernel cage. The cage's
// refusing rules log to an NFLOG group (rate-limited, counted); this binds
// the group and turns each logged packet into an audit event, and reports
// what the rate limit or a socket overrun kept from it as counted events.
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>

#include "libcommon/app/daemon.h"
#include "libcommon/app/lockdown.h"
#include "libcommon/lockdown/refusal_auditor.h"
#include "libcommon/lockdown/refusal_counters.h"
#include "libcommon/log/logging.h"
#include "libcommon/net/nflog_socket.h"
#include "libcommon/nft/nft_context.h"
#include "libcommon/util/exit_code.h"
#include "libcommon/util/privilege.h"
#include "libcommon/util/unique_fd.h"

namespace lens::app::lockdown {

namespace {

using Clock = std::chrono::steady_clock;

// How often the cage's counters are read: soon after refusals arrived (the
// rate limit may be dropping some), otherwise now and then (a cage applied
// again restarts its counters).
constexpr auto kBusyCounterInterval = std::chrono::seconds(1);
constexpr auto kIdleCounterInterval = std::chrono::seconds(10);
// Datagrams read in one go before signals and counters get a turn.
constexpr int kDrainBatch = 256;

class NullSink : public audit::Sink {
 public:
  Status write(const audit::Event&) override { return Ok{}; }
};

int fail(ExitCode code, const std::string& message) {
  std::cerr << "lens-lockdown: watch: " << message << '\n';
  return toInt(code);
}

class SignalFd {
 public:
  SignalFd() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGHUP}) sigaddset(&set, s);
    fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  }
  [[nodiscard]] int fd() const { return fd_.get(); }
  // The next pending signal, or 0.
  int next() {
    signalfd_siginfo info{};
    if (::read(fd_.get(), &info, sizeof info) != static_cast<ssize_t>(sizeof info)) return 0;
    return static_cast<int>(info.ssi_signo);
  }

 private:
  util::UniqueFd fd_;
};

class Watcher {
 public:
  Watcher(std::uint16_t group, net::nflog::Socket& socket, lens::lockdown::RefusalAuditor& auditor)
      : group_(group), socket_(socket), auditor_(auditor) {}

  // Reads the cage's counters into the auditor; says once when they cannot
  // be read (no cage yet, or one without the counted log rules).
  bool readCounters() {
    lastRead_ = Clock::now();
    const std::string chain = std::string(lens::lockdown::kTableFamily) + " " +
                              std::string(lens::lockdown::kTableName) + " " +
                              std::string(lens::lockdown::kRefusalChain);
    auto listing = nft_.run("list chain " + chain);
    Result<lens::lockdown::RefusalCounters> counters =
        listing ? lens::lockdown::parseRefusalCounters(*listing)
                : Result<lens::lockdown::RefusalCounters>(listing.error());
    if (!counters) {
      const std::string why = counters.error().code == ErrorCode::kNotFound && !listing
                                  ? "no cage installed (" + chain + " does not exist)"
                                  : counters.error().message;
      if (why != counterProblem_) {
        log::get("lockdown")
            ->warn(
                "cannot read the cage's counters: {}; refusals the rate limit keeps from the log "
                "are not counted until it can",
                why);
        counterProblem_ = why;
      }
      return false;
    }
    if (!counterProblem_.empty()) log::get("lockdown")->info("reading the cage's counters again");
    counterProblem_.clear();
    for (std::size_t i = 0; i < counters->size(); ++i) {
      const auto& c = (*counters)[i];
      if (c.group && *c.group != group_ && !warnedGroup_) {
        log::get("lockdown")
            ->warn(
                "the cage logs \"{}\" refusals to NFLOG group {}, but this watches group {}: "
                "apply the cage and run watch with the same --log-group",
                lens::lockdown::kRefusals[i].prefix, *c.group, group_);
        warnedGroup_ = true;
      }
    }
    auditor_.onCounters(*counters);
    return true;
  }

  // Reads what the socket holds (at most `limit` datagrams; -1: all).
  Status drain(int limit) {
    for (int i = 0; limit < 0 || i < limit; ++i) {
      auto got = socket_.receive(buffer_);
      if (!got) return got.error();
      if (got->overrun) {
        auditor_.onOverrun();
        continue;
      }
      if (got->bytes == 0) return Ok{};
      auditor_.onDatagram(buffer_);
    }
    return Ok{};
  }

  void tick() {
    const auto since = Clock::now() - lastRead_;
    if ((auditor_.wantsCounters() && since >= kBusyCounterInterval) ||
        since >= kIdleCounterInterval) {
      (void)readCounters();
    }
    auditor_.emitSummaries();
  }

  [[nodiscard]] const std::string& counterProblem() const { return counterProblem_; }

 private:
  std::uint16_t group_;
  net::nflog::Socket& socket_;
  lens::lockdown::RefusalAuditor& auditor_;
  nft::NftContext nft_;
  Clock::time_point lastRead_{};
  std::string counterProblem_;
  bool warnedGroup_ = false;
  std::vector<std::uint8_t> buffer_;
};

std::string sinkName(const Options& o) {
  if (o.audit == "off") return "off";
  return o.audit.empty() ? "unix:" + o.stateDir + "/audit.sock" : o.audit;
}

}  // namespace

int runWatch(const Options& o, const Plan& p) {
  if (!hasEffectiveCapability(CAP_NET_ADMIN)) {
    return fail(
        ExitCode::kPrivilege,
        "needs CAP_NET_ADMIN to bind an NFLOG group (run as root, or grant the capability)");
  }
  blockDaemonSignals();
  SignalFd signals;
  if (signals.fd() < 0)
    return fail(ExitCode::kFailure, std::string("signalfd: ") + std::strerror(errno));

  auto opened = openAuditSink(o.audit, o.stateDir);
  if (!opened) return fail(exitCodeFor(opened.error().code), opened.error().message);
  std::unique_ptr<audit::Sink> sink = std::move(*opened);
  if (!sink) sink = std::make_unique<NullSink>();

  const std::uint16_t group = p.config.logGroup;
  net::nflog::Config config;
  config.group = group;
  auto bound = net::nflog::Socket::open(config);
  if (!bound) return fail(exitCodeFor(bound.error().code), bound.error().message);
  net::nflog::Socket& socket = *bound;

  lens::lockdown::RefusalAuditor auditor(*sink);
  Watcher watcher(group, socket, auditor);
  if (!watcher.readCounters()) auditor.noCageAtStart();

  std::cerr << "lens-lockdown: ready: watching NFLOG group " << group << " (copy range "
            << config.copyRange << " bytes); audit to " << sinkName(o)
            << (watcher.counterProblem().empty() ? "" : "; no readable cage yet") << std::endl;
  if (!o.readyFile.empty()) std::ofstream(o.readyFile) << "ready\n";

  Status status = Ok{};
  bool running = true;
  while (running) {
    pollfd fds[2] = {{socket.fd(), POLLIN, 0}, {signals.fd(), POLLIN, 0}};
    const int ready = ::poll(fds, 2, 1000);
    if (ready < 0 && errno != EINTR) {
      status = makeError(ErrorCode::kIo, std::string("poll: ") + std::strerror(errno));
      break;
    }
    if (ready > 0 && (fds[0].revents & (POLLIN | POLLERR)) != 0) {
      if (auto ok = watcher.drain(kDrainBatch); !ok) {
        status = ok.error();
        break;
      }
    }
    if (ready > 0 && (fds[1].revents & POLLIN) != 0) {
      for (int s = signals.next(); s != 0; s = signals.next()) {
        if (s == SIGTERM || s == SIGINT) running = false;
        if (s == SIGUSR1) {
          (void)watcher.readCounters();
          std::cerr << auditor.statsJson() << std::endl;
        }
        // SIGHUP: nothing to reload.
      }
    }
    watcher.tick();
  }
  // What arrived before the signal is reported, and what the counters say
  // was refused without being logged.
  if (status) (void)watcher.drain(-1);
  (void)watcher.readCounters();
  auditor.emitSummaries(/*force=*/true);
  std::cerr << auditor.statsJson() << std::endl;
  if (!status) return fail(ExitCode::kFailure, status.error().message);
  return toInt(ExitCode::kOk);
}

}  // namespace lens::app::lockdown
