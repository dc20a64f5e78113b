#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "libcommon/util/result.h"

namespace lens::proxy {

// The upstream proxy of a policy frame's proxyUpstream (DESIGN.md section 4):
// requests whose transport is `upstream` are tunnelled through it with
// CONNECT.
struct UpstreamProxy {
  bool tls = false;  // https://: TLS to the proxy itself
  std::string host;  // a name or an IP literal (IPv6 without brackets)
  std::uint16_t port = 3128;
  // "Basic base64(user:pass)" when the URL has user information (each part
  // percent-decoded first), else empty. A secret: never log it.
  std::string authorization;

  // "http://host:port" (never the user information): for logs and audits.
  [[nodiscard]] std::string redacted() const;
  friend bool operator==(const UpstreamProxy&, const UpstreamProxy&) = default;
};

// Parses http://[user[:pass]@]host[:port][/] or https://...; the default port
// is 3128. Anything else (another scheme, a path, a bad port, a bad escape)
// is ErrorCode::kInvalidPolicy with a message that never repeats the user
// information.
[[nodiscard]] Result<UpstreamProxy> parseUpstreamProxy(std::string_view url);

}  // namespace lens::proxy
