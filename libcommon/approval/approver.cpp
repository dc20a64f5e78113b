#include "libcommon/approval/approver.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "libcommon/json/document.h"
#include "libcommon/util/system_error.h"

extern char** environ;

namespace lens::approval {

namespace {

constexpr std::size_t kMaxOutput = 4096;  // more is not a decision; the rest is ignored

// Owns a posix_spawn attribute or file-actions object.
struct SpawnSetup {
  posix_spawnattr_t attr{};
  posix_spawn_file_actions_t actions{};
  bool attrReady = false;
  bool actionsReady = false;
  SpawnSetup() = default;
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  ~SpawnSetup() {
    if (attrReady) posix_spawnattr_destroy(&attr);
    if (actionsReady) posix_spawn_file_actions_destroy(&actions);
  }
};

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

}  // namespace

Result<ApproverProcess> ApproverProcess::spawn(const std::string& program, std::string_view frame) {
  int in[2];
  int out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return util::systemError("pipe");
  util::UniqueFd inRead(in[0]);
  util::UniqueFd inWrite(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return util::systemError("pipe");
  util::UniqueFd outRead(out[0]);
  util::UniqueFd outWrite(out[1]);

  SpawnSetup setup;
  if (posix_spawnattr_init(&setup.attr) != 0) return util::systemError("posix_spawnattr_init");
  setup.attrReady = true;
  if (posix_spawn_file_actions_init(&setup.actions) != 0)
    return util::systemError("posix_spawn_file_actions_init");
  setup.actionsReady = true;
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigmask(&setup.attr, &none);
  posix_spawnattr_setsigdefault(&setup.attr, &defaults);
  posix_spawnattr_setpgroup(&setup.attr, 0);
  posix_spawnattr_setflags(&setup.attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  posix_spawn_file_actions_adddup2(&setup.actions, inRead.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, outWrite.get(), STDOUT_FILENO);

  ApproverProcess p;
  char* argv[] = {const_cast<char*>(program.c_str()), nullptr};
  const int rc = posix_spawn(&p.pid_, program.c_str(), &setup.actions, &setup.attr, argv, environ);
  if (rc != 0) {
    p.pid_ = -1;
    return util::systemError("cannot run --approve-with " + program, rc);
  }
  inRead.reset();
  outWrite.reset();
  p.exit_.reset(static_cast<int>(::syscall(SYS_pidfd_open, p.pid_, 0)));
  if (!p.exit_) {
    const int err = errno;
    p.kill();
    return util::systemError("pidfd_open", err);
  }
  // The frame is at most approval::kMaxMessage bytes: the pipe takes it
  // whole. A program that exits without reading it only loses it.
  std::string line(frame);
  line += '\n';
  (void)::fcntl(inWrite.get(), F_SETFL, O_NONBLOCK);
  (void)!::write(inWrite.get(), line.data(), line.size());
  inWrite.reset();
  (void)::fcntl(outRead.get(), F_SETFL, O_NONBLOCK);
  p.out_ = std::move(outRead);
  return p;
}

ApproverProcess::ApproverProcess(ApproverProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      out_(std::move(other.out_)),
      exit_(std::move(other.exit_)),
      output_(std::move(other.output_)),
      reaped_(other.reaped_),
      status_(other.status_) {}

ApproverProcess& ApproverProcess::operator=(ApproverProcess&& other) noexcept {
  if (this != &other) {
    kill();
    pid_ = std::exchange(other.pid_, -1);
    out_ = std::move(other.out_);
    exit_ = std::move(other.exit_);
    output_ = std::move(other.output_);
    reaped_ = other.reaped_;
    status_ = other.status_;
  }
  return *this;
}

ApproverProcess::~ApproverProcess() { kill(); }

void ApproverProcess::drainOutput() {
  while (out_) {
    char buf[1024];
    const ssize_t n = ::read(out_.get(), buf, sizeof buf);
    if (n > 0) {
      const std::size_t room = kMaxOutput - std::min(kMaxOutput, output_.size());
      output_.append(buf, std::min(static_cast<std::size_t>(n), room));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    out_.reset();  // the end (or an error: nothing more comes)
  }
}

bool ApproverProcess::onReadable() {
  drainOutput();
  reap(false);
  if (reaped_ && out_) {
    // What it wrote before it exited is read; a child of its own that
    // keeps the pipe open is not waited for.
    drainOutput();
    out_.reset();
  }
  return reaped_;
}

void ApproverProcess::reap(bool wait) {
  if (reaped_ || pid_ <= 0) return;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, wait ? 0 : WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    reaped_ = true;
    status_ = r == pid_ ? status : -1;
    exit_.reset();
  }
}

void ApproverProcess::kill() {
  if (pid_ <= 0 || reaped_) return;
  ::kill(-pid_, SIGKILL);  // its process group (made before exec): what it started goes too
  reap(true);
  out_.reset();
}

Answer ApproverProcess::decision(Kind kind, std::string* why) const {
  // What it answered: the first word, or a JSON object's "decision".
  const std::string_view text = trim(output_);
  std::string answer;
  if (!text.empty() && text.front() == '{') {
    auto doc = json::parseBody(text, {});
    const json::Value* d = doc && doc->root().isObject() ? doc->root().find("decision") : nullptr;
    answer = d && d->isString() ? std::string(d->text()) : "(a JSON object without a decision)";
  } else {
    answer = std::string(text.substr(0, text.find_first_of(" \t\r\n")));
  }
  const Answer deny = kind == Kind::kCredential ? Answer::kDeny : Answer::kDenyOnce;
  if (!answer.empty()) {
    const auto decided = parseDecision(kind, answer);
    if (why) {
      *why = decided ? "it answered " + answer
                     : "it answered \"" + answer.substr(0, 64) + "\", which is no decision: denied";
    }
    return decided.value_or(deny);
  }
  // Nothing on standard output: the exit status decides.
  const bool exited = WIFEXITED(status_);
  if (why) {
    *why = exited ? "no answer, exit status " + std::to_string(WEXITSTATUS(status_))
                  : "no answer, killed by a signal";
  }
  if (!exited || WEXITSTATUS(status_) != 0) return deny;
  return kind == Kind::kCredential ? Answer::kAllow : Answer::kAllowOnce;
}

}  // namespace lens::approval
