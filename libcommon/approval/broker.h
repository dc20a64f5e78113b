#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "libcommon/approval/approver.h"
#include "libcommon/approval/protocol.h"
#include "libcommon/util/result.h"
#include "libcommon/util/unique_fd.h"

namespace lens::approval {

// The approval broker of lens-policy-sync (DESIGN.md 5b). Daemons connect
// to `path` (SOCK_SEQPACKET, owner-only) and ask (protocol.h); each
// distinct item (kind, action, credential) is one prompt, shared by every
// ask for it while it is open. A prompt goes to the control plane (the
// outbox, which the session loop sends while connected) or to the
// --approve-with program; the answer goes to every ask of the prompt.
// Answered at once, without a prompt: an action answered *_always before
// (remembered for the life of the broker), `maxPending` prompts open
// already (no-approver), no approver (no program, and no control plane
// connected: no-approver). Prompts not answered within `timeout` are
// answered `timeout`; those at the control plane are answered no-approver
// when its connection ends. Nothing is spooled.
//
// The broker runs a thread of its own; the control-plane methods may be
// called from any thread.
class Broker {
 public:
  struct Options {
    std::string path;
    std::chrono::milliseconds timeout{60000};
    std::size_t maxPending = 1024;
    std::string program;        // --approve-with; empty: the control plane
    bool controlPlane = false;  // a control plane may connect (not --policy-file)
  };
  struct Stats {
    std::uint64_t asks = 0;
    std::uint64_t prompts = 0;
    std::uint64_t allowed = 0;  // asks answered with an allow
    std::uint64_t denied = 0;   // asks answered otherwise
    std::uint64_t remembered = 0;
    std::size_t pending = 0;  // prompts open now
  };

  [[nodiscard]] static Result<std::unique_ptr<Broker>> open(Options options);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  void start();
  void stop();  // answers what is open no-approver, removes the socket

  // The control plane: a session began or ended.
  void connected(bool up);
  // A request_decision (kind request) or credential_decision frame: false
  // with `problem` set when it answers nothing (unknown id, wrong kind,
  // unknown decision).
  bool decide(Kind kind, std::string_view id, std::string_view decision, std::string& problem);
  // Frames for the control plane: readable (an eventfd) when some wait.
  [[nodiscard]] int outboxFd() const { return outboxFd_.get(); }
  [[nodiscard]] std::vector<std::string> takeOutbox();

  [[nodiscard]] Stats stats() const;

 private:
  struct Peer {
    util::UniqueFd fd;
    std::uint64_t serial = 0;
  };
  struct Waiter {
    std::uint64_t peer = 0;  // Peer::serial
    std::uint64_t ref = 0;
  };
  struct Prompt {
    std::string id;
    Item item;
    std::string frame;
    std::chrono::steady_clock::time_point due;
    std::vector<Waiter> waiters;
    std::unique_ptr<ApproverProcess> program;
    bool atControlPlane = false;
  };

  explicit Broker(Options options);
  void loop();
  void accept();
  void receive(Peer& peer);
  void onAsk(Peer& peer, Ask ask);
  void onCancel(const Peer& peer, std::uint64_t ref);
  void dropPeer(std::uint64_t serial);
  void reply(std::uint64_t peer, std::uint64_t ref, Answer answer, std::string_view id,
             std::string_view detail);
  // Answers every waiter of the prompt and forgets it.
  void settle(std::map<std::string, Prompt>::iterator it, Answer answer, std::string_view detail);
  void expire();
  [[nodiscard]] std::string key(const Item& item) const;
  void wakeOutbox();

  Options options_;
  util::UniqueFd listen_;
  util::UniqueFd wake_;      // stop
  util::UniqueFd outboxFd_;  // frames for the control plane
  std::thread thread_;
  bool bound_ = false;

  mutable std::mutex mutex_;  // everything below
  std::list<Peer> peers_;
  std::uint64_t nextPeer_ = 1;
  std::map<std::string, Prompt> prompts_;               // by id
  std::unordered_map<std::string, std::string> byKey_;  // key → prompt id
  std::unordered_map<std::string, Answer> always_;      // action → *_always answer
  std::vector<std::string> outbox_;
  bool connected_ = false;
  Stats stats_;
};

}  // namespace lens::approval
