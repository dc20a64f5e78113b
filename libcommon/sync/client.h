#pragma once

#include <chrono>
#include <string>

#include "libcommon/approval/broker.h"
#include "libcommon/sync/agent.h"
#include "libcommon/sync/backoff.h"
#include "libcommon/sync/control_socket.h"
#include "libcommon/sync/spool.h"

namespace lens::sync {

// The control-plane session loop (DESIGN.md section 8): connect, answer
// frames through the Agent, send the spool in order, ping, and reconnect
// with backoff until told to stop.
class Client {
 public:
  struct Options {
    ConnectOptions connect;
    std::chrono::milliseconds pingInterval{20000};
    std::chrono::milliseconds pongTimeout{60000};
    Backoff::Options backoff;
    std::chrono::milliseconds flushTimeout{5000};  // sending the spool on stop
    // Its prompts go out while a session is up; it learns when one begins
    // and ends (null: no approvals).
    approval::Broker* broker = nullptr;
  };

  enum class Outcome {
    kStopped,  // the stop descriptor became readable; pending events flushed or left in the spool
    kUnauthorized,  // the upgrade was answered 401 or 403
    kRecycle,       // a policy needs a newer protocol
  };

  // `stopFd` is polled; when readable, run() flushes, closes and returns.
  Client(Options options, Agent& agent, Spool& spool, int stopFd);

  [[nodiscard]] Outcome run();
  // The message of the 401/403 answer, after kUnauthorized.
  [[nodiscard]] const std::string& refusal() const { return refusal_; }

 private:
  enum class SessionEnd { kStopped, kLost, kRecycle };
  SessionEnd session(ControlSocket& socket);
  // Sends one batch from the spool; false on a send error. `more` is set when
  // the batch held records (more may be waiting).
  bool sendBatch(ControlSocket& socket, bool& more);
  void flush(ControlSocket& socket);
  [[nodiscard]] bool stopRequested() const;
  // Sleeps up to `delay`; true when the stop descriptor fired.
  bool waitForStop(std::chrono::milliseconds delay) const;

  Options options_;
  Agent& agent_;
  Spool& spool_;
  int stopFd_;
  Backoff backoff_;
  std::string refusal_;
};

}  // namespace lens::sync
