#include "libcommon/approval/broker.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "libcommon/log/logging.h"
#include "libcommon/net/unix_socket.h"
#include "libcommon/util/random.h"
#include "libcommon/util/system_error.h"

namespace lens::approval {

namespace {

using Clock = std::chrono::steady_clock;

void signal(int fd) {
  const std::uint64_t one = 1;
  (void)!::write(fd, &one, sizeof one);
}

void consume(int fd) {
  std::uint64_t n = 0;
  (void)!::read(fd, &n, sizeof n);
}

}  // namespace

Broker::Broker(Options options) : options_(std::move(options)) {}

Result<std::unique_ptr<Broker>> Broker::open(Options options) {
  std::unique_ptr<Broker> b(new Broker(std::move(options)));
  auto fd = net::bindUnix(b->options_.path, SOCK_SEQPACKET, 0600, "--approval-socket");
  if (!fd) return fd.error();
  b->listen_ = std::move(*fd);
  b->bound_ = true;
  b->wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  b->outboxFd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!b->wake_ || !b->outboxFd_) return util::systemError("eventfd");
  return b;
}

Broker::~Broker() { stop(); }

void Broker::start() {
  thread_ = std::thread([this] { loop(); });
}

void Broker::stop() {
  if (thread_.joinable()) {
    signal(wake_.get());  // the loop's only reason to wake on wake_: stop
    thread_.join();
  }
  std::lock_guard lock(mutex_);
  while (!prompts_.empty()) settle(prompts_.begin(), Answer::kNoApprover, "the broker stopped");
  peers_.clear();
  listen_.reset();
  if (bound_) {
    ::unlink(options_.path.c_str());
    bound_ = false;
  }
}

void Broker::loop() {
  auto logger = log::get("approval");
  std::vector<pollfd> fds;
  std::vector<std::uint64_t> owners;  // per pollfd: a peer serial, or 0
  std::vector<std::string> programs;  // per pollfd: a prompt id, or ""
  while (true) {
    int timeout = -1;
    {
      std::lock_guard lock(mutex_);
      expire();
      fds.assign({{wake_.get(), POLLIN, 0}, {listen_.get(), POLLIN, 0}});
      owners.assign(2, 0);
      programs.assign(2, std::string());
      for (const Peer& p : peers_) {
        fds.push_back({p.fd.get(), POLLIN, 0});
        owners.push_back(p.serial);
        programs.emplace_back();
      }
      auto next = Clock::time_point::max();
      for (const auto& [id, prompt] : prompts_) {
        next = std::min(next, prompt.due);
        if (!prompt.program) continue;
        for (int fd : {prompt.program->stdoutFd(), prompt.program->exitFd()}) {
          if (fd < 0) continue;
          fds.push_back({fd, POLLIN, 0});
          owners.push_back(0);
          programs.push_back(id);
        }
      }
      if (next != Clock::time_point::max()) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now());
        timeout = static_cast<int>(std::clamp<std::int64_t>(left.count() + 1, 0, 60000));
      }
    }
    const int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR) {
      logger->error("approval broker: poll: {}", std::strerror(errno));
      return;
    }
    if ((fds[0].revents & POLLIN) != 0) return;
    std::lock_guard lock(mutex_);
    if ((fds[1].revents & POLLIN) != 0) accept();
    for (std::size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      if (owners[i] != 0) {
        auto it = std::find_if(peers_.begin(), peers_.end(),
                               [&](const Peer& p) { return p.serial == owners[i]; });
        if (it == peers_.end()) continue;
        if ((fds[i].revents & POLLIN) != 0) {
          receive(*it);
        } else {
          dropPeer(owners[i]);
        }
        continue;
      }
      auto it = prompts_.find(programs[i]);
      if (it == prompts_.end() || !it->second.program) continue;
      ApproverProcess& program = *it->second.program;
      if (!program.onReadable()) continue;
      std::string why;
      const Answer answer = program.decision(it->second.item.kind, &why);
      logger->info("approval {} ({}): --approve-with: {}", it->first, it->second.item.action, why);
      settle(it, answer, "--approve-with: " + why);
    }
  }
}

