#include "libcommon/audit/sink.h"

#include "libcommon/audit/approval.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace lens::audit {

namespace {

static_assert(DatagramSink::kMaxPathLength == sizeof(sockaddr_un::sun_path) - 1);

std::string errnoText(int err) { return std::strerror(err); }

// `"text"` for messages; paths are shown escaped so control bytes cannot
// forge lines in a terminal or log.
std::string quoted(std::string_view text) { return json::quote(text); }

std::string eventLine(const Event& event) {
  std::string line = event.toJson();
  line += '\n';
  return line;
}

}  // namespace

Sink::~Sink() = default;

// ---------------------------------------------------------------------------
// openSink

Result<std::unique_ptr<Sink>> openSink(std::string_view spec) {
  constexpr std::string_view kUnixPrefix = "unix:";
  if (spec.empty()) {
    return makeError(ErrorCode::kInvalidArgument,
                     "audit sink: empty specification (use \"-\" for standard output, a file "
                     "path, or unix:PATH)");
  }
  if (spec == "-") return std::unique_ptr<Sink>(FdSink::openStdout());
  if (spec.starts_with(kUnixPrefix)) {
    auto sink = DatagramSink::open(spec.substr(kUnixPrefix.size()));
    if (!sink) return sink.error();
    return std::unique_ptr<Sink>(std::move(sink).value());
  }
  auto sink = FdSink::openFile(spec);
  if (!sink) return sink.error();
  return std::unique_ptr<Sink>(std::move(sink).value());
}

// ---------------------------------------------------------------------------
// FdSink

std::unique_ptr<FdSink> FdSink::openStdout() {
  return std::make_unique<FdSink>(STDOUT_FILENO, false, "standard output");
}

Result<std::unique_ptr<FdSink>> FdSink::openFile(std::string_view path) {
  if (path.find('\0') != std::string_view::npos) {
    return makeError(ErrorCode::kInvalidArgument,
                     "audit sink: file path " + quoted(path) + " contains a NUL byte");
  }
  const std::string pathString(path);
  util::UniqueFd fd;
  do {
    fd.reset(::open(pathString.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  } while (!fd && errno == EINTR);
  if (!fd) {
    const int err = errno;
    return makeError(ErrorCode::kIo, "audit sink: cannot open " + quoted(path) +
                                         " for appending: " + errnoText(err));
  }
  return std::make_unique<FdSink>(std::move(fd), pathString);
}

FdSink::FdSink(int fd, bool ownsFd, std::string name)
    : owned_(ownsFd ? fd : -1), fd_(fd), name_(std::move(name)) {}

FdSink::FdSink(util::UniqueFd fd, std::string name)
    : owned_(std::move(fd)), fd_(owned_.get()), name_(std::move(name)) {}

FdSink::~FdSink() = default;

Status FdSink::write(const Event& event) {
  const std::string line = eventLine(event);
  std::lock_guard<std::mutex> lock(mutex_);
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return makeError(ErrorCode::kIo,
                       "audit sink: cannot write to " + quoted(name_) + ": " + errnoText(err));
    }
    done += static_cast<std::size_t>(n);
  }
  return Ok{};
}

// ---------------------------------------------------------------------------
// DatagramSink

Result<std::unique_ptr<DatagramSink>> DatagramSink::open(std::string_view path) {
  const std::string shown = quoted("unix:" + std::string(path));
  if (path.empty()) {
    return makeError(ErrorCode::kInvalidArgument,
                     "audit sink " + shown + ": empty socket path (use unix:/path/to/socket)");
  }
  if (path.find('\0') != std::string_view::npos) {
    return makeError(ErrorCode::kInvalidArgument,
                     "audit sink " + shown + ": socket path contains a NUL byte");
  }
  if (path.size() > kMaxPathLength) {
    return makeError(ErrorCode::kInvalidArgument,
                     "audit sink " + shown + ": socket path too long (" +
                         std::to_string(path.size()) + " bytes, at most " +
                         std::to_string(kMaxPathLength) + " fit in a Unix socket address)");
  }
  util::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    const int err = errno;
    return makeError(
        ErrorCode::kIo,
        "audit sink " + shown + ": cannot create a Unix datagram socket: " + errnoText(err));
  }
  // A blocking send waits for room in the receiver's queue, this long.
  timeval timeout{};
  timeout.tv_sec = static_cast<time_t>(kSendTimeout.count() / 1000);
  timeout.tv_usec = static_cast<suseconds_t>((kSendTimeout.count() % 1000) * 1000);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  const int sndbuf = static_cast<int>(2 * kMaxDatagram);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  return std::make_unique<DatagramSink>(Token{}, std::move(fd), std::string(path));
}

DatagramSink::DatagramSink(Token, util::UniqueFd fd, std::string path)
    : fd_(std::move(fd)), path_(std::move(path)), thread_([this] { sendLoop(); }) {}

