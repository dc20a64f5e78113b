#include "libcommon/proxy/transparent.h"
#include "libcommon/util/system_error.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace lens::proxy {

namespace {

// linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h, which clash
// with the libc headers.
constexpr int kSoOriginalDst = 80;
constexpr int kIp6tSoOriginalDst = 80;

// The methods a client starts a request with; a longer token of capitals is
// taken as HTTP too (WebDAV and friends are judged by the same rules).
constexpr std::size_t kMaxMethod = 20;

}  // namespace

std::string_view toString(TransparentMode mode) {
  switch (mode) {
    case TransparentMode::kOff:
      return "off";
    case TransparentMode::kRedirect:
      return "redirect";
    case TransparentMode::kTproxy:
      return "tproxy";
  }
  return "?";
}

std::optional<TransparentMode> parseTransparentMode(std::string_view text) {
  if (text == "redirect") return TransparentMode::kRedirect;
  if (text == "tproxy") return TransparentMode::kTproxy;
  return std::nullopt;
}

Result<net::SocketAddress> originalDestination(int fd, TransparentMode mode) {
  net::SocketAddress out;
  socklen_t length = sizeof out.storage;
  if (mode == TransparentMode::kTproxy) {
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&out.storage), &length) != 0)
      return util::systemError("getsockname");
    out.length = length;
    return out;
  }
  // The family of the accepted socket decides which option answers.
  sockaddr_storage local{};
  socklen_t localLength = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &localLength) != 0)
    return util::systemError("getsockname");
  const bool v6 = local.ss_family == AF_INET6;
  const int rc = v6 ? ::getsockopt(fd, SOL_IPV6, kIp6tSoOriginalDst, &out.storage, &length)
                    : ::getsockopt(fd, SOL_IP, kSoOriginalDst, &out.storage, &length);
  if (rc != 0) return util::systemError(v6 ? "IP6T_SO_ORIGINAL_DST" : "SO_ORIGINAL_DST");
  out.length = length;
  if (out.family() != AF_INET && out.family() != AF_INET6)
    return makeError(ErrorCode::kIo, "SO_ORIGINAL_DST: not an IP address");
  return out;
}

Status makeTransparent(int fd, int family) {
  const int one = 1;
  const int rc = family == AF_INET6 ? ::setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof one)
                                    : ::setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof one);
  if (rc != 0) return util::systemError(family == AF_INET6 ? "IPV6_TRANSPARENT" : "IP_TRANSPARENT");
  return Ok{};
}

bool sameEndpoint(const net::SocketAddress& address, const net::SocketAddress& listener) {
  if (address.family() != listener.family() || address.port() != listener.port()) return false;
  const net::IpAddress l = listener.address();
  return l.isUnspecified() || l == address.address();
}

std::optional<bool> looksLikeHttp(std::string_view prefix) {
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const char c = prefix[i];
    // GET, PUT, ... are the shortest; "PRI * HTTP/2.0" (HTTP/2 with prior
    // knowledge) is not an HTTP/1 request and goes the raw way.
    if (c == ' ') return i >= 3 && prefix.substr(0, i) != "PRI";
    if (c < 'A' || c > 'Z' || i >= kMaxMethod) return false;
  }
  return std::nullopt;
}

std::string tlsAlertRecord(TlsAlert alert) {
  const std::array<char, 7> record{
      0x15, 0x03, 0x03, 0x00, 0x02, 0x02, static_cast<char>(static_cast<std::uint8_t>(alert))};
  return std::string(record.data(), record.size());
}

}  // namespace lens::proxy
