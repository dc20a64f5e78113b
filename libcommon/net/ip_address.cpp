#include "libcommon/net/ip_address.h"

#include <arpa/inet.h>

#include <cassert>
#include <cstring>
#include <stdexcept>

namespace lens::net {

namespace {

// The longest IPv6 text inet_pton can accept:
// "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" is 45 characters.
constexpr std::size_t kMaxV6TextLength = 45;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Four decimal octets, 0-255, no leading zeros, nothing else.
std::optional<std::array<std::uint8_t, 4>> parseDottedQuad(std::string_view text) {
  std::array<std::uint8_t, 4> octets{};
  std::size_t pos = 0;
  for (std::size_t part = 0; part < octets.size(); ++part) {
    if (part > 0) {
      if (pos >= text.size() || text[pos] != '.') return std::nullopt;
      ++pos;
    }
    const std::size_t start = pos;
    unsigned value = 0;
    while (pos < text.size() && isDigit(text[pos]) && pos - start < 3) {
      value = value * 10 + static_cast<unsigned>(text[pos] - '0');
      ++pos;
    }
    const std::size_t digits = pos - start;
    if (digits == 0 || value > 255) return std::nullopt;
    if (digits > 1 && text[start] == '0') return std::nullopt;  // leading zero
    octets[part] = static_cast<std::uint8_t>(value);
  }
  // Anything left over: a four-digit octet, a fifth part, a trailing dot.
  if (pos != text.size()) return std::nullopt;
  return octets;
}

std::string dottedQuad(const std::uint8_t* b) {
  std::string out;
  out.reserve(15);
  for (int i = 0; i < 4; ++i) {
    if (i > 0) out += '.';
    out += std::to_string(b[i]);
  }
  return out;
}

bool allZero(const std::array<std::uint8_t, 16>& b, std::size_t from, std::size_t to) {
  for (std::size_t i = from; i < to; ++i) {
    if (b[i] != 0) return false;
  }
  return true;
}

bool isMappedBytes(const std::array<std::uint8_t, 16>& b) {
  return allZero(b, 0, 10) && b[10] == 0xff && b[11] == 0xff;
}

// RFC 5952: lower-case hex, no leading zeros, "::" for the first longest run
// of two or more zero groups, mixed notation for IPv4-mapped addresses.
std::string formatV6(const std::array<std::uint8_t, 16>& b) {
  if (isMappedBytes(b)) return "::ffff:" + dottedQuad(b.data() + 12);

  std::array<unsigned, 8> groups{};
  for (std::size_t i = 0; i < groups.size(); ++i) {
    groups[i] = (static_cast<unsigned>(b[2 * i]) << 8) | b[2 * i + 1];
  }
  int bestStart = -1;
  int bestLength = 0;
  for (int i = 0; i < 8;) {
    if (groups[static_cast<std::size_t>(i)] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && groups[static_cast<std::size_t>(j)] == 0) ++j;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestLength < 2) bestStart = -1;

  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(39);
  for (int i = 0; i < 8; ++i) {
    if (i == bestStart) {
      out += "::";
      i += bestLength - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    const unsigned g = groups[static_cast<std::size_t>(i)];
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const unsigned nibble = (g >> shift) & 0xfu;
      if (nibble != 0 || started || shift == 0) {
        out += kHex[nibble];
        started = true;
      }
    }
  }
  return out;
}

// Keeps the first prefixLength bits of the bytes and clears the rest.
void maskBytes(std::array<std::uint8_t, 16>& b, int prefixLength) {
  for (std::size_t i = 0; i < b.size(); ++i) {
    const int bitsHere = prefixLength - static_cast<int>(i) * 8;
    if (bitsHere >= 8) continue;
    if (bitsHere <= 0) {
      b[i] = 0;
    } else {
      b[i] = static_cast<std::uint8_t>(b[i] & (0xffu << (8 - bitsHere)));
    }
  }
}

// True when the first `bits` bits of a and b agree.
bool samePrefix(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b,
                int bits) {
  const auto fullBytes = static_cast<std::size_t>(bits / 8);
  if (std::memcmp(a.data(), b.data(), fullBytes) != 0) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const unsigned mask = (0xffu << (8 - rest)) & 0xffu;
  return ((a[fullBytes] ^ b[fullBytes]) & mask) == 0;
}

}  // namespace

IpAddress IpAddress::fromV4(std::uint32_t hostOrder) {
  IpAddress a;
  a.family_ = Family::kV4;
  a.bytes_[0] = static_cast<std::uint8_t>(hostOrder >> 24);
  a.bytes_[1] = static_cast<std::uint8_t>(hostOrder >> 16);
  a.bytes_[2] = static_cast<std::uint8_t>(hostOrder >> 8);
  a.bytes_[3] = static_cast<std::uint8_t>(hostOrder);
  return a;
}

IpAddress IpAddress::fromV6(const std::array<std::uint8_t, 16>& bytes) {
  IpAddress a;
  a.family_ = Family::kV6;
  a.bytes_ = bytes;
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.find(':') == std::string_view::npos) {
    const auto octets = parseDottedQuad(text);
    if (!octets) return std::nullopt;
    IpAddress a;
    std::memcpy(a.bytes_.data(), octets->data(), octets->size());
    return a;
  }
  // inet_pton needs a NUL-terminated string; a NUL inside the view would
  // silently cut the text short, so refuse it.
  if (text.size() > kMaxV6TextLength || text.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  std::array<char, kMaxV6TextLength + 1> buffer{};
  std::memcpy(buffer.data(), text.data(), text.size());
  std::array<std::uint8_t, 16> bytes{};
  if (inet_pton(AF_INET6, buffer.data(), bytes.data()) != 1) return std::nullopt;
  return fromV6(bytes);
}

bool IpAddress::bit(int i) const {
  assert(i >= 0 && i < bitLength());
  if (i < 0 || i >= bitLength()) return false;
  const auto byte = bytes_[static_cast<std::size_t>(i / 8)];
  return ((byte >> (7 - i % 8)) & 1u) != 0;
}

std::uint32_t IpAddress::v4() const {
  assert(isV4());
  return (static_cast<std::uint32_t>(bytes_[0]) << 24) |
         (static_cast<std::uint32_t>(bytes_[1]) << 16) |
         (static_cast<std::uint32_t>(bytes_[2]) << 8) | static_cast<std::uint32_t>(bytes_[3]);
}

std::optional<IpAddress> IpAddress::embeddedV4() const {
  if (!isV6()) return std::nullopt;
  const bool mapped = isMappedBytes(bytes_);
  const bool compatible = allZero(bytes_, 0, 12) && !allZero(bytes_, 12, 16) &&
                          !(allZero(bytes_, 12, 15) && bytes_[15] == 1);
  if (!mapped && !compatible) return std::nullopt;
  IpAddress a;
  std::memcpy(a.bytes_.data(), bytes_.data() + 12, 4);
  return a;
}

IpAddress IpAddress::canonical() const {
  if (auto v4 = embeddedV4()) return *v4;
  return *this;
}

bool IpAddress::isLoopback() const {
  if (isV4()) return bytes_[0] == 127;
  return allZero(bytes_, 0, 15) && bytes_[15] == 1;
}

bool IpAddress::isUnspecified() const {
  if (isV4()) return bytes_[0] == 0;
  return allZero(bytes_, 0, 16);
}

bool IpAddress::isLinkLocal() const {
  if (isV4()) return bytes_[0] == 169 && bytes_[1] == 254;
  return bytes_[0] == 0xfe && (bytes_[1] & 0xc0) == 0x80;
}

bool IpAddress::isMulticast() const {
  if (isV4()) return (bytes_[0] & 0xf0) == 0xe0;
  return bytes_[0] == 0xff;
}

std::string IpAddress::toString() const {
  if (isV4()) return dottedQuad(bytes_.data());
  return formatV6(bytes_);
}

Cidr::Cidr(IpAddress network, int prefixLength) {
  if (prefixLength < 0 || prefixLength > network.bitLength()) {
    throw std::invalid_argument("Cidr: prefix length " + std::to_string(prefixLength) +
                                " out of range for " + network.toString());
  }
  // An IPv4-mapped prefix that covers the whole ::ffff:0:0/96 block is an
  // IPv4 prefix in disguise.
  if (network.isV6() && prefixLength >= 96 && isMappedBytes(network.bytes())) {
    network = *network.embeddedV4();
    prefixLength -= 96;
  }
  auto bytes = network.bytes();
  maskBytes(bytes, prefixLength);
  if (network.isV4()) {
    network_ = IpAddress::fromV4((static_cast<std::uint32_t>(bytes[0]) << 24) |
                                 (static_cast<std::uint32_t>(bytes[1]) << 16) |
                                 (static_cast<std::uint32_t>(bytes[2]) << 8) |
                                 static_cast<std::uint32_t>(bytes[3]));
  } else {
    network_ = IpAddress::fromV6(bytes);
  }
  prefix_ = prefixLength;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  if (slash == std::string_view::npos) return Cidr(*address, address->bitLength());

  const std::string_view lengthText = text.substr(slash + 1);
  // Decimal, no sign, no leading zeros (except "0" itself); three digits
  // are enough for 128 and keep the arithmetic from overflowing.
  if (lengthText.empty() || lengthText.size() > 3) return std::nullopt;
  if (lengthText.size() > 1 && lengthText[0] == '0') return std::nullopt;
  int length = 0;
  for (char c : lengthText) {
    if (!isDigit(c)) return std::nullopt;
    length = length * 10 + (c - '0');
  }
  if (length > address->bitLength()) return std::nullopt;
  return Cidr(*address, length);
}

bool Cidr::contains(const IpAddress& address) const {
  if (network_.isV4()) {
    // Judge IPv4-mapped and IPv4-compatible IPv6 by the IPv4 they carry; a
    // real IPv6 address is never inside an IPv4 prefix.
    const IpAddress candidate = address.canonical();
    return candidate.isV4() && samePrefix(candidate.bytes(), network_.bytes(), prefix_);
  }
  // An IPv6 prefix matches IPv6 addresses bit for bit (so ::2/128 contains
  // ::2 even though ::2 also reads as the IPv4-compatible 0.0.0.2).
  return address.isV6() && samePrefix(address.bytes(), network_.bytes(), prefix_);
}

std::string Cidr::toString() const { return network_.toString() + "/" + std::to_string(prefix_); }

}  // namespace lens::net
