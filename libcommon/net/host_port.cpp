#include "libcommon/net/host_port.h"

#include <algorithm>

#include "libcommon/net/ip_address.h"
#include "libcommon/util/strings.h"

namespace lens::net {

namespace {

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

Result<std::uint16_t> parsePort(std::string_view text) {
  const auto port = util::parseDecimal(text, 65535);
  if (!port || *port == 0) {
    return makeError(ErrorCode::kInvalidInput, "the port is not a number from 1 to 65535");
  }
  return static_cast<std::uint16_t>(*port);
}

}  // namespace

Result<HostPort> parseHostPort(std::string_view text) {
  HostPort out;
  if (text.empty()) return makeError(ErrorCode::kInvalidInput, "the host is empty");
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return makeError(ErrorCode::kInvalidInput, "'[' without a closing ']' in the host");
    }
    const std::string_view literal = text.substr(1, close - 1);
    const auto address = IpAddress::parse(literal);
    if (!address || !address->isV6()) {
      return makeError(ErrorCode::kInvalidInput, "the host in brackets is not an IPv6 address");
    }
    out.host = std::string(literal);
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty()) return out;
    if (rest.front() != ':') {
      return makeError(ErrorCode::kInvalidInput, "']' is not followed by ':' and a port");
    }
    auto port = parsePort(rest.substr(1));
    if (!port) return port.error();
    out.port = *port;
    return out;
  }
  if (std::count(text.begin(), text.end(), ':') > 1) {
    if (!IpAddress::parse(text)) {
      return makeError(ErrorCode::kInvalidInput,
                       "the host has several ':' but is not an IPv6 address");
    }
    out.host = std::string(text);
    return out;
  }
  const std::size_t colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  if (name.empty()) return makeError(ErrorCode::kInvalidInput, "the host is empty");
  if (!std::all_of(name.begin(), name.end(), isNameChar)) {
    return makeError(ErrorCode::kInvalidInput,
                     "the host has a character other than letters, digits, '-', '_' and '.'");
  }
  out.host = std::string(name);
  if (colon != std::string_view::npos) {
    auto port = parsePort(text.substr(colon + 1));
    if (!port) return port.error();
    out.port = *port;
  }
  return out;
}

}  // namespace lens::net
