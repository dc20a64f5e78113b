#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "libcommon/util/result.h"
#include "libcommon/util/unique_fd.h"

namespace lens::sync {

// Unique event ids: a random 64-bit instance prefix (new on every start)
// and a counter, "3f9c0a7e5b1d2c48-42". Thread-safe.
class EventIds {
 public:
  EventIds();
  [[nodiscard]] std::string next();
  [[nodiscard]] const std::string& instance() const { return instance_; }

 private:
  std::string instance_;
  std::atomic<std::uint64_t> counter_{0};
};

// The largest audit line accepted on the intake socket.
inline constexpr std::size_t kMaxAuditLine = 64 * 1024;

// Validates one datagram from the intake socket (DESIGN.md section 6: one
// JSON object, optionally followed by "\n") and returns it as a spool
// record: the same object with "id" inserted first, on one line. Refused
// (kInvalidInput, with the reason): not one strict JSON object, over
// kMaxAuditLine, "type" other than "audit_event", "source" or "action"
// missing or not a non-empty string, or an "id" already present (ids are
// assigned here).
[[nodiscard]] Result<std::string> acceptAuditLine(std::string_view datagram, std::string_view id);

// Listens on a Unix datagram socket for audit lines and hands each batch of
// accepted records to a callback (in arrival order); malformed datagrams are
// counted and dropped. A thread receives; tick() runs about once a second.
class AuditIntake {
 public:
  struct Options {
    std::string path;  // the socket; a stale one is replaced
    std::function<void(std::vector<std::string>&& records)> onRecords;
    std::function<void()> onTick;
    EventIds* ids = nullptr;
  };

  [[nodiscard]] static Result<std::unique_ptr<AuditIntake>> open(Options options);
  ~AuditIntake();
  AuditIntake(const AuditIntake&) = delete;
  AuditIntake& operator=(const AuditIntake&) = delete;

  void start();
  // Receives what is already queued on the socket, then stops the thread and
  // removes the socket.
  void stop();

  [[nodiscard]] std::uint64_t accepted() const { return accepted_.load(); }
  [[nodiscard]] std::uint64_t malformed() const { return malformed_.load(); }

 private:
  explicit AuditIntake(Options options) : options_(std::move(options)) {}
  void loop();
  bool drain();  // false on a fatal socket error

  Options options_;
  util::UniqueFd fd_;
  bool bound_ = false;  // fd_ is bound to options_.path, which stop() removes
  util::UniqueFd stopFd_;
  std::thread thread_;
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> malformed_{0};
};

}  // namespace lens::sync
