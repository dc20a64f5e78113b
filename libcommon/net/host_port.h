#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "libcommon/util/result.h"

namespace lens::net {

// A host and an optional port, as an HTTP Host header or a command-line
// --host carries them.
struct HostPort {
  std::string host;  // a name, or an IP address without brackets
  std::optional<std::uint16_t> port;
};

// Parses "name", "name:port", "192.0.2.1:port", "[2001:db8::1]" and
// "[2001:db8::1]:port"; an IPv6 address without brackets is a host without a
// port. Names are letters, digits, '-', '_' and '.'; ports 1 to 65535.
// Errors (ErrorCode::kInvalidInput) say what is wrong without quoting the
// text.
[[nodiscard]] Result<HostPort> parseHostPort(std::string_view text);

}  // namespace lens::net
