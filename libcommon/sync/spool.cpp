#include "libcommon/sync/spool.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Poco/Dynamic/Var.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <variant>

#include "libcommon/json/source_map.h"
#include "libcommon/log/logging.h"
#include "libcommon/util/strings.h"
#include "libcommon/util/system_error.h"

namespace lens::sync {

namespace {

constexpr std::string_view kSegmentPrefix = "seg-";
constexpr std::string_view kSegmentSuffix = ".jsonl";
constexpr std::size_t kMaxRecord = 1u << 20;

std::optional<std::uint64_t> segmentNumber(std::string_view name) {
  if (!util::startsWith(name, kSegmentPrefix) || !util::endsWith(name, kSegmentSuffix))
    return std::nullopt;
  name.remove_prefix(kSegmentPrefix.size());
  name.remove_suffix(kSegmentSuffix.size());
  if (name.size() != 16) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

Status writeAll(int fd, std::string_view data, const std::string& name) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return util::systemError("write " + name);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Ok{};
}

}  // namespace

bool isSpoolRecord(std::string_view line) {
  if (line.empty() || line.size() > kMaxRecord || line.front() != '{') return false;
  json::JsonLimits limits;
  limits.maxBytes = kMaxRecord;
  limits.maxDepth = 32;
  auto scanned = json::SourceMap::scan(line, limits);
  if (std::holds_alternative<json::SourceMap::ScanError>(scanned)) return false;
  try {
    Poco::JSON::Parser parser;
    parser.setDepth(33);
    const Poco::Dynamic::Var root = parser.parse(std::string(line));
    if (root.type() != typeid(Poco::JSON::Object::Ptr)) return false;
    const auto obj = root.extract<Poco::JSON::Object::Ptr>();
    return obj->has("type") && obj->get("type").isString() && obj->has("id") &&
           obj->get("id").isString();
  } catch (const Poco::Exception&) {
    return false;
  }
}

std::optional<SpoolPosition> parseCursor(std::string_view text) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  constexpr unsigned long kMax = 9999999999999999UL;
  const auto segment = util::parseDecimal(text.substr(0, space), kMax);
  const auto offset = util::parseDecimal(text.substr(space + 1), kMax);
  if (!segment || !offset) return std::nullopt;
  return SpoolPosition{*segment, *offset};
}

std::string formatCursor(SpoolPosition position) {
  return std::to_string(position.segment) + " " + std::to_string(position.offset) + "\n";
}

Spool::Spool(Options options) : options_(std::move(options)) {
  if (options_.segmentBytes == 0) {
    options_.segmentBytes = std::clamp<std::uint64_t>(options_.maxBytes / 16, 4096, 4u << 20);
  }
}

Spool::~Spool() {
  {
    std::lock_guard lock(mutex_);
    if (cursorDirty_) (void)persistCursorLocked();
  }
}

Result<std::unique_ptr<Spool>> Spool::open(Options options) {
  std::unique_ptr<Spool> spool(new Spool(std::move(options)));
  if (Status s = spool->load(); !s) return s.error();
  return spool;
}

std::string Spool::segmentPath(std::uint64_t number) const {
  char name[48];
  std::snprintf(name, sizeof name, "seg-%016llu.jsonl", static_cast<unsigned long long>(number));
  return options_.dir + "/" + name;
}

