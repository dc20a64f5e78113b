#include "libcommon/sync/client.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "libcommon/log/logging.h"

namespace lens::sync {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kBatch = 256;
constexpr std::size_t kMaxPendingWatches = 16;

std::string seconds(milliseconds ms) {
  const auto tenths = (ms.count() + 50) / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

int pollTimeout(Clock::time_point now, Clock::time_point until) {
  if (until <= now) return 0;
  return static_cast<int>(std::min<std::int64_t>(
      std::chrono::duration_cast<milliseconds>(until - now).count() + 1, 1000));
}

}  // namespace

Client::Client(Options options, Agent& agent, Spool& spool, int stopFd)
    : options_(std::move(options)),
      agent_(agent),
      spool_(spool),
      stopFd_(stopFd),
      backoff_(options_.backoff) {}

bool Client::stopRequested() const {
  pollfd p{stopFd_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

bool Client::waitForStop(milliseconds delay) const {
  pollfd p{stopFd_, POLLIN, 0};
  const auto deadline = Clock::now() + delay;
  while (true) {
    const auto now = Clock::now();
    if (now >= deadline) return false;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - now).count();
    const int n = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left + 1, 60000)));
    if (n > 0) return true;
  }
}

Client::Outcome Client::run() {
  auto logger = log::get("sync");
  const std::string url = options_.connect.url.text();
  while (!stopRequested()) {
    auto connected = ControlSocket::connect(options_.connect);
    if (auto* err = std::get_if<ConnectError>(&connected)) {
      if (err->unauthorized) {
        refusal_ = err->message;
        return Outcome::kUnauthorized;
      }
      const milliseconds delay = backoff_.next();
      logger->warn("cannot connect to {}: {}; retrying in {}", url, err->message, seconds(delay));
      agent_.activity().add("connect failed: " + err->message);
      if (waitForStop(delay)) break;
      continue;
    }
    auto socket = std::move(std::get<std::unique_ptr<ControlSocket>>(connected));
    ++agent_.counters().connections;
    logger->info("connected to {}{}", url,
                 socket->marked() ? "" : " (socket not marked: no CAP_NET_ADMIN)");
    agent_.activity().add("connected to " + url);
    const auto started = Clock::now();
    const SessionEnd end = session(*socket);
    socket.reset();
    backoff_.connectionEnded(std::chrono::duration_cast<milliseconds>(Clock::now() - started));
    if (end == SessionEnd::kStopped) return Outcome::kStopped;
    if (end == SessionEnd::kRecycle) return Outcome::kRecycle;
    const milliseconds delay = backoff_.next();
    logger->info("reconnecting to {} in {}", url, seconds(delay));
    if (waitForStop(delay)) break;
  }
  return Outcome::kStopped;
}

bool Client::sendBatch(ControlSocket& socket, bool& more) {
  Spool::Batch batch = spool_.peek(kBatch);
  more = !batch.records.empty();  // look again at once; only an empty peek waits
  for (const std::string& record : batch.records) {
    if (Status s = socket.sendText(record); !s) {
      log::get("sync")->warn("sending to the control plane failed: {}", s.error().message);
      return false;
    }
  }
  spool_.commit(batch.end);
  agent_.counters().eventsSent += batch.records.size();
  return true;
}

void Client::flush(ControlSocket& socket) {
  const auto deadline = Clock::now() + options_.flushTimeout;
  bool more = true;
  while (more && Clock::now() < deadline) {
    if (!sendBatch(socket, more)) return;
  }
  if (!spool_.empty())
    log::get("sync")->warn(
        "stopping with events left in the spool; they are sent on the next start");
}

