#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "libcommon/net/ip_address.h"
#include "libcommon/policy/policy.h"

namespace lens::lockdown {

enum class Protocol : std::uint8_t { kTcp, kUdp };
std::string_view toString(Protocol p);  // "tcp", "udp" (the nft names)

// One element of the static raw-allow sets: every address from `first` to
// `last` (same family) on one port of one protocol may leave the sandbox
// without going through a proxy.
struct AllowElement {
  net::IpAddress first;
  net::IpAddress last;
  Protocol protocol = Protocol::kTcp;
  std::uint16_t port = 0;

  // nft element text: "10.0.0.5 . tcp . 5432", "10.0.0.0/8 . udp . 9000" or
  // "10.0.0.0-10.0.0.4 . tcp . 5432".
  [[nodiscard]] std::string toNft() const;
  friend bool operator==(const AllowElement&, const AllowElement&) = default;
};

// The destinations the kernel may let out directly: the address ranges of
// egress.tcp and egress.udp rules written as an IP or a CIDR, with the
// engine's semantics applied so the kernel never allows more than
// Engine::decide would:
//   - first match wins: a range covered by an earlier rule on the same port
//     (deny, ask, allow with `binaries`, or a "*" rule) is not added;
//   - rules with `binaries` add nothing (the kernel cannot see the caller);
//   - the safety floor's ranges (loopback, unspecified, link-local, and the
//     IPv4-mapped/compatible IPv6 blocks) are removed.
// Host-name rules are not here: lens-dns pins their answers at run time.
// The result is sorted (IPv4 first, then protocol, port, address) and
// non-overlapping, as nftables interval sets require.
std::vector<AllowElement> staticAllowElements(const policy::PolicyDocument& policy);

}  // namespace lens::lockdown