DatagramSink::~DatagramSink() {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait_for(lock, kSendTimeout, [this] { return queue_.empty() && !sending_; });
    dropped_ += queue_.size();
    queue_.clear();
    queuedBytes_ = 0;
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

Status DatagramSink::write(const Event& event) {
  std::string line = eventLine(event);
  if (line.size() > kMaxDatagram) {
    ++dropped_;
    return makeError(ErrorCode::kLimit, "audit sink " + quoted("unix:" + path_) + ": event of " +
                                            std::to_string(line.size()) +
                                            " bytes is larger than a datagram may be (" +
                                            std::to_string(kMaxDatagram) + " bytes); dropped");
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.size() >= kMaxQueued || queuedBytes_ + line.size() > kMaxQueuedBytes) {
      ++dropped_;
      return Ok{};
    }
    queuedBytes_ += line.size();
    queue_.push_back(std::move(line));
  }
  wake_.notify_one();
  return Ok{};
}

void DatagramSink::flush() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [this] { return queue_.empty() && !sending_; });
}

void DatagramSink::sendLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    std::string line = std::move(queue_.front());
    queue_.pop_front();
    queuedBytes_ -= line.size();
    sending_ = true;
    lock.unlock();
    send(line);
    lock.lock();
    sending_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

void DatagramSink::send(const std::string& line) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.data(), path_.size());  // checked in open(); NUL from {}
  const auto addrLen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size() + 1);
  const int flags = MSG_NOSIGNAL | (stalled_ ? MSG_DONTWAIT : 0);
  for (;;) {
    if (::sendto(fd_.get(), line.data(), line.size(), flags,
                 reinterpret_cast<const sockaddr*>(&addr), addrLen) >= 0) {
      stalled_ = false;
      return;
    }
    if (errno != EINTR) break;
  }
  // A wait of kSendTimeout in vain: the receiver is stalled, and the events
  // behind this one would each wait as long.
  if (errno == EAGAIN || errno == EWOULDBLOCK) stalled_ = true;
  ++dropped_;  // nobody bound, no room, or another failure
}

// ---------------------------------------------------------------------------
// RecordingSink

Status RecordingSink::write(const Event& event) {
  std::string line = event.toJson();
  std::lock_guard<std::mutex> lock(mutex_);
  events_.push_back(event);
  lines_.push_back(std::move(line));
  return Ok{};
}

std::vector<std::string> RecordingSink::lines() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lines_;
}

std::vector<Event> RecordingSink::events() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return events_;
}

std::size_t RecordingSink::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lines_.size();
}

void RecordingSink::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  events_.clear();
  lines_.clear();
}

// ---------------------------------------------------------------------------
// RateLimitedSink

namespace {

// (action, outcome, reason) as one string. Fields are length-prefixed so that
// no choice of their contents can make two different triples collide; a
// missing reason differs from an empty one.
std::string rateKey(const Event& event) {
  std::string key;
  const auto add = [&key](std::string_view part) {
    key += std::to_string(part.size());
    key += ':';
    key += part;
  };
  add(event.action());
  add(outcomeName(*event.outcome()));
  if (const auto reason = event.reason()) {
    add(*reason);
  } else {
    key += '-';
  }
  return key;
}

bool isLimited(const Event& event) {
  const auto outcome = event.outcome();
  if (!outcome || (*outcome != Outcome::kFailure && *outcome != Outcome::kError)) return false;
  // What an approver answered (or that nobody did) is always reported.
  const auto reason = event.reason();
  return !reason || !isApprovalReason(*reason);
}

}  // namespace

RateLimitedSink::RateLimitedSink(std::unique_ptr<Sink> inner,
                                 std::chrono::steady_clock::duration window, Clock clock)
    : inner_(std::move(inner)), window_(window), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
}

RateLimitedSink::~RateLimitedSink() {
  // Best effort: report counts still pending. A failure here has nowhere to go.
  std::lock_guard<std::mutex> lock(mutex_);
  (void)flushLocked();
}

Status RateLimitedSink::write(const Event& event) {
  if (!isLimited(event)) return inner_->write(event);

  const auto now = clock_();
  std::string key = rateKey(event);
  std::lock_guard<std::mutex> lock(mutex_);

  auto it = entries_.find(key);
  if (it == entries_.end()) {
    Status flushed = Ok{};
    if (entries_.size() >= kMaxKeys) {
      flushed = flushLocked();
      entries_.clear();
    }
    entries_.emplace(std::move(key), Entry{now, 0, std::nullopt});
    Status written = inner_->write(event);
    if (!written) return written;
    return flushed;
  }

  Entry& entry = it->second;
  if (now - entry.windowStart < window_) {
    ++entry.suppressed;
    ++suppressedTotal_;
    entry.lastSuppressed = event;
    return Ok{};
  }

  const std::uint64_t suppressed = entry.suppressed;
  entry.windowStart = now;
  entry.suppressed = 0;
  entry.lastSuppressed.reset();
  if (suppressed == 0) return inner_->write(event);
  return inner_->write(event.withMeta("suppressed", suppressed));
}

Status RateLimitedSink::flush() {
  std::lock_guard<std::mutex> lock(mutex_);
  return flushLocked();
}

Status RateLimitedSink::flushLocked() {
  Status result = Ok{};
  for (auto& [key, entry] : entries_) {
    if (entry.suppressed == 0 || !entry.lastSuppressed) continue;
    Status written = inner_->write(entry.lastSuppressed->withMeta("suppressed", entry.suppressed));
    entry.suppressed = 0;
    entry.lastSuppressed.reset();
    if (!written && result) result = std::move(written);
  }
  return result;
}

std::uint64_t RateLimitedSink::suppressedCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return suppressedTotal_;
}

std::size_t RateLimitedSink::keyCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

}  // namespace lens::audit