Client::SessionEnd Client::session(ControlSocket& socket) {
  auto logger = log::get("sync");
  // The broker sends prompts while this session is up, and answers those
  // it sent no-approver when it ends.
  struct BrokerSession {
    approval::Broker* broker;
    explicit BrokerSession(approval::Broker* b) : broker(b) {
      if (broker) broker->connected(true);
    }
    BrokerSession(const BrokerSession&) = delete;
    BrokerSession& operator=(const BrokerSession&) = delete;
    ~BrokerSession() {
      if (broker) broker->connected(false);
    }
  } brokerSession(options_.broker);
  std::vector<Agent::Watch> watches;
  Clock::time_point lastPong = Clock::now();
  Clock::time_point nextPing = lastPong + options_.pingInterval;

  while (true) {
    if (stopRequested()) {
      flush(socket);
      socket.close(1000, milliseconds(2000));
      logger->info("closed the control-plane connection (stopping)");
      return SessionEnd::kStopped;
    }

    bool more = false;
    if (!sendBatch(socket, more)) return SessionEnd::kLost;
    if (options_.broker) {
      for (const std::string& frame : options_.broker->takeOutbox()) {
        if (Status s = socket.sendText(frame); !s) return SessionEnd::kLost;
      }
    }

    auto now = Clock::now();
    for (auto it = watches.begin(); it != watches.end();) {
      if (it->due > now) {
        ++it;
        continue;
      }
      if (Status s = socket.sendText(agent_.watchResult(it->id)); !s) return SessionEnd::kLost;
      it = watches.erase(it);
    }
    if (now >= nextPing) {
      if (Status s = socket.sendPing(); !s) {
        logger->warn("ping failed: {}", s.error().message);
        return SessionEnd::kLost;
      }
      nextPing = now + options_.pingInterval;
    }
    if (now - lastPong > options_.pongTimeout) {
      logger->warn("no pong for {}; the connection counts as dead",
                   seconds(std::chrono::duration_cast<milliseconds>(now - lastPong)));
      agent_.activity().add("connection dead: no pong");
      return SessionEnd::kLost;
    }

    Clock::time_point wake = std::min(nextPing, lastPong + options_.pongTimeout);
    for (const auto& w : watches) wake = std::min(wake, w.due);
    const bool buffered = socket.buffered();
    const int outbox = options_.broker ? options_.broker->outboxFd() : -1;
    std::array<pollfd, 4> fds{{{socket.fd(), POLLIN, 0},
                               {spool_.eventFd(), POLLIN, 0},
                               {stopFd_, POLLIN, 0},
                               {outbox, POLLIN, 0}}};
    const int n = ::poll(fds.data(), fds.size(), (buffered || more) ? 0 : pollTimeout(now, wake));
    if (n < 0 && errno != EINTR) {
      logger->error("poll: {}", std::strerror(errno));
      return SessionEnd::kLost;
    }
    if ((fds[1].revents & POLLIN) != 0) {
      std::uint64_t ignored = 0;
      (void)!::read(spool_.eventFd(), &ignored, sizeof ignored);
    }
    // (A prompt waiting in the broker's outbox is sent at the top.)
    if (!buffered && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;

    auto message = socket.receive();
    if (!message) {
      logger->warn("control-plane connection lost: {}", message.error().message);
      agent_.activity().add("connection lost: " + message.error().message);
      return SessionEnd::kLost;
    }
    switch (message->kind) {
      case ControlSocket::Kind::kNone:
        break;
      case ControlSocket::Kind::kPong:
        lastPong = Clock::now();
        break;
      case ControlSocket::Kind::kBinary:
        agent_.onBinary(message->size);
        break;
      case ControlSocket::Kind::kOversized:
        agent_.onOversized(message->size, options_.connect.maxMessage);
        break;
      case ControlSocket::Kind::kClose:
        logger->warn("the control plane closed the connection (code {})", message->closeCode);
        agent_.activity().add("closed by the control plane, code " +
                              std::to_string(message->closeCode));
        return SessionEnd::kLost;
      case ControlSocket::Kind::kText: {
        Agent::Reply reply = agent_.onText(message->text);
        for (const std::string& frame : reply.frames) {
          if (Status s = socket.sendText(frame); !s) return SessionEnd::kLost;
        }
        if (reply.recycle) {
          flush(socket);
          socket.close(1000, milliseconds(2000));
          return SessionEnd::kRecycle;
        }
        if (reply.watch) {
          if (watches.size() >= kMaxPendingWatches) {
            if (Status s = socket.sendText(agent_.watchResult(reply.watch->id)); !s)
              return SessionEnd::kLost;
          } else {
            watches.push_back(*reply.watch);
          }
        }
        break;
      }
    }
  }
}

}  // namespace lens::sync
