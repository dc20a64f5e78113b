#pragma once

#include <functional>

#include "libcommon/net/socket_address.h"
#include "libcommon/net/socket_owner.h"
#include "libcommon/util/off_loop.h"
#include "libcommon/util/result.h"

namespace lens::proxy {

// The program behind each connection (for `binaries` rules and the audit's
// actor.process), found off the event loop: the netlink lookup and the
// /proc scan take from a few hundred microseconds to tens of milliseconds
// on a machine with a thousand processes, which no other connection should
// wait for. One worker does the lookups in turn with a SocketOwnerFinder
// (the clients of recent connections tried first); `done` runs on the
// loop's thread from collect(), which the loop calls when notifyFd() is
// readable.
class CallerIdentifier {
 public:
  using Done = std::function<void(Result<net::SocketOwner>)>;

  void identify(const net::SocketAddress& client, const net::SocketAddress& destination, Done done);
  [[nodiscard]] int notifyFd() const { return worker_.notifyFd(); }
  void collect() { worker_.collect(); }

 private:
  net::SocketOwnerFinder finder_;  // used on the worker only
  util::OffLoop worker_;           // last: stopped before the finder goes
};

}  // namespace lens::proxy