void Broker::accept() {
  while (true) {
    util::UniqueFd fd(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd) {
      if (errno != EAGAIN && errno != EINTR)
        log::get("approval")->warn("approval socket: accept: {}", std::strerror(errno));
      return;
    }
    peers_.push_back(Peer{std::move(fd), nextPeer_++});
  }
}

void Broker::receive(Peer& peer) {
  auto logger = log::get("approval");
  const std::uint64_t serial = peer.serial;
  while (true) {
    char buf[kMaxMessage + 1];
    const ssize_t n = ::recv(peer.fd.get(), buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {  // the daemon went: its asks with it
      dropPeer(serial);
      return;
    }
    if (static_cast<std::size_t>(n) > kMaxMessage) {
      logger->warn("approval socket: a message of {} bytes (at most {}); dropping the client", n,
                   kMaxMessage);
      dropPeer(serial);
      return;
    }
    auto message = parseDaemonMessage(std::string_view(buf, static_cast<std::size_t>(n)));
    if (!message) {
      logger->warn("approval socket: {}; dropping the client", message.error().message);
      dropPeer(serial);
      return;
    }
    if (auto* ask = std::get_if<Ask>(&*message)) {
      onAsk(peer, std::move(*ask));
    } else {
      onCancel(peer, std::get<Cancel>(*message).ref);
    }
  }
}

std::string Broker::key(const Item& item) const {
  std::string k(item.kind == Kind::kRequest ? "r:" : "c:");
  k += item.credentialId;
  k += '\n';
  k += item.action;
  return k;
}

void Broker::onAsk(Peer& peer, Ask ask) {
  auto logger = log::get("approval");
  ++stats_.asks;
  if (ask.item.kind == Kind::kRequest) {
    if (auto it = always_.find(ask.item.action); it != always_.end()) {
      ++stats_.remembered;
      reply(peer.serial, ask.ref, it->second, {}, "answered before for the life of the broker");
      return;
    }
  }
  const std::string k = key(ask.item);
  if (auto it = byKey_.find(k); it != byKey_.end()) {
    prompts_.at(it->second).waiters.push_back({peer.serial, ask.ref});
    return;
  }
  const bool program = !options_.program.empty();
  if (!program && !(options_.controlPlane && connected_)) {
    reply(peer.serial, ask.ref, Answer::kNoApprover, {},
          options_.controlPlane ? "the control plane is not connected"
                                : "no control plane and no --approve-with program");
    return;
  }
  if (prompts_.size() >= options_.maxPending) {
    logger->warn("{} approvals are open (--max-pending): {} refused at once", prompts_.size(),
                 ask.item.action);
    reply(peer.serial, ask.ref, Answer::kNoApprover, {},
          std::to_string(prompts_.size()) + " approvals are open already (--max-pending)");
    return;
  }
  Prompt prompt;
  prompt.id = util::randomHex(16);
  prompt.item = std::move(ask.item);
  prompt.frame = pendingFrame(prompt.id, prompt.item);
  prompt.due = Clock::now() + options_.timeout;
  prompt.waiters.push_back({peer.serial, ask.ref});
  if (program) {
    auto spawned = ApproverProcess::spawn(options_.program, prompt.frame);
    if (!spawned) {
      logger->error("{}", spawned.error().message);
      reply(peer.serial, ask.ref, Answer::kNoApprover, {}, spawned.error().message);
      return;
    }
    prompt.program = std::make_unique<ApproverProcess>(std::move(*spawned));
  } else {
    prompt.atControlPlane = true;
    outbox_.push_back(prompt.frame);
    wakeOutbox();
  }
  ++stats_.prompts;
  logger->info("approval {}: {} ({}) asked{}", prompt.id, prompt.item.action, prompt.item.reason,
               program ? " of --approve-with" : " of the control plane");
  byKey_.emplace(k, prompt.id);
  const std::string id = prompt.id;
  prompts_.emplace(id, std::move(prompt));
  // (Asks come on the broker's thread: its next poll watches the program
  // and the new deadline.)
}

void Broker::onCancel(const Peer& peer, std::uint64_t ref) {
  for (auto it = prompts_.begin(); it != prompts_.end(); ++it) {
    auto& w = it->second.waiters;
    const auto before = w.size();
    w.erase(std::remove_if(w.begin(), w.end(),
                           [&](const Waiter& x) { return x.peer == peer.serial && x.ref == ref; }),
            w.end());
    if (w.size() == before) continue;
    if (w.empty()) {  // nobody waits for it any more
      byKey_.erase(key(it->second.item));
      prompts_.erase(it);
    }
    return;
  }
}

void Broker::dropPeer(std::uint64_t serial) {
  for (auto it = prompts_.begin(); it != prompts_.end();) {
    auto& w = it->second.waiters;
    w.erase(std::remove_if(w.begin(), w.end(), [&](const Waiter& x) { return x.peer == serial; }),
            w.end());
    if (w.empty()) {
      byKey_.erase(key(it->second.item));
      it = prompts_.erase(it);
    } else {
      ++it;
    }
  }
  peers_.remove_if([&](const Peer& p) { return p.serial == serial; });
}

void Broker::reply(std::uint64_t peer, std::uint64_t ref, Answer answer, std::string_view id,
                   std::string_view detail) {
  (allows(answer) ? stats_.allowed : stats_.denied)++;
  auto it =
      std::find_if(peers_.begin(), peers_.end(), [&](const Peer& p) { return p.serial == peer; });
  if (it == peers_.end()) return;
  const std::string text =
      encodeReply(Reply{ref, answer, std::string(id), std::string(detail.substr(0, 1024))});
  if (::send(it->fd.get(), text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
    // A daemon that reads nothing for a whole socket buffer: it is gone or stuck.
    log::get("approval")
        ->warn("approval socket: cannot answer a daemon: {}; dropping it", std::strerror(errno));
    peers_.erase(it);
  }
}

void Broker::settle(std::map<std::string, Prompt>::iterator it, Answer answer,
                    std::string_view detail) {
  Prompt prompt = std::move(it->second);
  byKey_.erase(key(prompt.item));
  prompts_.erase(it);
  if (prompt.item.kind == Kind::kRequest &&
      (answer == Answer::kAllowAlways || answer == Answer::kDenyAlways))
    always_[prompt.item.action] = answer;
  for (const Waiter& w : prompt.waiters) reply(w.peer, w.ref, answer, prompt.id, detail);
}

void Broker::expire() {
  const auto now = Clock::now();
  for (auto it = prompts_.begin(); it != prompts_.end();) {
    auto next = std::next(it);
    if (it->second.due <= now) {
      log::get("approval")
          ->info("approval {} ({}): nobody answered in time", it->first, it->second.item.action);
      settle(it, Answer::kTimeout, "nobody answered in time");
    }
    it = next;
  }
}

void Broker::connected(bool up) {
  std::lock_guard lock(mutex_);
  connected_ = up;
  if (up) return;
  outbox_.clear();  // never sent later: the prompts are answered now
  for (auto it = prompts_.begin(); it != prompts_.end();) {
    auto next = std::next(it);
    if (it->second.atControlPlane)
      settle(it, Answer::kNoApprover, "the control plane disconnected");
    it = next;
  }
}

bool Broker::decide(Kind kind, std::string_view id, std::string_view decision,
                    std::string& problem) {
  std::lock_guard lock(mutex_);
  auto it = prompts_.find(std::string(id));
  if (it == prompts_.end()) {
    problem = "no open approval has this id (answered, timed out or withdrawn)";
    return false;
  }
  if (it->second.item.kind != kind) {
    problem = kind == Kind::kRequest ? "the approval is a credential_pending one"
                                     : "the approval is a request_pending one";
    return false;
  }
  const auto answer = parseDecision(kind, decision);
  if (!answer) {
    problem = "\"" + std::string(decision) + "\" is not a decision";
    return false;
  }
  log::get("approval")->info("approval {} ({}): {}", it->first, it->second.item.action, decision);
  settle(it, *answer, "answered by the control plane");
  return true;
}

std::vector<std::string> Broker::takeOutbox() {
  std::lock_guard lock(mutex_);
  consume(outboxFd_.get());
  return std::exchange(outbox_, {});
}

void Broker::wakeOutbox() { signal(outboxFd_.get()); }

Broker::Stats Broker::stats() const {
  std::lock_guard lock(mutex_);
  Stats s = stats_;
  s.pending = prompts_.size();
  return s;
}

}  // namespace lens::approval
