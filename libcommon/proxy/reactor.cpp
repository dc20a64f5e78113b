#include "libcommon/proxy/reactor.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "libcommon/log/logging.h"

namespace lens::proxy {

namespace {
Status systemError(const char* what) {
  return makeError(ErrorCode::kIo, std::string(what) + ": " + std::strerror(errno));
}
}  // namespace

Reactor::Reactor() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (!epoll_) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
}

Reactor::~Reactor() = default;

Status Reactor::set(Watch& watch, std::uint32_t events) {
  if (events == 0) {
    unregister(watch);  // a call asked for again stays: the handler is still there
    return Ok{};
  }
  if (watch.registered && watch.events == events) return Ok{};
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = &watch;
  const int op = watch.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (::epoll_ctl(epoll_.get(), op, watch.fd, &ev) != 0) return systemError("epoll_ctl");
  watch.registered = true;
  watch.events = events;
  return Ok{};
}

void Reactor::remove(Watch& watch) {
  dropAgain(watch);
  unregister(watch);
}

void Reactor::unregister(Watch& watch) {
  if (!watch.registered) return;
  // Nothing to undo when it fails, but a descriptor left registered would
  // still report events for a watch that may be gone: say so.
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, watch.fd, nullptr) != 0) {
    const int err = errno;
    log::get("proxy")->error("epoll_ctl(EPOLL_CTL_DEL) of descriptor {}: {}", watch.fd,
                             std::strerror(err));
  }
  watch.registered = false;
  watch.events = 0;
}

void Reactor::forget(Watch& watch) {
  dropAgain(watch);
  watch.registered = false;
  watch.events = 0;
}

void Reactor::again(Watch& watch) {
  if (watch.again) return;
  watch.again = true;
  again_.push_back(&watch);
}

// A watch that goes away leaves the list: its handler may be gone by the
// next poll().
void Reactor::dropAgain(Watch& watch) {
  if (!watch.again) return;
  watch.again = false;
  std::erase(again_, &watch);
}

Status Reactor::poll(int timeoutMs, const std::function<void()>& afterWait) {
  std::array<epoll_event, 128> events{};
  const int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                             again_.empty() ? timeoutMs : 0);
  if (n < 0) {
    if (errno == EINTR) return Ok{};
    return systemError("epoll_wait");
  }
  if (afterWait) afterWait();
  for (int i = 0; i < n; ++i) {
    const epoll_event& ev = events[static_cast<std::size_t>(i)];
    auto* watch = static_cast<Watch*>(ev.data.ptr);
    watch->handler->onIo(watch->fd, ev.events);
  }
  // Those asking again now are called on the next poll().
  std::vector<Watch*> due;
  due.swap(again_);
  for (Watch* watch : due) {
    // Still asking (a watch that was removed meanwhile left the list, but
    // one asked for again during an earlier call of this loop is pending
    // in again_ now, not here).
    if (!watch->again) continue;
    watch->again = false;
    watch->handler->onIo(watch->fd, 0);
  }
  return Ok{};
}

}  // namespace lens::proxy
