// Who is behind a connection (binaries rules, actor.process): found off the
// event loop by the CallerIdentifier when the connection starts.
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "libcommon/log/logging.h"
#include "libcommon/proxy/connection.h"

namespace lens::proxy {

std::optional<net::SocketAddress> Connection::callerDestination() const {
  // The client's socket goes from our peer to where it connected: our own
  // address, or for a redirected connection the original destination.
  if (transparent_) return original_;
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  if (::getsockname(clientWatch_.fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) {
    log::get("proxy")->debug("connection {}: getsockname: {}; the caller is unknown", id_,
                             std::strerror(errno));
    return std::nullopt;
  }
  return net::SocketAddress::fromStorage(local);
}

bool Connection::identify(bool always) {
  if (callerLooked_ || !ctx_.callers || !ctx_.engine) return false;
  if (!always && !ctx_.engine->needsCaller()) return false;
  const auto destination = callerDestination();
  if (!destination) {
    callerLooked_ = true;
    return false;
  }
  // The client's first bytes wait in in_ (readEarly) meanwhile.
  enter(State::kIdentifying);
  ctx_.callers->identify(peerAddress_, *destination,
                         [&ctx = ctx_, id = id_](Result<net::SocketOwner> owner) {
                           if (Connection* c = ctx.find(id)) c->onCaller(std::move(owner));
                         });
  updateInterest();
  return true;
}

void Connection::onCaller(Result<net::SocketOwner> owner) {
  if (state_ != State::kIdentifying) return;
  ctx_.now = Clock::now();
  setCaller(owner);
  afterCaller();
  drive();
}

void Connection::afterCaller() {
  if (approval_.item && approval_.ref == 0 && !approval_.answer) {
    sendAsk();  // the caller was looked up for the prompt
  } else if (transparent_) {
    judgeRedirected();
  } else {
    enter(State::kHead);
  }
}

void Connection::setCaller(const Result<net::SocketOwner>& owner) {
  callerLooked_ = true;
  if (!owner) {
    log::get("proxy")->debug("connection {} from {}: the caller is unknown: {}", id_,
                             peerAddress_.toString(), owner.error().message);
    return;
  }
  party_.caller = audit::ProcessInfo{owner->name, owner->pid, owner->chain.front()};
  callerChain_ = owner->chain;
}

const std::vector<std::string>& Connection::callerChain() {
  if (callerLooked_) return callerChain_;
  // The policy began to need the caller after this connection came: found
  // here, on the loop (once per connection).
  const auto destination = callerDestination();
  if (!destination) {
    callerLooked_ = true;
    return callerChain_;
  }
  setCaller(net::findSocketOwner(peerAddress_, *destination));
  return callerChain_;
}

}  // namespace lens::proxy
