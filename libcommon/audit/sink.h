#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "libcommon/audit/event.h"
#include "libcommon/util/result.h"
#include "libcommon/util/unique_fd.h"

namespace lens::audit {

// Where audit events go (DESIGN.md section 6). Every sink writes
// event.toJson() followed by "\n" as one unit:
//  - stream sinks (stdout, file): one line per event;
//  - the datagram sink: one datagram per event whose payload is the JSON
//    line *with* its trailing "\n", so a receiver can append payloads to a
//    file or forward them to a line-oriented consumer unchanged.
// write() is safe to call from several threads at once.
class Sink {
 public:
  Sink() = default;
  virtual ~Sink();
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  [[nodiscard]] virtual lens::Status write(const Event& event) = 0;

  // Events that write() accepted but could not deliver (a datagram receiver
  // that is absent or full). Always 0 for sinks that never drop.
  [[nodiscard]] virtual std::uint64_t droppedCount() const { return 0; }
};

// Opens a sink from its command-line spelling:
//   "-"          standard output
//   "unix:PATH"  a Unix datagram socket at PATH (lens-policy-sync listens there)
//   anything else  a file, created if needed (mode 0600) and appended to
// Errors: kInvalidArgument for an empty spec, "unix:" without a path, a
// socket path too long for sockaddr_un, or a NUL byte in a path; kIo when the
// file cannot be opened or the socket cannot be created (the message names
// the path and the system error).
[[nodiscard]] lens::Result<std::unique_ptr<Sink>> openSink(std::string_view spec);

// Writes each event as one line to a file descriptor. The line is handed to
// a single write(2) call, so with O_APPEND lines from several processes
// writing the same file do not interleave (a short write, for example on a
// full disk, is continued with further calls).
class FdSink : public Sink {
 public:
  // Standard output; the descriptor is not closed by the sink.
  [[nodiscard]] static std::unique_ptr<FdSink> openStdout();
  // open(path, O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, 0600).
  [[nodiscard]] static lens::Result<std::unique_ptr<FdSink>> openFile(std::string_view path);

  // Takes ownership of `fd` when `ownsFd`; `name` is used in error messages.
  FdSink(int fd, bool ownsFd, std::string name);
  FdSink(util::UniqueFd fd, std::string name);
  ~FdSink() override;

  [[nodiscard]] lens::Status write(const Event& event) override;

 private:
  util::UniqueFd owned_;  // fd_ when the sink owns it, else none
  int fd_;
  std::string name_;
  std::mutex mutex_;
};

// Sends each event as one datagram to a Unix datagram socket at a path,
// without connecting (the receiver may start, stop and restart). write()
// never blocks: it queues the event (at most kMaxQueued events and
// kMaxQueuedBytes) for a thread of the sink's own, which sends in order
// and, when the receiver's queue is full, waits for room for up to
// kSendTimeout. An event is dropped and counted in droppedCount() when
// nobody is bound at the path (ENOENT, ECONNREFUSED), when the queue is
// full, on any other send failure, and while the receiver is stalled: once
// a send has waited kSendTimeout in vain, events are sent without waiting
// (and dropped when there is no room) until one gets through. An event
// larger than kMaxDatagram is refused at once with a kLimit error (and
// counted). The destructor sends what is queued, waiting at most
// kSendTimeout in all.
class DatagramSink : public Sink {
 public:
  // sizeof(sockaddr_un::sun_path) - 1: the longest path that fits with its NUL.
  static constexpr std::size_t kMaxPathLength = 107;
  static constexpr std::size_t kMaxQueued = 65536;
  static constexpr std::size_t kMaxQueuedBytes = 16 * 1024 * 1024;
  static constexpr std::size_t kMaxDatagram = 64 * 1024;
  static constexpr std::chrono::milliseconds kSendTimeout{2000};

