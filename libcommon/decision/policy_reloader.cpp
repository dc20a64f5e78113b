#include "libcommon/decision/policy_reloader.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "libcommon/json/json_writer.h"
#include "libcommon/log/logging.h"
#include "libcommon/policy/policy_parser.h"
#include "libcommon/util/hash.h"

namespace lens::decision {

PolicyReloader::PolicyReloader(Options options)
    : options_(std::move(options)), engine_(std::make_shared<const decision::Engine>(nullptr)) {
  if (options_.watchSighup) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signalFd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  }
}

PolicyReloader::~PolicyReloader() { stop(); }

std::shared_ptr<const decision::Engine> PolicyReloader::engine() const {
  std::lock_guard lock(mutex_);
  return engine_;
}

bool PolicyReloader::ready() const {
  std::lock_guard lock(mutex_);
  return ready_;
}

void PolicyReloader::emit(bool applied, const std::string& version, const std::string& errorsJson,
                          std::string_view trigger) {
  if (!options_.sink) return;
  audit::Event event(options_.source, "POLICY " + options_.path);
  event.outcome(applied ? audit::Outcome::kSuccess : audit::Outcome::kFailure)
      .meta("reason", applied ? "policy-applied" : "policy-rejected")
      .meta("policy_version", version)
      .meta("trigger", trigger);
  if (!errorsJson.empty()) event.metaRaw("errors", errorsJson);
  (void)options_.sink->write(event);
}

bool PolicyReloader::reload(std::string_view trigger) {
  auto logger = log::get("policy");
  // The file is written by lens-policy-sync, which keeps a policy frame's
  // transport fields (proxyUpstream, proxyCaCert) with the policy.
  policy::ParseOutcome out = policy::loadInstalledPolicy(options_.path);
  for (const policy::Diagnostic& w : out.warnings) logger->warn("{}", w.format());
  if (!out.ok()) {
    // Hash what was rejected so a repeated event for the same bad file is not re-emitted.
    std::string errorsJson = "[";
    std::string digestInput;
    for (std::size_t i = 0; i < out.errors.size(); ++i) {
      const std::string line = out.errors[i].format();
      logger->error("{}", line);
      if (i > 0) errorsJson += ',';
      errorsJson += json::quote(line);
      digestInput += line + '\n';
    }
    errorsJson += ']';
    const std::string version = util::sha256Hex(digestInput);
    bool repeat = false;
    {
      std::lock_guard lock(mutex_);
      repeat = version == lastRejected_ && trigger != "sighup";
      lastRejected_ = version;
    }
    logger->error("policy {} rejected; {}", options_.path,
                  ready() ? "keeping the last good policy"
                          : "denying everything until a valid policy arrives");
    if (!repeat) emit(false, version, errorsJson, trigger);
    return false;
  }
  const std::string version = out.policy->version;
  {
    std::lock_guard lock(mutex_);
    lastRejected_.clear();
    if (ready_ && version == lastVersion_) return true;  // unchanged
  }
  // Parsed and built here, on the watcher thread; the daemons' loops keep
  // deciding with the engine they hold until they take this one.
  std::shared_ptr<const decision::Engine> engine =
      reclaimer_.adopt(std::make_unique<const decision::Engine>(out.policy));
  {
    std::lock_guard lock(mutex_);
    engine_ = engine;
    ready_ = true;
    lastVersion_ = version;
  }
  logger->info("policy {} applied (version {})", options_.path, version.substr(0, 12));
  emit(true, version, "", trigger);
  if (options_.onApplied) options_.onApplied(engine);
  return true;
}

Status PolicyReloader::start() {
  const std::filesystem::path file(options_.path);
  const std::string dir = file.has_parent_path() ? file.parent_path().string() : ".";
  inotifyFd_.reset(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!inotifyFd_)
    return makeError(ErrorCode::kIo, std::string("inotify_init1: ") + std::strerror(errno));
  const std::uint32_t mask =
      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_ATTRIB;
  if (::inotify_add_watch(inotifyFd_.get(), dir.c_str(), mask) < 0) {
    const int err = errno;
    inotifyFd_.reset();
    return makeError(ErrorCode::kIo, "cannot watch " + dir + ": " + std::strerror(err));
  }
  stopFd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stopFd_) {
    const int err = errno;
    inotifyFd_.reset();
    return makeError(ErrorCode::kIo, std::string("eventfd: ") + std::strerror(err));
  }
  thread_ = std::thread([this] { watch(); });
  return Ok{};
}

void PolicyReloader::stop() {
  if (thread_.joinable()) {
    const std::uint64_t one = 1;
    (void)!::write(stopFd_.get(), &one, sizeof one);
    thread_.join();
  }
  inotifyFd_.reset();
  stopFd_.reset();
}

void PolicyReloader::watch() {
  const std::string name = std::filesystem::path(options_.path).filename().string();
  alignas(inotify_event) std::array<char, 8192> buffer{};
  while (true) {
    std::array<pollfd, 3> fds{
        {{stopFd_.get(), POLLIN, 0}, {inotifyFd_.get(), POLLIN, 0}, {signalFd_.get(), POLLIN, 0}}};
    const int n = ::poll(fds.data(), signalFd_ ? 3 : 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log::get("policy")->error("poll: {}", std::strerror(errno));
      return;
    }
    if (fds[0].revents != 0) return;
    if (signalFd_ && (fds[2].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      while (::read(signalFd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      }
      reload("sighup");
    }
    if ((fds[1].revents & POLLIN) != 0) {
      bool relevant = false;
      bool removed = false;
      ssize_t len = 0;
      while ((len = ::read(inotifyFd_.get(), buffer.data(), buffer.size())) > 0) {
        for (ssize_t off = 0; off < len;) {
          const auto* ev = reinterpret_cast<const inotify_event*>(buffer.data() + off);
          if (ev->len > 0 && name == ev->name) {
            if ((ev->mask & (IN_DELETE | IN_MOVED_FROM)) != 0) {
              removed = true;
            } else {
              relevant = true;
              removed = false;
            }
          }
          off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
        }
      }
      if (relevant) {
        reload("file-changed");
      } else if (removed) {
        log::get("policy")->warn("policy file {} was removed; keeping the policy in force",
                                 options_.path);
      }
    }
  }
}

}  // namespace lens::decision
