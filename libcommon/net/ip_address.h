#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lens::net {

// An IPv4 or IPv6 address. Parsing is strict: IPv4 only as four decimal
// octets without leading zeros ("10.0.0.1"), IPv6 as RFC 4291 text (with an
// optional embedded dotted quad, no zone index, no brackets). Everything
// else (for example "127.1", "0x7f.0.0.1", "2130706433") is not an address.
class IpAddress {
 public:
  enum class Family : std::uint8_t { kV4, kV6 };

  IpAddress() = default;  // 0.0.0.0
  static IpAddress fromV4(std::uint32_t hostOrder);
  static IpAddress fromV6(const std::array<std::uint8_t, 16>& bytes);
  static std::optional<IpAddress> parse(std::string_view text);

  [[nodiscard]] Family family() const { return family_; }
  [[nodiscard]] bool isV4() const { return family_ == Family::kV4; }
  [[nodiscard]] bool isV6() const { return family_ == Family::kV6; }
  // Number of significant bits: 32 or 128.
  [[nodiscard]] int bitLength() const { return isV4() ? 32 : 128; }
  // Bit i (0 = most significant) of the address.
  [[nodiscard]] bool bit(int i) const;
  [[nodiscard]] std::uint32_t v4() const;  // host order; only for IPv4
  // Network-order bytes: the first 4 for IPv4, all 16 for IPv6.
  [[nodiscard]] const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }

  // The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or
  // IPv4-compatible (::a.b.c.d, excluding :: and ::1) IPv6 address.
  [[nodiscard]] std::optional<IpAddress> embeddedV4() const;
  // embeddedV4() when there is one, otherwise the address itself.
  [[nodiscard]] IpAddress canonical() const;

  [[nodiscard]] bool isLoopback() const;     // 127/8, ::1
  [[nodiscard]] bool isUnspecified() const;  // 0.0.0.0/8, ::
  [[nodiscard]] bool isLinkLocal() const;    // 169.254/16, fe80::/10
  [[nodiscard]] bool isMulticast() const;    // 224/4, ff00::/8

  // Canonical text: dotted quad, or RFC 5952 IPv6 ("::ffff:1.2.3.4" for mapped).
  [[nodiscard]] std::string toString() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend std::strong_ordering operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  Family family_ = Family::kV4;
  std::array<std::uint8_t, 16> bytes_{};
};

// An address prefix. parse() accepts "10.0.0.0/8", "2001:db8::/32" and a
// bare address (a /32 or /128); host bits below the prefix are cleared.
// IPv4-mapped IPv6 prefixes (::ffff:10.0.0.0/104) are turned into IPv4 ones.
class Cidr {
 public:
  Cidr() = default;
  Cidr(IpAddress network, int prefixLength);
  static std::optional<Cidr> parse(std::string_view text);

  [[nodiscard]] const IpAddress& network() const { return network_; }
  [[nodiscard]] int prefixLength() const { return prefix_; }
  // True when the address (canonicalised: mapped IPv6 judged as IPv4) lies inside.
  [[nodiscard]] bool contains(const IpAddress& address) const;
  [[nodiscard]] std::string toString() const;

  friend bool operator==(const Cidr&, const Cidr&) = default;

 private:
  IpAddress network_;
  int prefix_ = 0;
};

}  // namespace lens::net
