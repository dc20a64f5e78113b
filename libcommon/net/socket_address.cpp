#include "libcommon/net/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "libcommon/util/strings.h"

namespace lens::net {

Result<SocketAddress> SocketAddress::parse(std::string_view text) {
  auto bad = [&] {
    return makeError(ErrorCode::kInvalidArgument, "invalid listen address \"" + std::string(text) +
                                                      "\": use ADDRESS:PORT or [IPV6]:PORT");
  };
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return bad();
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return bad();
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  const auto number = util::parseDecimal(port, 65535);
  const auto address = IpAddress::parse(host);
  if (!number || !address || (text.starts_with('[') && !address->isV6())) return bad();
  return from(*address, static_cast<std::uint16_t>(*number));
}

SocketAddress SocketAddress::from(const IpAddress& address, std::uint16_t port) {
  SocketAddress out;
  if (address.isV4()) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    v4->sin_addr.s_addr = htonl(address.v4());
    out.length = sizeof(sockaddr_in);
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    std::memcpy(&v6->sin6_addr, address.bytes().data(), 16);
    out.length = sizeof(sockaddr_in6);
  }
  return out;
}

SocketAddress SocketAddress::fromStorage(const sockaddr_storage& storage) {
  SocketAddress out;
  out.storage = storage;
  out.length = storage.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  return out;
}

IpAddress SocketAddress::address() const {
  if (family() == AF_INET) {
    return IpAddress::fromV4(
        ntohl(reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr.s_addr));
  }
  std::array<std::uint8_t, 16> bytes{};
  std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, 16);
  return IpAddress::fromV6(bytes);
}

std::uint16_t SocketAddress::port() const {
  return ntohs(family() == AF_INET ? reinterpret_cast<const sockaddr_in*>(&storage)->sin_port
                                   : reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
}

std::string SocketAddress::toString() const {
  const std::string ip = address().toString();
  return family() == AF_INET6 ? "[" + ip + "]:" + std::to_string(port())
                              : ip + ":" + std::to_string(port());
}

}  // namespace lens::net
