#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libcommon/approval/broker.h"
#include "libcommon/audit/event.h"
#include "libcommon/json/source_map.h"

namespace lens::sync {

// What lens-policy-sync counts; reported in watch_result and on exit.
struct Counters {
  std::atomic<std::uint64_t> framesReceived{0};
  std::atomic<std::uint64_t> refusedMalformed{0};  // not JSON, not an object, bad fields
  std::atomic<std::uint64_t> refusedBinary{0};
  std::atomic<std::uint64_t> refusedOversized{0};
  std::atomic<std::uint64_t> unknownTypes{0};
  std::atomic<std::uint64_t> policiesApplied{0};
  std::atomic<std::uint64_t> policiesRejected{0};
  std::atomic<std::uint64_t> decisionsForwarded{0};  // answered a prompt of the broker
  std::atomic<std::uint64_t> decisionsLogged{0};     // answered nothing (unknown id, ...)
  std::atomic<std::uint64_t> eventsSent{0};
  std::atomic<std::uint64_t> connections{0};
};

// The last few hundred one-line summaries of what happened (watch_result).
class ActivityLog {
 public:
  static constexpr std::size_t kMaxLines = 256;
  void add(std::string line);
  [[nodiscard]] std::vector<std::string> lines() const;

 private:
  mutable std::mutex mutex_;
  std::deque<std::string> lines_;
};

// Installs policies: validates (shared policy model + transport fields),
// writes the policy file atomically, signals --notify-pidfile pids.
struct InstallResult {
  enum class Status { kApplied, kUnchanged, kRejected, kProtocolTooOld, kIoError };
  Status status = Status::kRejected;
  std::string version;
  std::vector<std::string> errors;  // located validation errors, or the I/O error
  std::string summary;              // for logs: "12 http, 0 tcp, 0 udp rules, default deny"
};

// Handles inbound frames of one control-plane session and keeps the state
// that outlives connections (the installed version, counters, activity).
class Agent {
 public:
  struct Options {
    std::string policyPath;
    std::vector<std::string> notifyPidfiles;
    // request_decision and credential_decision frames answer its prompts
    // (null: they are logged only).
    approval::Broker* broker = nullptr;
    json::JsonLimits limits;
    std::string source = "lens-policy-sync";
    // Our own audit events (policy applied/rejected); may be empty.
    std::function<void(const audit::Event&)> emit;
    // Called when a valid policy is in force (installed now or already).
    std::function<void(const std::string& version)> onInstalled;
  };

  struct Watch {
    std::string id;
    std::chrono::steady_clock::time_point due;
  };

  // What to do after one inbound message.
  struct Reply {
    std::vector<std::string> frames;  // send now, in order
    std::optional<Watch> watch;       // answer with watchResult() when due
    bool recycle = false;             // minProtocolDate too new: close and exit 4
  };

  explicit Agent(Options options);

  // Reads the policy file already installed (if valid) as the current version.
  void loadInstalled();
  [[nodiscard]] std::string installedVersion() const;

  [[nodiscard]] Reply onText(std::string_view text);
  void onBinary(std::size_t size);
  void onOversized(std::size_t size, std::size_t limit);
  [[nodiscard]] std::string watchResult(const std::string& id) const;

  // Validates and installs a policy given as text (a frame or a file).
  [[nodiscard]] InstallResult install(std::string_view text, std::string_view origin);

  Counters& counters() { return counters_; }
  ActivityLog& activity() { return activity_; }
  // Extra counters added to watch_result (the spool's, the intake's).
  void setExtraCounters(std::function<std::vector<std::pair<std::string, std::uint64_t>>()> extra) {
    extra_ = std::move(extra);
  }
  [[nodiscard]] std::vector<std::pair<std::string, std::uint64_t>> counterSnapshot() const;

 private:
  void forwardDecision(std::string_view type, const std::string& id, const std::string& decision);
  void emitPolicyEvent(bool applied, const std::string& version,
                       const std::vector<std::string>& errors);

  Options options_;
  Counters counters_;
  ActivityLog activity_;
  mutable std::mutex mutex_;
  std::string installedVersion_;
  std::function<std::vector<std::pair<std::string, std::uint64_t>>()> extra_;
};

}  // namespace lens::sync
