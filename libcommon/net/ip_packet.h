#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/net/ip_address.h"
#include "libcommon/util/result.h"

namespace lens::net {

// What the headers of one IP packet say, as far as the bytes go: the
// addresses, the transport protocol and, for TCP and UDP, the ports. Built
// from untrusted bytes (a packet the kernel copied, possibly cut short).
struct IpPacket {
  IpAddress src;
  IpAddress dst;
  std::uint8_t protocol = 0;  // IPPROTO_* of the transport header (after IPv6 extension headers)
  std::optional<std::uint16_t> srcPort;  // TCP and UDP, when the header is present
  std::optional<std::uint16_t> dstPort;
  // A fragment that is not the first: no transport header to read.
  bool laterFragment = false;
  // The bytes ended before the transport ports (copy range, a short packet).
  bool truncated = false;
  // IPv6 extension headers passed over, by name ("hop-by-hop", "routing",
  // "fragment", "destination", "auth"), in order.
  std::vector<std::string_view> extensionHeaders;
  // IPv6: an ESP header (encrypted, nothing after it is readable) or an
  // extension header chain longer than the parser follows.
  bool opaque = false;
};

// Limits of the IPv6 extension header walk.
inline constexpr std::size_t kMaxExtensionHeaders = 8;

// Parses an IPv4 or IPv6 packet from its first byte (the version nibble
// decides). The IP header itself must be complete (with IPv4 options, the
// length IHL says), otherwise the error is kInvalidInput naming what is
// wrong; beyond it, a cut-short packet gives what could be read (truncated).
// Never reads outside `bytes`.
[[nodiscard]] Result<IpPacket> parseIpPacket(std::span<const std::uint8_t> bytes);

// "tcp", "udp", "icmp", "ipv6-icmp", "sctp", ... or "ip-proto-N".
[[nodiscard]] std::string protocolName(std::uint8_t protocol);

// "10.0.0.1:53", "[2001:db8::1]:443", or the address alone without a port.
[[nodiscard]] std::string endpointText(const IpAddress& address, std::optional<std::uint16_t> port);

}  // namespace lens::net
