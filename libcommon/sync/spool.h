#pragma once

#include <compare>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/util/result.h"
#include "libcommon/util/unique_fd.h"

namespace lens::sync {

// Where a record starts: segment number and byte offset in that segment.
struct SpoolPosition {
  std::uint64_t segment = 0;
  std::uint64_t offset = 0;
  auto operator<=>(const SpoolPosition&) const = default;
};

// A spool record is one line: a JSON object with a string "type" and a
// string "id". Anything else (a torn or corrupted line) is not a record.
[[nodiscard]] bool isSpoolRecord(std::string_view line);

// The cursor file: "SEGMENT OFFSET\n", both decimal.
[[nodiscard]] std::optional<SpoolPosition> parseCursor(std::string_view text);
[[nodiscard]] std::string formatCursor(SpoolPosition position);

// The disk spool of outbound events (a write-ahead log). Every event is
// appended here first; the sender reads records from the oldest unsent one
// and commits a position once the records before it were written to the
// socket, so an event leaves the spool only after it was sent and a crash
// (even kill -9) loses nothing that append() accepted: after a restart the
// records from the last persisted commit are sent again (duplicates are
// possible, losses are not; records carry unique ids for deduplication).
//
// Records live in segment files DIR/seg-<16 digits>.jsonl. The unsent bytes
// are bounded by maxBytes: when an append would exceed it, the oldest
// segments are deleted, their unsent events counted, and a record made by
// overflowRecord(count) is appended after the new one. An overflow record
// that is itself deleted passes its count on (overflowCount() recognises
// it), so the counts that arrive always add up to the events lost.
//
// A full file system (it may be smaller than maxBytes, or shared) is met the
// same way: a tail segment whose records were all sent is replaced by a new
// one and deleted, or else the oldest unsent segments are dropped; records
// that still cannot be written are counted as dropped and reported in the
// next overflow record. A write cut short is cut back, so no torn line is
// left for the next record to be glued to.
//
// Thread-safe: one intake thread appends while one sender peeks and commits.
class Spool {
 public:
  struct Options {
    std::string dir;
    std::uint64_t maxBytes = 64u << 20;
    std::uint64_t segmentBytes = 0;  // 0: maxBytes / 16, between 4 KiB and 4 MiB
    // The spool_overflow record for `dropped` lost records (one line).
    std::function<std::string(std::uint64_t dropped)> overflowRecord;
    // The count of an overflow record, or nullopt for any other record.
    std::function<std::optional<std::uint64_t>(std::string_view record)> overflowCount;
  };

  struct Stats {
    std::uint64_t appended = 0;  // records accepted since open
    std::uint64_t dropped = 0;   // events deleted unsent by overflow since open
    std::uint64_t corrupt = 0;   // lines that were not records, skipped
    std::uint64_t pendingBytes = 0;
    std::size_t segments = 0;
  };

  struct Batch {
    std::vector<std::string> records;
    SpoolPosition end;  // commit this once every record was sent
  };

  // Creates DIR (0700) if needed, reads the cursor, deletes segments before
  // it and cuts a torn last line.
  [[nodiscard]] static Result<std::unique_ptr<Spool>> open(Options options);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Appends records (each one line without '\n') with one write(2).
  [[nodiscard]] Status append(const std::vector<std::string>& records);
  [[nodiscard]] Status append(std::string_view record);

  // Up to maxRecords records (and about maxBytes bytes) from the oldest
  // unsent one, in order. Empty when nothing is pending.
  [[nodiscard]] Batch peek(std::size_t maxRecords, std::size_t maxBytes = 256 * 1024);
  // Marks everything before `end` as sent; older positions are ignored.
  void commit(SpoolPosition end);
  [[nodiscard]] bool empty() const;

  // fsyncs appended data and persists the commit position.
  [[nodiscard]] Status sync();

  // Becomes readable when records are appended (an eventfd; read it to reset).
  [[nodiscard]] int eventFd() const { return eventFd_.get(); }
  [[nodiscard]] Stats stats() const;

 private:
  struct Segment {
    std::uint64_t number = 0;
    std::uint64_t size = 0;
  };

  explicit Spool(Options options);
  Status load();
  Status rotateLocked();
  Status appendLocked(const std::string& data, std::size_t count);
  // Writes to the tail segment; a short write is cut back (or the tail
  // marked torn) and its errno stored in *err.
  Status writeTailLocked(std::string_view data, int* err);
  // On a full file system: rotates away a fully sent tail or drops the oldest
  // unsent segment; false when nothing was freed (a partly sent tail is
  // rotated so that it goes once sent).
  bool makeRoomLocked();
  // Deletes the oldest segment; returns the events to report as lost.
  std::uint64_t dropOldestLocked();
  void settleCommitLocked();
  Status persistCursorLocked();
  [[nodiscard]] std::string segmentPath(std::uint64_t number) const;
  [[nodiscard]] std::uint64_t pendingBytesLocked() const;
  int readFdFor(std::uint64_t number);

  Options options_;
  mutable std::mutex mutex_;
  std::deque<Segment> segments_;
  SpoolPosition commit_;
  SpoolPosition scanned_;  // corrupt lines before this were counted already
  bool cursorDirty_ = false;
  bool dataDirty_ = false;
  bool tailTorn_ = false;         // a torn write could not be cut back: never append to it
  std::uint64_t unreported_ = 0;  // events lost and not yet in an overflow record
  util::UniqueFd tailFd_;
  util::UniqueFd readFd_;
  std::uint64_t readSegment_ = 0;
  util::UniqueFd eventFd_;
  Stats stats_;
};

}  // namespace lens::sync
