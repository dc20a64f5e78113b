#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "libcommon/net/ip_address.h"
#include "libcommon/util/result.h"

namespace lens::policy {

// A rule's `match` destination pattern (DESIGN.md section 4):
//   "*"                         any host or address
//   "api.example.com"           exact host (case-insensitive, trailing dot ignored)
//   "*.example.com"             the apex and every subdomain
//   "bedrock-runtime.*.amazonaws.com"   one '*' inside: prefix, at least one
//                               character (dots allowed), suffix
//   "10.0.0.5", "10.0.0.0/8", "2001:db8::/32"   address or prefix
// each optionally with ":port" ("db.internal:5432", "10.0.0.0/8:5432"), and
// IPv6 with a port only in brackets ("[2001:db8::1]:443", "[2001:db8::/32]:443").
class MatchPattern {
 public:
  enum class Kind : std::uint8_t { kAny, kExact, kSuffix, kMidWildcard, kCidr };

  static Result<MatchPattern> parse(std::string_view text);

  [[nodiscard]] Kind kind() const { return kind_; }
  [[nodiscard]] bool isHostPattern() const { return kind_ != Kind::kCidr; }
  [[nodiscard]] const std::string& text() const { return text_; }
  // kExact: the host; kSuffix: the apex ("example.com"); kMidWildcard: the part
  // before the '*'.
  [[nodiscard]] const std::string& host() const { return host_; }
  // kMidWildcard: the part after the '*'.
  [[nodiscard]] const std::string& suffix() const { return suffix_; }
  [[nodiscard]] const net::Cidr& cidr() const { return cidr_; }
  [[nodiscard]] std::optional<std::uint16_t> port() const { return port_; }

  // `host` must already be lower-case without a trailing dot (normalizeHost).
  [[nodiscard]] bool matchesHost(std::string_view host) const;
  [[nodiscard]] bool matchesAddress(const net::IpAddress& address) const;
  [[nodiscard]] bool matchesPort(std::uint16_t port) const { return !port_ || *port_ == port; }

 private:
  Kind kind_ = Kind::kAny;
  std::string text_;
  std::string host_;
  std::string suffix_;
  net::Cidr cidr_;
  std::optional<std::uint16_t> port_;
};

// Lower-cases a host name and strips one trailing dot.
std::string normalizeHost(std::string_view host);

}  // namespace lens::policy