  [[nodiscard]] static lens::Result<std::unique_ptr<DatagramSink>> open(std::string_view path);
  ~DatagramSink() override;
  DatagramSink(const DatagramSink&) = delete;
  DatagramSink& operator=(const DatagramSink&) = delete;

  [[nodiscard]] lens::Status write(const Event& event) override;
  [[nodiscard]] std::uint64_t droppedCount() const override { return dropped_.load(); }
  [[nodiscard]] const std::string& path() const { return path_; }
  // Waits until every queued event was sent or dropped (for tests and exit).
  void flush();

 private:
  struct Token {};  // keeps the constructor for open() while make_unique can call it

 public:
  DatagramSink(Token, util::UniqueFd fd, std::string path);

 private:
  void sendLoop();
  void send(const std::string& line);

  util::UniqueFd fd_;  // outlives thread_, which sends on it
  std::string path_;
  std::atomic<std::uint64_t> dropped_{0};
  std::mutex mutex_;
  std::condition_variable wake_;   // an event was queued, or stop
  std::condition_variable idle_;   // the queue became empty
  std::deque<std::string> queue_;  // guarded by mutex_
  std::size_t queuedBytes_ = 0;    // guarded by mutex_
  bool stalled_ = false;           // the sender thread's: the last wait for room failed
  bool sending_ = false;           // the thread holds an event
  bool stopping_ = false;
  std::thread thread_;
};

// Keeps every event in memory; for tests.
class RecordingSink : public Sink {
 public:
  [[nodiscard]] lens::Status write(const Event& event) override;

  // toJson() of each event written, in order, without trailing newlines.
  [[nodiscard]] std::vector<std::string> lines() const;
  // Copies of the events written, in order.
  [[nodiscard]] std::vector<Event> events() const;
  [[nodiscard]] std::size_t size() const;
  void clear();

 private:
  mutable std::mutex mutex_;
  std::vector<Event> events_;
  std::vector<std::string> lines_;
};

// Wraps another sink and suppresses repeated identical failures.
//
// Events whose outcome is failure or error are keyed by (action, outcome,
// metadata.reason). The first event of a key is forwarded and opens a window
// (default 10 s); further events with that key inside the window are
// suppressed and counted. The first event with that key after the window is
// forwarded with metadata.suppressed = N (the number suppressed) and opens a
// new window. Successes and events without an outcome always pass.
//
// flush() forwards, for every key with a pending count, the last suppressed
// event carrying metadata.suppressed = N; the destructor calls it, so counts
// are reported even if no later event arrives. The key map is bounded: when
// a new key would exceed kMaxKeys, pending counts are flushed and the map is
// cleared.
class RateLimitedSink : public Sink {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  static constexpr std::chrono::steady_clock::duration kDefaultWindow = std::chrono::seconds(10);
  static constexpr std::size_t kMaxKeys = 1024;

  // `clock` defaults to std::chrono::steady_clock::now.
  explicit RateLimitedSink(std::unique_ptr<Sink> inner,
                           std::chrono::steady_clock::duration window = kDefaultWindow,
                           Clock clock = {});
  ~RateLimitedSink() override;

  [[nodiscard]] lens::Status write(const Event& event) override;
  [[nodiscard]] lens::Status flush();

  [[nodiscard]] std::uint64_t droppedCount() const override { return inner_->droppedCount(); }
  // Events suppressed so far, in total.
  [[nodiscard]] std::uint64_t suppressedCount() const;
  // Keys currently tracked.
  [[nodiscard]] std::size_t keyCount() const;

 private:
  struct Entry {
    std::chrono::steady_clock::time_point windowStart;
    std::uint64_t suppressed = 0;
    std::optional<Event> lastSuppressed;
  };

  lens::Status flushLocked();

  std::unique_ptr<Sink> inner_;
  std::chrono::steady_clock::duration window_;
  Clock clock_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::uint64_t suppressedTotal_ = 0;
};

}  // namespace lens::audit
