#include "libcommon/policy/match_pattern.h"

#include <algorithm>

#include "libcommon/util/strings.h"

namespace lens::policy {

namespace {

Result<std::uint16_t> parsePort(std::string_view text, std::string_view pattern) {
  if (text == "0")
    return makeError(ErrorCode::kInvalidPolicy,
                     "port 0 is not a valid port in \"" + std::string(pattern) + "\"");
  auto value = util::parseDecimal(text, 65535);
  if (!value) {
    return makeError(ErrorCode::kInvalidPolicy, "invalid port \"" + std::string(text) + "\" in \"" +
                                                    std::string(pattern) + "\" (expected 1-65535)");
  }
  return static_cast<std::uint16_t>(*value);
}

bool validHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
         c == '*';
}

// Validates a (lower-cased) host pattern: allowed characters, no empty label,
// at most 253 characters, at most one '*'.
Status checkHostPattern(std::string_view host, std::string_view pattern) {
  auto fail = [&](const std::string& why) -> Status {
    return makeError(ErrorCode::kInvalidPolicy,
                     "invalid match \"" + std::string(pattern) + "\": " + why);
  };
  if (host.empty()) return fail("empty host");
  if (host.size() > 253) return fail("host longer than 253 characters");
  for (char c : host) {
    if (!validHostChar(c)) {
      if (c == '/' || c == ':') return fail("expected a host, address or prefix, not a URL");
      return fail(std::string("character '") + c + "' is not allowed in a host");
    }
  }
  for (std::size_t begin = 0;;) {
    const std::size_t dot = std::min(host.find('.', begin), host.size());
    if (dot == begin) return fail("empty label");
    if (dot - begin > 63) return fail("label longer than 63 characters");
    if (dot == host.size()) break;
    begin = dot + 1;
  }
  if (std::count(host.begin(), host.end(), '*') > 1) return fail("at most one '*' is allowed");
  // A host whose last label is numeric is meant as an IPv4 address; if it did
  // not parse as one it is a spelling the safety floor refuses (127.1,
  // 0x7f.0.0.1, 2130706433), so a rule naming it could never match.
  const std::string_view last =
      host.substr(host.rfind('.') == std::string_view::npos ? 0 : host.rfind('.') + 1);
  const bool hex = last.size() >= 2 && last[0] == '0' && last[1] == 'x';
  const std::string_view digits = hex ? last.substr(2) : last;
  if (!last.empty() && std::all_of(digits.begin(), digits.end(), [hex](char c) {
        return (c >= '0' && c <= '9') || (hex && c >= 'a' && c <= 'f');
      })) {
    return fail("not a valid IP address (write a dotted quad such as 10.0.0.1, or a CIDR)");
  }
  return Ok{};
}

}  // namespace

std::string normalizeHost(std::string_view host) {
  if (host.ends_with('.')) host.remove_suffix(1);
  return util::toLower(host);
}

Result<MatchPattern> MatchPattern::parse(std::string_view text) {
  MatchPattern p;
  p.text_ = std::string(text);
  auto fail = [&](const std::string& why) -> Result<MatchPattern> {
    return makeError(ErrorCode::kInvalidPolicy, why);
  };
  if (text.empty()) return fail("empty match pattern");
  // Caught before the port split, which would otherwise call "//x.com" a bad port.
  if (text.find("://") != std::string_view::npos) {
    return fail("invalid match \"" + std::string(text) +
                "\": expected a host, address or prefix, not a URL");
  }

  // 1. An address or prefix without a port.
  if (auto cidr = net::Cidr::parse(text)) {
    p.kind_ = Kind::kCidr;
    p.cidr_ = *cidr;
    return p;
  }

  std::string_view hostPart = text;
  // 2. Bracketed IPv6 (address or prefix) with a port.
  if (text.front() == '[') {
    const std::size_t close = text.find("]:");
    if (close == std::string_view::npos) {
      return fail("invalid match \"" + std::string(text) + "\": expected [address]:port");
    }
    // IPv6 text inside the brackets; an IPv4-mapped address is IPv6 text too,
    // even though Cidr normalises it to the IPv4 prefix it names.
    const std::string_view inner = text.substr(1, close - 1);
    auto cidr = net::Cidr::parse(inner);
    if (!cidr || inner.find(':') == std::string_view::npos) {
      return fail("invalid match \"" + std::string(text) +
                  "\": expected an IPv6 address or prefix inside [ ]");
    }
    auto port = parsePort(text.substr(close + 2), text);
    if (!port) return port.error();
    p.kind_ = Kind::kCidr;
    p.cidr_ = *cidr;
    p.port_ = *port;
    return p;
  }

  // 3./4. host:port, address:port, prefix:port; more than one ':' is ambiguous.
  const auto colons = std::count(text.begin(), text.end(), ':');
  if (colons > 1) {
    return fail("ambiguous match \"" + std::string(text) +
                "\": an IPv6 address with a port must be written [address]:port");
  }
  if (colons == 1) {
    const std::size_t colon = text.find(':');
    hostPart = text.substr(0, colon);
    auto port = parsePort(text.substr(colon + 1), text);
    if (!port) return port.error();
    p.port_ = *port;
    if (auto cidr = net::Cidr::parse(hostPart)) {
      p.kind_ = Kind::kCidr;
      p.cidr_ = *cidr;
      return p;
    }
  }

  // 5. Host patterns.
  std::string host = normalizeHost(hostPart);
  if (host == "*") {
    p.kind_ = Kind::kAny;
    return p;
  }
  if (auto ok = checkHostPattern(host, text); !ok) return ok.error();
  const std::size_t star = host.find('*');
  if (star == std::string::npos) {
    p.kind_ = Kind::kExact;
    p.host_ = std::move(host);
  } else if (star == 0 && host.size() > 2 && host[1] == '.') {
    p.kind_ = Kind::kSuffix;
    p.host_ = host.substr(2);
  } else {
    p.kind_ = Kind::kMidWildcard;
    p.host_ = host.substr(0, star);
    p.suffix_ = host.substr(star + 1);
  }
  return p;
}

bool MatchPattern::matchesHost(std::string_view host) const {
  switch (kind_) {
    case Kind::kAny:
      return !host.empty();
    case Kind::kExact:
      return host == host_;
    case Kind::kSuffix:
      return host == host_ || (host.size() > host_.size() && host.ends_with(host_) &&
                               host[host.size() - host_.size() - 1] == '.');
    case Kind::kMidWildcard:
      return host.size() > host_.size() + suffix_.size() && host.starts_with(host_) &&
             host.ends_with(suffix_);
    case Kind::kCidr:
      return false;
  }
  return false;
}

bool MatchPattern::matchesAddress(const net::IpAddress& address) const {
  switch (kind_) {
    case Kind::kAny:
      return true;
    case Kind::kCidr:
      return cidr_.contains(address);
    default:
      return false;
  }
}

}  // namespace lens::policy
