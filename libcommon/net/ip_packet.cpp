#include "libcommon/net/ip_packet.h"

#include <algorithm>
#include <array>

namespace lens::net {

namespace {

constexpr std::uint8_t kHopByHop = 0;
constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kUdp = 17;
constexpr std::uint8_t kRouting = 43;
constexpr std::uint8_t kFragment = 44;
constexpr std::uint8_t kEsp = 50;
constexpr std::uint8_t kAuth = 51;
constexpr std::uint8_t kNoNext = 59;
constexpr std::uint8_t kDestination = 60;
constexpr std::uint8_t kMobility = 135;
constexpr std::uint8_t kHip = 139;
constexpr std::uint8_t kShim6 = 140;

std::uint16_t be16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}

Error invalid(std::string message) {
  return makeError(ErrorCode::kInvalidInput, std::move(message));
}

// The ports of a TCP or UDP header starting at `at`, if the bytes hold them.
void readPorts(IpPacket& p, std::span<const std::uint8_t> b, std::size_t at) {
  if (p.protocol != kTcp && p.protocol != kUdp) return;
  if (at > b.size() || b.size() - at < 4) {
    p.truncated = true;
    return;
  }
  p.srcPort = be16(b, at);
  p.dstPort = be16(b, at + 2);
}

Result<IpPacket> parseV4(std::span<const std::uint8_t> b) {
  if (b.size() < 20)
    return invalid("IPv4 header cut short: " + std::to_string(b.size()) + " of 20 bytes");
  const std::size_t headerLength = static_cast<std::size_t>(b[0] & 0x0f) * 4;
  if (headerLength < 20)
    return invalid("IPv4 header length " + std::to_string(headerLength) + " is below 20");
  if (b.size() < headerLength) {
    return invalid("IPv4 header with options cut short: " + std::to_string(b.size()) + " of " +
                   std::to_string(headerLength) + " bytes");
  }
  IpPacket p;
  const auto address = [&b](std::size_t at) {
    return IpAddress::fromV4(static_cast<std::uint32_t>(b[at]) << 24 |
                             static_cast<std::uint32_t>(b[at + 1]) << 16 |
                             static_cast<std::uint32_t>(b[at + 2]) << 8 | b[at + 3]);
  };
  p.src = address(12);
  p.dst = address(16);
  p.protocol = b[9];
  // The total length may say the packet is shorter than what was copied
  // (never trust it to be longer: the copy may be cut).
  // 0 stands for "larger than 64 KiB" (BIG TCP): then only the copy bounds it.
  std::size_t total = be16(b, 2);
  if (total == 0) total = b.size();
  if (total < headerLength)
    return invalid("IPv4 total length " + std::to_string(total) + " is below its header");
  const std::span<const std::uint8_t> packet = b.subspan(0, std::min(total, b.size()));
  if ((be16(b, 6) & 0x1fff) != 0) {
    p.laterFragment = true;
    return p;
  }
  readPorts(p, packet, headerLength);
  return p;
}

std::string_view extensionName(std::uint8_t next) {
  switch (next) {
    case kHopByHop:
      return "hop-by-hop";
    case kRouting:
      return "routing";
    case kFragment:
      return "fragment";
    case kAuth:
      return "auth";
    case kDestination:
      return "destination";
    case kMobility:
      return "mobility";
    case kHip:
      return "hip";
    case kShim6:
      return "shim6";
    default:
      return {};
  }
}

Result<IpPacket> parseV6(std::span<const std::uint8_t> b) {
  if (b.size() < 40)
    return invalid("IPv6 header cut short: " + std::to_string(b.size()) + " of 40 bytes");
  IpPacket p;
  std::array<std::uint8_t, 16> bytes{};
  std::copy(b.begin() + 8, b.begin() + 24, bytes.begin());
  p.src = IpAddress::fromV6(bytes);
  std::copy(b.begin() + 24, b.begin() + 40, bytes.begin());
  p.dst = IpAddress::fromV6(bytes);
  // The payload length bounds the walk (it may be 0 for a jumbogram: then
  // only the copied bytes do).
  const std::size_t payload = be16(b, 4);
  const std::span<const std::uint8_t> packet =
      payload == 0 ? b : b.subspan(0, std::min(b.size(), static_cast<std::size_t>(40) + payload));
  std::uint8_t next = b[6];
  std::size_t at = 40;
  for (std::size_t seen = 0;; ++seen) {
    const std::string_view name = extensionName(next);
    if (name.empty()) break;
    if (seen == kMaxExtensionHeaders) {
      p.opaque = true;
      p.protocol = next;
      return p;
    }
    p.extensionHeaders.push_back(name);
    if (at > packet.size() || packet.size() - at < 8) {
      // Fragment and the others all have at least 8 bytes.
      p.truncated = true;
      p.protocol = next;
      return p;
    }
    const std::uint8_t following = packet[at];
    std::size_t length = 0;
    if (next == kFragment) {
      length = 8;
      if ((be16(packet, at + 2) & 0xfff8) != 0) {
        p.laterFragment = true;
        p.protocol = following;
        return p;
      }
    } else if (next == kAuth) {
      length = (static_cast<std::size_t>(packet[at + 1]) + 2) * 4;
    } else {
      length = (static_cast<std::size_t>(packet[at + 1]) + 1) * 8;
    }
    next = following;
    at += length;
  }
  p.protocol = next;
  if (next == kEsp || next == kNoNext) {
    p.opaque = next == kEsp;
    return p;
  }
  readPorts(p, packet, at);
  return p;
}

}  // namespace

Result<IpPacket> parseIpPacket(std::span<const std::uint8_t> bytes) {
  if (bytes.empty()) return invalid("empty packet");
  switch (bytes[0] >> 4) {
    case 4:
      return parseV4(bytes);
    case 6:
      return parseV6(bytes);
    default:
      return invalid("IP version " + std::to_string(bytes[0] >> 4) + " is neither 4 nor 6");
  }
}

std::string protocolName(std::uint8_t protocol) {
  switch (protocol) {
    case 1:
      return "icmp";
    case 2:
      return "igmp";
    case kTcp:
      return "tcp";
    case kUdp:
      return "udp";
    case 33:
      return "dccp";
    case 47:
      return "gre";
    case kEsp:
      return "esp";
    case kAuth:
      return "ah";
    case 58:
      return "ipv6-icmp";
    case 132:
      return "sctp";
    case 136:
      return "udplite";
    default:
      return "ip-proto-" + std::to_string(protocol);
  }
}

std::string endpointText(const IpAddress& address, std::optional<std::uint16_t> port) {
  const std::string ip = address.toString();
  if (!port) return ip;
  return (address.isV6() ? "[" + ip + "]" : ip) + ":" + std::to_string(*port);
}

}  // namespace lens::net
