#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "libcommon/net/ip_address.h"
#include "libcommon/util/result.h"

namespace lens::net {

// An IPv4 or IPv6 socket address (sockaddr_in / sockaddr_in6) as the socket
// calls take it.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  // "ADDRESS:PORT" or "[IPV6]:PORT" with an IP address (no name); port 0
  // allowed (the kernel picks one). ErrorCode::kInvalidArgument otherwise.
  [[nodiscard]] static Result<SocketAddress> parse(std::string_view text);
  [[nodiscard]] static SocketAddress from(const IpAddress& address, std::uint16_t port);
  // What getsockname/getpeername/accept filled in.
  [[nodiscard]] static SocketAddress fromStorage(const sockaddr_storage& storage);

  [[nodiscard]] int family() const { return storage.ss_family; }
  [[nodiscard]] const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  [[nodiscard]] IpAddress address() const;
  [[nodiscard]] std::uint16_t port() const;
  // "1.2.3.4:80" or "[2001:db8::1]:80".
  [[nodiscard]] std::string toString() const;
};

}  // namespace lens::net