Status Spool::load() {
  if (::mkdir(options_.dir.c_str(), 0700) != 0 && errno != EEXIST)
    return util::systemError("mkdir " + options_.dir);
  eventFd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!eventFd_) return util::systemError("eventfd");

  std::vector<std::uint64_t> numbers;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.dir, ec)) {
    if (auto n = segmentNumber(entry.path().filename().string())) numbers.push_back(*n);
  }
  if (ec) return makeError(ErrorCode::kIo, "cannot list " + options_.dir + ": " + ec.message());
  std::sort(numbers.begin(), numbers.end());

  // The cursor; an unreadable one means "send everything again".
  std::optional<SpoolPosition> cursor;
  if (FILE* f = std::fopen((options_.dir + "/cursor").c_str(), "re")) {
    char buf[64] = {};
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    cursor = parseCursor(std::string_view(buf, n));
    if (!cursor)
      log::get("sync")->warn("spool cursor in {} is unreadable; sending the whole spool again",
                             options_.dir);
  }

  for (std::uint64_t number : numbers) {
    struct stat st {};
    if (::stat(segmentPath(number).c_str(), &st) != 0)
      return util::systemError("stat " + segmentPath(number));
    if (cursor && number < cursor->segment) {
      ::unlink(segmentPath(number).c_str());
      continue;
    }
    segments_.push_back(Segment{number, static_cast<std::uint64_t>(st.st_size)});
  }

  if (!segments_.empty()) {
    // Cut a torn last line (a crash in the middle of a write).
    Segment& last = segments_.back();
    if (last.size > 0) {
      const util::UniqueFd fd(::open(segmentPath(last.number).c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) return util::systemError("open " + segmentPath(last.number));
      std::uint64_t keep = last.size;
      std::vector<char> buf(64 * 1024);
      while (keep > 0) {
        const std::uint64_t chunk = std::min<std::uint64_t>(keep, buf.size());
        const ssize_t n = ::pread(fd.get(), buf.data(), chunk, static_cast<off_t>(keep - chunk));
        if (n != static_cast<ssize_t>(chunk)) break;
        const auto* nl = static_cast<const char*>(::memrchr(buf.data(), '\n', chunk));
        if (nl) {
          keep = keep - chunk + static_cast<std::uint64_t>(nl - buf.data()) + 1;
          break;
        }
        keep -= chunk;
      }
      if (keep != last.size) {
        log::get("sync")->warn("spool {}: cutting {} bytes of a torn record",
                               segmentPath(last.number), last.size - keep);
        if (::truncate(segmentPath(last.number).c_str(), static_cast<off_t>(keep)) != 0) {
          return util::systemError("truncate " + segmentPath(last.number));
        }
        last.size = keep;
      }
    }
    commit_ = SpoolPosition{segments_.front().number, 0};
    if (cursor && cursor->segment == segments_.front().number) {
      commit_.offset = std::min(cursor->offset, segments_.front().size);
    }
    tailFd_.reset(
        ::open(segmentPath(segments_.back().number).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    if (!tailFd_) return util::systemError("open " + segmentPath(segments_.back().number));
  } else {
    const std::uint64_t first = cursor ? cursor->segment + 1 : 1;
    segments_.push_back(Segment{first, 0});
    commit_ = SpoolPosition{first, 0};
    tailFd_.reset(
        ::open(segmentPath(first).c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
    if (!tailFd_) return util::systemError("create " + segmentPath(first));
  }
  scanned_ = commit_;
  settleCommitLocked();
  cursorDirty_ = true;
  if (Status s = persistCursorLocked(); !s) return s;
  if (pendingBytesLocked() > 0) {
    const std::uint64_t one = 1;
    (void)!::write(eventFd_.get(), &one, sizeof one);
  }
  return Ok{};
}

std::uint64_t Spool::pendingBytesLocked() const {
  std::uint64_t total = 0;
  for (const Segment& s : segments_) total += s.size;
  return total - std::min(total, commit_.offset);
}

Status Spool::rotateLocked() {
  // The full segment reaches the disk before the spool moves on: a failure
  // here keeps writing into it (the caller reports the error).
  if (dataDirty_) {
    if (::fdatasync(tailFd_.get()) != 0)
      return util::systemError("fdatasync " + segmentPath(segments_.back().number));
    dataDirty_ = false;
  }
  const std::uint64_t next = segments_.back().number + 1;
  util::UniqueFd fd(
      ::open(segmentPath(next).c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return util::systemError("create " + segmentPath(next));
  tailFd_ = std::move(fd);  // closes the full segment
  segments_.push_back(Segment{next, 0});
  return Ok{};
}

std::uint64_t Spool::dropOldestLocked() {
  const Segment head = segments_.front();
  const std::uint64_t from = commit_.segment == head.number ? commit_.offset : 0;
  std::uint64_t lost = 0;
  std::uint64_t report = 0;
  if (const util::UniqueFd fd(::open(segmentPath(head.number).c_str(), O_RDONLY | O_CLOEXEC)); fd) {
    std::string data(head.size - std::min(head.size, from), '\0');
    const ssize_t n = ::pread(fd.get(), data.data(), data.size(), static_cast<off_t>(from));
    data.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    std::string_view rest(data);
    while (!rest.empty()) {
      const std::size_t nl = rest.find('\n');
      const std::string_view line = rest.substr(0, nl);
      const auto carried = options_.overflowCount ? options_.overflowCount(line) : std::nullopt;
      if (carried) {
        report += *carried;  // an overflow record: its events were counted when they were dropped
      } else {
        ++lost;
      }
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
    }
  }
  if (readFd_ && readSegment_ == head.number) readFd_.reset();
  ::unlink(segmentPath(head.number).c_str());
  segments_.pop_front();
  commit_ = SpoolPosition{segments_.front().number, 0};
  scanned_ = std::max(scanned_, commit_);
  cursorDirty_ = true;
  stats_.dropped += lost;
  return report + lost;
}

Status Spool::writeTailLocked(std::string_view data, int* err) {
  const std::uint64_t before = segments_.back().size;
  Status s = writeAll(tailFd_.get(), data, segmentPath(segments_.back().number));
  if (!s) {
    if (err) *err = errno;
    // A write cut short (the file system filled in the middle) leaves a torn
    // line that would swallow the next record: cut it back.
    if (::ftruncate(tailFd_.get(), static_cast<off_t>(before)) != 0) {
      log::get("sync")->error("spool: cannot cut a torn write back in {}: {}",
                              segmentPath(segments_.back().number), std::strerror(errno));
      tailTorn_ = true;
    }
    return s;
  }
  segments_.back().size += data.size();
  dataDirty_ = true;
  return Ok{};
}

bool Spool::makeRoomLocked() {
  const Segment& tail = segments_.back();
  const bool tailPartlySent = commit_.segment == tail.number && commit_.offset > 0;
  if (tail.size > 0 && commit_ >= SpoolPosition{tail.number, tail.size}) {
    // A tail whose records were all sent: start a new segment and delete it.
    if (Status s = rotateLocked(); !s) return false;
    settleCommitLocked();
    cursorDirty_ = true;
    return true;
  }
  if (segments_.size() > 1) {
    // Unsent segments go, oldest first, counted as for an overflow.
    unreported_ += dropOldestLocked();
    return true;
  }
  if (tailPartlySent) {
    // The sender is reading the tail: move on to a new segment so that the
    // old one is deleted once its last records are sent. Nothing is freed
    // yet, so this write fails.
    (void)rotateLocked();
  }
  return false;
}

Status Spool::appendLocked(const std::string& data, std::size_t count) {
  if (tailTorn_ ||
      (segments_.back().size > 0 && segments_.back().size + data.size() > options_.segmentBytes)) {
    if (Status s = rotateLocked(); !s) return s;
    tailTorn_ = false;
  }
  while (segments_.size() > 1 && pendingBytesLocked() + data.size() > options_.maxBytes)
    unreported_ += dropOldestLocked();
  int err = 0;
  Status written = writeTailLocked(data, &err);
  // The file system is full (it may be smaller than maxBytes, or shared):
  // make room as the bound would, then try again.
  while (!written && (err == ENOSPC || err == EDQUOT) && !tailTorn_ && makeRoomLocked())
    written = writeTailLocked(data, &err);
  if (!written) {
    // Lost before they reached the spool: counted like dropped ones and
    // reported in the next overflow record that can be written.
    stats_.dropped += count;
    unreported_ += count;
    return written;
  }
  stats_.appended += count;
  // Logged once per overflow record (or loss), not for every append that
  // could not write one.
  if (unreported_ > 0 && (!options_.overflowRecord ||
                          writeTailLocked(options_.overflowRecord(unreported_) + "\n", nullptr))) {
    log::get("sync")->warn("spool full ({} bytes or its file system): {} unsent events dropped",
                           options_.maxBytes, unreported_);
    if (options_.overflowRecord) stats_.appended += 1;
    unreported_ = 0;
  }
  return Ok{};
}

Status Spool::append(const std::vector<std::string>& records) {
  if (records.empty()) return Ok{};
  std::string data;
  std::size_t count = 0;
  Status status = Ok{};
  {
    std::lock_guard lock(mutex_);
    // Every chunk is tried: one that fails counts its own records as lost.
    auto flush = [&] {
      if (Status s = appendLocked(data, count); !s && status) status = std::move(s);
      data.clear();
      count = 0;
    };
    for (const std::string& r : records) {
      // Keep each write within a segment's budget so rotation and overflow see whole batches.
      if (!data.empty() && data.size() + r.size() + 1 > options_.segmentBytes) flush();
      data += r;
      data += '\n';
      ++count;
    }
    if (!data.empty()) flush();
  }
  const std::uint64_t one = 1;
  (void)!::write(eventFd_.get(), &one, sizeof one);
  return status;
}

Status Spool::append(std::string_view record) {
  return append(std::vector<std::string>{std::string(record)});
}

int Spool::readFdFor(std::uint64_t number) {
  if (readFd_ && readSegment_ == number) return readFd_.get();
  readFd_.reset(::open(segmentPath(number).c_str(), O_RDONLY | O_CLOEXEC));
  readSegment_ = number;
  return readFd_.get();
}

Spool::Batch Spool::peek(std::size_t maxRecords, std::size_t maxBytes) {
  std::lock_guard lock(mutex_);
  Batch batch;
  batch.end = commit_;
  std::size_t bytes = 0;
  std::vector<char> buf;
  for (const Segment& seg : segments_) {
    if (seg.number < batch.end.segment) continue;
    if (seg.number > batch.end.segment) batch.end = SpoolPosition{seg.number, 0};
    while (batch.end.offset < seg.size && batch.records.size() < maxRecords && bytes < maxBytes) {
      const int fd = readFdFor(seg.number);
      if (fd < 0) {
        log::get("sync")->error("spool: cannot read {}: {}", segmentPath(seg.number),
                                std::strerror(errno));
        batch.end = SpoolPosition{seg.number, seg.size};
        break;
      }
      const std::uint64_t want = std::min<std::uint64_t>(
          seg.size - batch.end.offset, std::max(maxBytes - bytes, kMaxRecord + 1));
      buf.resize(want);
      const ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(batch.end.offset));
      if (n <= 0) {
        batch.end = SpoolPosition{seg.number, seg.size};
        break;
      }
      std::string_view chunk(buf.data(), static_cast<std::size_t>(n));
      std::size_t used = 0;
      while (used < chunk.size() && batch.records.size() < maxRecords && bytes < maxBytes) {
        const std::size_t nl = chunk.find('\n', used);
        if (nl == std::string_view::npos) {
          if (used == 0 && chunk.size() > kMaxRecord)
            used = chunk.size();  // an overlong line: skip it whole
          break;
        }
        const std::string_view line = chunk.substr(used, nl - used);
        const SpoolPosition at{seg.number, batch.end.offset + used};
        if (isSpoolRecord(line)) {
          batch.records.emplace_back(line);
          bytes += line.size();
        } else if (at >= scanned_) {
          ++stats_.corrupt;
          log::get("sync")->warn("spool {}: skipping a corrupt record at byte {}",
                                 segmentPath(seg.number), at.offset);
        }
        used = nl + 1;
      }
      if (used == 0) {
        batch.end = SpoolPosition{
            seg.number, seg.size};  // no newline up to the end: cannot happen for our writes
        break;
      }
      batch.end.offset += used;
      scanned_ = std::max(scanned_, batch.end);
    }
    if (batch.records.size() >= maxRecords || bytes >= maxBytes) break;
  }
  return batch;
}

void Spool::settleCommitLocked() {
  // Move past fully sent segments (except the tail) and delete them.
  while (segments_.size() > 1 && (commit_.segment > segments_.front().number ||
                                  (commit_.segment == segments_.front().number &&
                                   commit_.offset >= segments_.front().size))) {
    const std::uint64_t number = segments_.front().number;
    if (readFd_ && readSegment_ == number) readFd_.reset();
    ::unlink(segmentPath(number).c_str());
    segments_.pop_front();
    if (commit_.segment <= number) commit_ = SpoolPosition{segments_.front().number, 0};
  }
}

void Spool::commit(SpoolPosition end) {
  std::lock_guard lock(mutex_);
  if (end <= commit_) return;
  commit_ = end;
  settleCommitLocked();
  cursorDirty_ = true;
}

bool Spool::empty() const {
  std::lock_guard lock(mutex_);
  return pendingBytesLocked() == 0;
}

Status Spool::persistCursorLocked() {
  if (!cursorDirty_) return Ok{};
  const std::string tmp = options_.dir + "/cursor.tmp";
  util::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return util::systemError("create " + tmp);
  Status s = writeAll(fd.get(), formatCursor(commit_), tmp);
  fd.reset();  // before the rename
  if (!s) return s;
  if (::rename(tmp.c_str(), (options_.dir + "/cursor").c_str()) != 0)
    return util::systemError("rename " + tmp);
  cursorDirty_ = false;
  return Ok{};
}

Status Spool::sync() {
  std::lock_guard lock(mutex_);
  if (dataDirty_) {
    if (::fdatasync(tailFd_.get()) != 0)
      return util::systemError("fdatasync " + segmentPath(segments_.back().number));
    dataDirty_ = false;
  }
  return persistCursorLocked();
}

Spool::Stats Spool::stats() const {
  std::lock_guard lock(mutex_);
  Stats s = stats_;
  s.pendingBytes = pendingBytesLocked();
  s.segments = segments_.size();
  return s;
}

}  // namespace lens::sync
