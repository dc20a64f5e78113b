#include "libcommon/decision/safety_floor.h"

#include <string>
#include <utility>

namespace lens::decision {

namespace {

// How much of a hostile host name a detail message repeats.
constexpr std::size_t kMaxQuotedHost = 255;

// The host in double quotes, safe to print: control bytes, quotes,
// backslashes and non-ASCII bytes as escapes, long names cut short.
std::string quoteHost(std::string_view host) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  const std::string_view shown = host.substr(0, kMaxQuotedHost);
  for (char c : shown) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  if (shown.size() < host.size()) out += "...";
  return out;
}

FloorViolation invalidHost(std::string_view host, std::string_view why) {
  return {FloorClass::kInvalidHost, "invalid host " + quoteHost(host) + ": " + std::string(why)};
}

bool isAsciiDigit(char c) { return c >= '0' && c <= '9'; }

bool isAsciiHexDigit(char c) {
  return isAsciiDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// The WHATWG URL "ends in a number" test for one label: all decimal digits,
// or 0x / 0X followed by hex digits (or nothing). A host whose last label
// passes is meant as an IPv4 address by browsers and most URL parsers.
bool isNumericLabel(std::string_view label) {
  if (label.empty()) return false;
  if (label.size() >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X')) {
    for (char c : label.substr(2)) {
      if (!isAsciiHexDigit(c)) return false;
    }
    return true;
  }
  for (char c : label) {
    if (!isAsciiDigit(c)) return false;
  }
  return true;
}

bool isLocalhostName(std::string_view name) {
  constexpr std::string_view kLocalhost = "localhost";
  auto equalsLocalhost = [&](std::string_view s) {
    if (s.size() != kLocalhost.size()) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (asciiLower(s[i]) != kLocalhost[i]) return false;
    }
    return true;
  };
  if (equalsLocalhost(name)) return true;
  // "*.localhost": the last label is "localhost".
  if (name.size() > kLocalhost.size() && name[name.size() - kLocalhost.size() - 1] == '.') {
    return equalsLocalhost(name.substr(name.size() - kLocalhost.size()));
  }
  return false;
}

std::optional<FloorViolation> checkIpv6Literal(std::string_view host, std::string_view literal) {
  if (literal.find('%') != std::string_view::npos) {
    return invalidHost(host, "IPv6 zone index is not allowed");
  }
  const auto address = net::IpAddress::parse(literal);
  if (!address || !address->isV6()) return invalidHost(host, "not an IPv6 address");
  return checkAddressFloor(*address);
}

}  // namespace

std::string_view floorCode(FloorClass cls) {
  switch (cls) {
    case FloorClass::kLoopback:
      return "loopback";
    case FloorClass::kUnspecified:
      return "unspecified";
    case FloorClass::kLinkLocal:
      return "link-local";
    case FloorClass::kLocalhostName:
      return "localhost";
    case FloorClass::kAmbiguousNumeric:
      return "ambiguous-ip";
    case FloorClass::kInvalidHost:
      return "invalid-host";
  }
  return "invalid-host";
}

std::optional<FloorViolation> checkHostFloor(std::string_view host) {
  if (host.empty()) return invalidHost(host, "empty host");
  for (char c : host) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) return invalidHost(host, "space or control character");
    // Internationalised names travel as punycode (xn--); raw non-ASCII could
    // be mapped by a later IDNA step (fullwidth "ｌｏｃａｌｈｏｓｔ") after this check.
    if (byte >= 0x80) return invalidHost(host, "non-ASCII character (use the xn-- form)");
  }

  // Bracketed IPv6 literal, as in a URL or a CONNECT authority.
  if (host.front() == '[') {
    if (host.size() < 2 || host.back() != ']') return invalidHost(host, "unterminated '['");
    const std::string_view inner = host.substr(1, host.size() - 2);
    if (inner.find_first_of("[]") != std::string_view::npos) {
      return invalidHost(host, "stray bracket");
    }
    return checkIpv6Literal(host, inner);
  }
  if (host.find_first_of("[]") != std::string_view::npos) {
    return invalidHost(host, "stray bracket");
  }
  if (host.find('%') != std::string_view::npos) {
    return invalidHost(host, "zone index or percent sign");
  }
  // Unbracketed IPv6 literal (a name never contains ':').
  if (host.find(':') != std::string_view::npos) return checkIpv6Literal(host, host);

  std::string_view name = host;
  if (name.back() == '.') name.remove_suffix(1);
  if (name.empty()) return invalidHost(host, "empty host");

  // Empty labels ("a..b", ".a", "a..") are not host names; resolvers and URL
  // parsers disagree about them, so refuse instead of guessing.
  if (name.front() == '.' || name.back() == '.' || name.find("..") != std::string_view::npos) {
    return invalidHost(host, "empty label");
  }

  if (isLocalhostName(name)) {
    return FloorViolation{FloorClass::kLocalhostName, "localhost name " + quoteHost(host)};
  }

  const auto lastDot = name.rfind('.');
  const std::string_view lastLabel =
      lastDot == std::string_view::npos ? name : name.substr(lastDot + 1);
  if (isNumericLabel(lastLabel)) {
    // Meant as IPv4. Only the canonical dotted quad is unambiguous: every
    // other spelling (127.1, 0x7f.1, 0177.0.0.1, 2130706433) means different
    // things to different parsers.
    const auto address = net::IpAddress::parse(name);
    if (!address || !address->isV4()) {
      return FloorViolation{FloorClass::kAmbiguousNumeric,
                            "ambiguous numeric host " + quoteHost(host) +
                                " (only a dotted quad such as 10.0.0.1 is accepted)"};
    }
    return checkAddressFloor(*address);
  }
  return std::nullopt;
}

std::optional<FloorViolation> checkAddressFloor(const net::IpAddress& address) {
  const net::IpAddress judged = address.canonical();
  FloorClass cls;
  std::string_view what;
  if (judged.isLoopback()) {
    cls = FloorClass::kLoopback;
    what = "loopback address ";
  } else if (judged.isUnspecified()) {
    cls = FloorClass::kUnspecified;
    what = "unspecified address ";
  } else if (judged.isLinkLocal()) {
    cls = FloorClass::kLinkLocal;
    what = "link-local address ";
  } else {
    return std::nullopt;
  }
  std::string detail = std::string(what) + address.toString();
  if (judged != address) detail += " (IPv4 " + judged.toString() + ")";
  return FloorViolation{cls, std::move(detail)};
}

}  // namespace lens::decision
