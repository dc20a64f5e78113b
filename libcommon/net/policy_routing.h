#pragma once

#include <cstdint>

#include "libcommon/util/result.h"

namespace lens::net {

// The routing side of TPROXY for locally generated traffic: a rule
// "fwmark MARK lookup TABLE" and a route "local default dev lo table TABLE",
// for IPv4 and IPv6, so packets that carry MARK are delivered on this host
// (where an nftables tproxy statement hands them to a listener). Talks
// rtnetlink directly; never runs `ip`.
struct FwmarkRoute {
  std::uint32_t mark = 0;
  std::uint32_t table = 0;
  std::uint32_t priority = 0;  // the rule's preference; must be below main (32766)
};

// Installs the rules and routes of both families; present ones are kept
// (installing twice leaves one of each). On error, whatever this call added
// is removed again.
Status installFwmarkRoute(const FwmarkRoute& route);

// Removes them; absent ones are not an error.
Status removeFwmarkRoute(const FwmarkRoute& route);

// Whether the IPv4 rule (mark, table, priority) is installed.
Result<bool> fwmarkRouteInstalled(const FwmarkRoute& route);

}  // namespace lens::net
