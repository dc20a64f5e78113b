#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/decision/body.h"
#include "libcommon/net/ip_address.h"
#include "libcommon/policy/policy.h"

namespace lens::decision {

// Where a request entered the toolkit. The door fixes the scheme and which
// rule tables apply.
enum class Door : std::uint8_t {
  kDns,              // a name lookup (lens-dns)
  kConnect,          // CONNECT host:port (lens-proxy), https
  kForward,          // absolute-form http:// request (lens-proxy)
  kTransparentTls,   // redirected TLS, host from SNI (lens-tproxy), https
  kTransparentHttp,  // redirected plain HTTP, host from Host (lens-tproxy)
  kRawTcp,           // a raw TCP connection (lockdown sets, unknown protocols)
  kUdp,              // a UDP flow
};

std::string_view toString(Door door);
std::optional<Door> parseDoor(std::string_view text);

struct Request {
  Door door = Door::kConnect;
  std::string host;                       // as the client sent it: name or IP literal
  std::optional<net::IpAddress> address;  // resolved or original destination address
  std::uint16_t port = 0;                 // 0 = the door's default (443 or 80)
  std::optional<policy::Scheme> scheme;   // default from the door
  std::string method;                     // empty when the request is not visible
  std::string path;                       // raw request-target path (normalised here)
  std::vector<std::string> callerChain;   // caller's exe, then its ancestors; empty = unknown
  bool upgrade = false;                   // a visible request asking for a WebSocket upgrade
  // The body as body rules read it, once the door read it (Decision::body);
  // null before. A graphql-ws frame is judged as its handshake request with
  // the frame's operations here.
  std::shared_ptr<const BodyFacts> body;
};

}  // namespace lens::decision
