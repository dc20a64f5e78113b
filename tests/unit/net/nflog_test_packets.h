#pragma once

// Hand-built IP packets and NFLOG netlink messages for the tests of the
// NFLOG parser and the refusal auditor (host byte order as the kernel sends:
// little or big endian, whatever this machine is).

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

namespace lens::test {

using Bytes = std::vector<std::uint8_t>;

inline void putBe16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

inline void append(Bytes& b, std::initializer_list<std::uint8_t> bytes) {
  b.insert(b.end(), bytes);
}

// A transport header: ports, then zeros up to `length` (8 for UDP, 20 for TCP).
inline Bytes ports(std::uint16_t src, std::uint16_t dst, std::size_t length) {
  Bytes b(length, 0);
  putBe16(b, 0, src);
  putBe16(b, 2, dst);
  return b;
}

// An IPv4 header (with `optionWords` 32-bit words of NOP options) and `l4`.
inline Bytes ipv4(std::initializer_list<std::uint8_t> src, std::initializer_list<std::uint8_t> dst,
                  std::uint8_t protocol, const Bytes& l4, int optionWords = 0,
                  std::uint16_t fragment = 0) {
  const std::size_t header = 20 + static_cast<std::size_t>(optionWords) * 4;
  Bytes b(header, 0);
  b[0] = static_cast<std::uint8_t>(0x40 | (header / 4));
  putBe16(b, 2, static_cast<std::uint16_t>(header + l4.size()));
  putBe16(b, 6, fragment);
  b[8] = 64;
  b[9] = protocol;
  std::copy(src.begin(), src.end(), b.begin() + 12);
  std::copy(dst.begin(), dst.end(), b.begin() + 16);
  for (std::size_t i = 20; i < header; ++i) b[i] = 1;  // NOP
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

// An IPv6 header whose next header is `next`, followed by `rest` (extension
// headers and the transport header, built by the caller).
inline Bytes ipv6(const std::string& src16, const std::string& dst16, std::uint8_t next,
                  const Bytes& rest) {
  Bytes b(40, 0);
  b[0] = 0x60;
  putBe16(b, 4, static_cast<std::uint16_t>(rest.size()));
  b[6] = next;
  b[7] = 64;
  std::memcpy(b.data() + 8, src16.data(), 16);
  std::memcpy(b.data() + 24, dst16.data(), 16);
  b.insert(b.end(), rest.begin(), rest.end());
  return b;
}

// fd99::N as 16 bytes.
inline std::string fd99(std::uint8_t n) {
  std::string a(16, '\0');
  a[0] = static_cast<char>(0xfd);
  a[1] = static_cast<char>(0x99);
  a[15] = static_cast<char>(n);
  return a;
}

// An NFLOG packet message under construction.
class NflogMessage {
 public:
  explicit NflogMessage(std::uint8_t family = 2, std::uint16_t group = 3129,
                        std::uint16_t type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET) {
    bytes_.resize(sizeof(nlmsghdr) + sizeof(nfgenmsg), 0);
    nlmsghdr h{};
    h.nlmsg_type = type;
    std::memcpy(bytes_.data(), &h, sizeof h);
    bytes_[16] = family;
    bytes_[17] = NFNETLINK_V0;
    putBe16(bytes_, 18, group);
  }

  NflogMessage& attr(std::uint16_t type, const Bytes& value) {
    const std::size_t at = bytes_.size();
    bytes_.resize(at + ((4 + value.size() + 3) & ~std::size_t{3}), 0);
    const auto length = static_cast<std::uint16_t>(4 + value.size());
    std::memcpy(bytes_.data() + at, &length, 2);
    std::memcpy(bytes_.data() + at + 2, &type, 2);
    std::memcpy(bytes_.data() + at + 4, value.data(), value.size());
    return *this;
  }
  NflogMessage& be32(std::uint16_t type, std::uint32_t v) {
    return attr(type, Bytes{static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
                            static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)});
  }
  NflogMessage& prefix(const std::string& text) {
    Bytes v(text.begin(), text.end());
    v.push_back(0);
    return attr(NFULA_PREFIX, v);
  }
  NflogMessage& payload(const Bytes& packet) { return attr(NFULA_PAYLOAD, packet); }
  NflogMessage& header(std::uint16_t hwProtocol, std::uint8_t hook) {
    return attr(NFULA_PACKET_HDR, Bytes{static_cast<std::uint8_t>(hwProtocol >> 8),
                                        static_cast<std::uint8_t>(hwProtocol), hook, 0});
  }

  // The message with its length filled in.
  [[nodiscard]] Bytes bytes() const {
    Bytes b = bytes_;
    const auto length = static_cast<std::uint32_t>(b.size());
    std::memcpy(b.data(), &length, 4);
    return b;
  }

 private:
  Bytes bytes_;
};

// A typical refusal: UDP from 10.199.0.1:40000 to 10.199.0.2:9000 by uid 1000.
inline Bytes udpRefusal(const std::string& prefix = "lens:deny: ", std::uint32_t seq = 0) {
  return NflogMessage(2)
      .header(0x0800, 3)
      .be32(NFULA_MARK, 0)
      .be32(NFULA_IFINDEX_OUTDEV, 2)
      .payload(ipv4({10, 199, 0, 1}, {10, 199, 0, 2}, 17, ports(40000, 9000, 8)))
      .prefix(prefix)
      .be32(NFULA_UID, 1000)
      .be32(NFULA_SEQ, seq)
      .be32(NFULA_GID, 1000)
      .bytes();
}

inline Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace lens::test
