#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "libcommon/approval/protocol.h"
#include "libcommon/util/result.h"
#include "libcommon/util/unique_fd.h"

namespace lens::approval {

// One run of an --approve-with program for one prompt: the prompt's frame
// (request_pending or credential_pending, one line of JSON) on its standard
// input, its decision on standard output: a word (allow_once, allow_always,
// deny_once, deny_always; allow or deny), or a JSON object with a
// "decision" member. Nothing on standard output: the exit status decides
// (0 allows once, anything else denies once). Anything else is a denial
// (logged). The program runs in a process group of its own with the
// signals its parent blocked unblocked; standard error is the broker's.
// Its owner polls stdoutFd() and exitFd() and calls onReadable(); kill()
// ends it (a timeout); the destructor kills one still running.
class ApproverProcess {
 public:
  [[nodiscard]] static Result<ApproverProcess> spawn(const std::string& program,
                                                     std::string_view frame);
  ApproverProcess(ApproverProcess&&) noexcept;
  ApproverProcess& operator=(ApproverProcess&&) noexcept;
  ApproverProcess(const ApproverProcess&) = delete;
  ApproverProcess& operator=(const ApproverProcess&) = delete;
  ~ApproverProcess();

  [[nodiscard]] int stdoutFd() const { return out_.get(); }
  [[nodiscard]] int exitFd() const { return exit_.get(); }  // a pidfd: readable once it exited
  // Reads what is there, reaps it once it exited; true when it is done.
  bool onReadable();
  [[nodiscard]] bool done() const { return reaped_; }
  // After done(): its decision for an item of `kind`, and why it was read
  // so (for logs).
  [[nodiscard]] Answer decision(Kind kind, std::string* why) const;
  void kill();
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  ApproverProcess() = default;
  void reap(bool wait);
  void drainOutput();

  pid_t pid_ = -1;
  util::UniqueFd out_;
  util::UniqueFd exit_;
  std::string output_;
  bool reaped_ = false;
  int status_ = 0;
};

}  // namespace lens::approval
