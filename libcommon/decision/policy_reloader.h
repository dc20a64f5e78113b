#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "libcommon/audit/sink.h"
#include "libcommon/decision/engine.h"
#include "libcommon/util/reclaimer.h"
#include "libcommon/util/unique_fd.h"

namespace lens::decision {

// Keeps a daemon's policy current (DESIGN.md section 2). Loads the policy
// file, and reloads it when it changes (inotify on its directory, so
// write-to-temp + rename is seen) or on SIGHUP: parse, validate, then swap
// the immutable decision engine. A policy that fails keeps the last good one
// in force and emits a `policy-rejected` audit event with the located errors;
// a good one emits `policy-applied` with its version (content hash). Before
// the first good policy, engine() denies everything. The file may carry the
// transport fields of a control-plane policy frame (DESIGN.md section 4).
class PolicyReloader {
 public:
  struct Options {
    std::string path;             // the policy file
    std::string source;           // tool name for audit events
    audit::Sink* sink = nullptr;  // may be null
    bool watchSighup = true;      // block SIGHUP in the calling thread, take it via signalfd
    // Called after each successful swap (from the watcher thread).
    std::function<void(const std::shared_ptr<const decision::Engine>&)> onApplied;
  };

  explicit PolicyReloader(Options options);
  ~PolicyReloader();
  PolicyReloader(const PolicyReloader&) = delete;
  PolicyReloader& operator=(const PolicyReloader&) = delete;

  // The current engine; never null (a deny-all engine before the first policy).
  [[nodiscard]] std::shared_ptr<const decision::Engine> engine() const;
  // True once a valid policy is in force.
  [[nodiscard]] bool ready() const;

  // Reads and applies the file now; returns true when a new policy was applied
  // or the file is unchanged and valid.
  bool reload(std::string_view trigger);

  // Starts the watcher thread (inotify + SIGHUP). Fails when inotify or the
  // directory cannot be watched.
  Status start();
  void stop();

 private:
  void watch();
  void emit(bool applied, const std::string& version, const std::string& errorsJson,
            std::string_view trigger);

  Options options_;
  // Frees the engines this reloader builds once their last user lets go,
  // so that an event loop that swaps engines never pays for freeing one.
  // Declared before engine_, so destroyed after it (and it drains its queue).
  util::Reclaimer reclaimer_;
  mutable std::mutex mutex_;
  std::shared_ptr<const decision::Engine> engine_;
  bool ready_ = false;
  std::string lastVersion_;
  std::string lastRejected_;
  util::UniqueFd inotifyFd_;
  util::UniqueFd signalFd_;
  util::UniqueFd stopFd_;
  std::thread thread_;
};

}  // namespace lens::decision
