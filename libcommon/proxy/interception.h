#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "libcommon/audit/event.h"
#include "libcommon/decision/decision.h"
#include "libcommon/decision/engine.h"
#include "libcommon/proxy/stream.h"

namespace lens::proxy {

// The hand-off point between the connection handling and a stage that
// terminates TLS to see (and change) the requests inside a tunnel.
//
// A CONNECT whose decision says `intercept` (the rule has HTTP rules,
// credentials apply, or tlsTerminate) is dialled like any other: the
// destination is checked against the safety floor, the route (direct or
// through the upstream proxy) is established, and the client has been told
// "200 Connection established". Instead of relaying the bytes, the
// connection then gives both ends to the stage and forgets them. Without a
// stage such a CONNECT is refused (403, interception-unavailable): relaying
// it unjudged would let requests through that the policy has not seen.
struct InterceptedTunnel {
  std::unique_ptr<Stream> client;  // the client's connection, after the 200
  std::string clientPending;       // bytes the client sent after its CONNECT head
  std::unique_ptr<Stream>
      origin;                 // the destination: direct, or a tunnel through the upstream proxy
  std::string originPending;  // bytes the upstream proxy sent after its 200
  std::string host;           // as the client asked for it
  std::uint16_t port = 0;
  decision::Decision decision;
  std::shared_ptr<const decision::Engine> engine;  // the policy snapshot that decided
  std::vector<std::string> callerChain;  // for decision::Request::callerChain; empty = unknown
  audit::Event event{"lens-proxy", ""};  // action, method, host and source endpoint of the tunnel
};

class InterceptionStage {
 public:
  virtual ~InterceptionStage() = default;
  // Takes the tunnel over; from here on the stage registers its descriptors
  // with the proxy's Reactor, judges each request and emits its events.
  virtual void adopt(InterceptedTunnel tunnel) = 0;
};

}  // namespace lens::proxy
