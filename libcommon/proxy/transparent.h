#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "libcommon/net/socket_address.h"
#include "libcommon/util/result.h"

namespace lens::proxy {

// How redirected connections reach lens-tproxy (lens-lockdown --mode).
enum class TransparentMode : std::uint8_t {
  kOff,       // lens-proxy: clients come on purpose
  kRedirect,  // nat REDIRECT: the original destination from conntrack (SO_ORIGINAL_DST)
  kTproxy,    // TPROXY: an IP_TRANSPARENT listener; the accepted socket's local address
};
std::string_view toString(TransparentMode mode);
std::optional<TransparentMode> parseTransparentMode(std::string_view text);

// Where a redirected client meant to go: SO_ORIGINAL_DST (IPv4) or
// IP6T_SO_ORIGINAL_DST (IPv6) for kRedirect, getsockname() for kTproxy.
[[nodiscard]] Result<net::SocketAddress> originalDestination(int fd, TransparentMode mode);

// IP_TRANSPARENT / IPV6_TRANSPARENT on a listening socket (needs
// CAP_NET_ADMIN): it may then accept connections addressed elsewhere.
[[nodiscard]] Status makeTransparent(int fd, int family);

// True when `address` is what a listener bound to `listener` accepts (same
// family and port; the same address, or the listener's is unspecified).
[[nodiscard]] bool sameEndpoint(const net::SocketAddress& address,
                                const net::SocketAddress& listener);

// Whether the first bytes a client sent start an HTTP/1 request line: a
// method token of capital letters followed by a space. true, false, or
// nullopt when the bytes so far are a prefix of one.
[[nodiscard]] std::optional<bool> looksLikeHttp(std::string_view prefix);

// A fatal TLS alert record (TLS 1.2 record layer, as servers send before
// ServerHello): what a refused TLS client gets before the close.
enum class TlsAlert : std::uint8_t {
  kHandshakeFailure = 40,
  kAccessDenied = 49,
  kDecodeError = 50,
  kInternalError = 80,
};
[[nodiscard]] std::string tlsAlertRecord(TlsAlert alert);

}  // namespace lens::proxy
