#include "libcommon/proxy/reactor.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace lens::proxy {

namespace {
Status systemError(const char* what) {
  return makeError(ErrorCode::kIo, std::string(what) + ": " + std::strerror(errno));
}
}  // namespace

Reactor::Reactor() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (epoll_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
}

Reactor::~Reactor() { ::close(epoll_); }

Status Reactor::set(Watch& watch, std::uint32_t events) {
  if (events == 0) {
    remove(watch);
    return Ok{};
  }
  if (watch.registered && watch.events == events) return Ok{};
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = &watch;
  const int op = watch.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (::epoll_ctl(epoll_, op, watch.fd, &ev) != 0) return systemError("epoll_ctl");
  watch.registered = true;
  watch.events = events;
  return Ok{};
}

void Reactor::remove(Watch& watch) {
  if (!watch.registered) return;
  (void)::epoll_ctl(epoll_, EPOLL_CTL_DEL, watch.fd, nullptr);
  watch.registered = false;
  watch.events = 0;
}

Status Reactor::poll(int timeoutMs, const std::function<void()>& afterWait) {
  std::array<epoll_event, 128> events{};
  const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), timeoutMs);
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
  return Ok{};
}

}  // namespace lens::proxy
