#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "libcommon/net/ip_address.h"

namespace lens::decision {

// Why the safety floor refused a destination. Every class has a stable code
// (floorCode) that appears in audit metadata as "floor".
enum class FloorClass {
  kLoopback,          // 127/8, ::1 (and mapped/compatible forms)
  kUnspecified,       // 0.0.0.0/8, ::
  kLinkLocal,         // 169.254/16 (cloud metadata), fe80::/10
  kLocalhostName,     // localhost, *.localhost
  kAmbiguousNumeric,  // 2130706433, 0x7f.1, 0177.0.0.1, 127.1, ...
  kInvalidHost,       // empty, control bytes, zone index, unparseable brackets
};

struct FloorViolation {
  FloorClass cls;
  std::string detail;  // human text, e.g. "loopback address 127.0.0.1"
};

// The reason code used for every floor refusal (audit metadata.reason).
inline constexpr std::string_view kFloorReason = "blocked-destination";

std::string_view floorCode(FloorClass cls);  // "loopback", "link-local", ...

// Checks a host exactly as a client sent it: a name, an IP literal, or a
// bracketed IPv6 literal ("[::1]"). A trailing dot is ignored. Returns the
// violation, or nullopt when the floor lets it through.
std::optional<FloorViolation> checkHostFloor(std::string_view host);

// Checks a resolved (or literal) address; IPv4-mapped and IPv4-compatible
// IPv6 forms are judged by the IPv4 address they carry.
std::optional<FloorViolation> checkAddressFloor(const net::IpAddress& address);

}  // namespace lens::decision
