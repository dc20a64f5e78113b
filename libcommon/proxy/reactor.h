#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "libcommon/util/result.h"
#include "libcommon/util/unique_fd.h"

namespace lens::proxy {

// Something that owns descriptors registered with a Reactor.
class IoHandler {
 public:
  virtual ~IoHandler() = default;
  // `events` are epoll bits (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, ...).
  virtual void onIo(int fd, std::uint32_t events) = 0;
};

// One registered descriptor: owned by its handler, which keeps it alive
// while registered.
struct Watch {
  IoHandler* handler = nullptr;
  int fd = -1;
  std::uint32_t events = 0;  // what the reactor waits for
  bool registered = false;
  bool again = false;  // dispatched once more after the next wait (Reactor::again)
};

// A level-triggered epoll loop shared by everything lens-proxy runs: the
// listeners, the connections, the resolver and whatever a later stage (TLS
// interception) registers. A handler closed during poll() must stay alive
// until poll() returns (the server defers destruction), so that later events
// of the same batch still find it.
class Reactor {
 public:
  Reactor();
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // Registers the watch, or changes its events; events 0 unregisters it
  // (a call asked for with again() still comes). Does nothing when the
  // events are unchanged.
  [[nodiscard]] Status set(Watch& watch, std::uint32_t events);
  // Unregisters, and forgets again() (before the descriptor is closed). A
  // failed EPOLL_CTL_DEL is logged: the descriptor may still report events.
  void remove(Watch& watch);
  // Marks the watch unregistered without a system call: only right before
  // its descriptor is closed (closing removes it from epoll).
  void forget(Watch& watch);
  // The handler stopped with work left that no readiness will announce
  // (bytes already read, a turn given up so that others get theirs): the
  // next poll() does not wait and calls it once more, with events 0, after
  // the ready descriptors.
  void again(Watch& watch);
  // Waits up to timeoutMs (-1: no limit; 0 when a handler asked again),
  // calls `afterWait` (when set), then dispatches what is ready.
  [[nodiscard]] Status poll(int timeoutMs, const std::function<void()>& afterWait = {});

 private:
  void dropAgain(Watch& watch);
  void unregister(Watch& watch);

  util::UniqueFd epoll_;
  std::vector<Watch*> again_;
};

}  // namespace lens::proxy
