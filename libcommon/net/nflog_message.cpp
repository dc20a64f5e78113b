#include "libcommon/net/nflog_message.h"

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>

#include <cstring>

namespace lens::net::nflog {

namespace {

constexpr std::size_t kNlmsgHeader = sizeof(nlmsghdr);  // 16
constexpr std::size_t kGenHeader = sizeof(nfgenmsg);    // 4
constexpr std::size_t kAttrHeader = sizeof(nlattr);     // 4
constexpr std::uint16_t kAttrTypeMask = 0x3fff;  // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
constexpr std::uint16_t kPacketType = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
constexpr std::uint16_t kConfigType = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;

constexpr std::size_t align4(std::size_t n) { return (n + 3) & ~static_cast<std::size_t>(3); }

// Host-order integers of the netlink framing.
std::uint16_t host16(std::span<const std::uint8_t> b, std::size_t at) {
  std::uint16_t v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}
std::uint32_t host32(std::span<const std::uint8_t> b, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}
// Network-order attribute values.
std::uint16_t be16(std::span<const std::uint8_t> b) {
  return static_cast<std::uint16_t>(b[0] << 8 | b[1]);
}
std::uint32_t be32(std::span<const std::uint8_t> b) {
  return static_cast<std::uint32_t>(b[0]) << 24 | static_cast<std::uint32_t>(b[1]) << 16 |
         static_cast<std::uint32_t>(b[2]) << 8 | b[3];
}

Error invalid(std::string message) {
  return makeError(ErrorCode::kInvalidInput, std::move(message));
}

// A fixed-size attribute value, or an error naming the attribute.
Result<std::span<const std::uint8_t>> sized(std::span<const std::uint8_t> value, std::size_t size,
                                            const char* name) {
  if (value.size() < size) {
    return invalid(std::string(name) + " attribute of " + std::to_string(value.size()) +
                   " bytes, expected " + std::to_string(size));
  }
  return value.subspan(0, size);
}

class Builder {
 public:
  Builder(std::uint16_t type, std::uint16_t group, std::uint32_t seq) {
    bytes_.resize(kNlmsgHeader + kGenHeader);
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    h.nlmsg_seq = seq;
    std::memcpy(bytes_.data(), &h, sizeof h);
    nfgenmsg g{};
    g.nfgen_family = AF_UNSPEC_FAMILY;
    g.version = NFNETLINK_V0;
    g.res_id = htons(group);
    std::memcpy(bytes_.data() + kNlmsgHeader, &g, sizeof g);
  }

  void attr(std::uint16_t type, std::span<const std::uint8_t> value) {
    const std::size_t at = bytes_.size();
    bytes_.resize(at + align4(kAttrHeader + value.size()), 0);
    nlattr a{};
    a.nla_type = type;
    a.nla_len = static_cast<std::uint16_t>(kAttrHeader + value.size());
    std::memcpy(bytes_.data() + at, &a, sizeof a);
    if (!value.empty()) std::memcpy(bytes_.data() + at + kAttrHeader, value.data(), value.size());
  }
  void attrBe32(std::uint16_t type, std::uint32_t v) {
    const std::uint8_t b[4] = {static_cast<std::uint8_t>(v >> 24),
                               static_cast<std::uint8_t>(v >> 16),
                               static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    attr(type, b);
  }

  std::vector<std::uint8_t> finish() {
    const auto length = static_cast<std::uint32_t>(bytes_.size());
    std::memcpy(bytes_.data(), &length, sizeof length);  // nlmsg_len comes first
    return std::move(bytes_);
  }

 private:
  static constexpr std::uint8_t AF_UNSPEC_FAMILY = 0;
  std::vector<std::uint8_t> bytes_;
};

}  // namespace

Result<Packet> parsePacketMessage(std::span<const std::uint8_t> body) {
  if (body.size() < kGenHeader) {
    return invalid("NFLOG packet message of " + std::to_string(body.size()) +
                   " bytes has no nfgenmsg header");
  }
  Packet p;
  p.family = body[0];
  p.group = be16(body.subspan(2, 2));
  std::span<const std::uint8_t> rest = body.subspan(kGenHeader);
  while (!rest.empty()) {
    if (rest.size() < kAttrHeader) {
      return invalid("NFLOG attribute header cut short: " + std::to_string(rest.size()) +
                     " bytes left");
    }
    const std::uint16_t length = host16(rest, 0);
    const auto type = static_cast<std::uint16_t>(host16(rest, 2) & kAttrTypeMask);
    if (length < kAttrHeader || length > rest.size()) {
      return invalid("NFLOG attribute " + std::to_string(type) + " claims " +
                     std::to_string(length) + " bytes, " + std::to_string(rest.size()) + " left");
    }
    const std::span<const std::uint8_t> value = rest.subspan(kAttrHeader, length - kAttrHeader);
    rest = rest.subspan(std::min(rest.size(), align4(length)));
    const auto u32 = [&](const char* name) -> Result<std::uint32_t> {
      auto v = sized(value, 4, name);
      if (!v) return v.error();
      return be32(*v);
    };
    switch (type) {
      case NFULA_PACKET_HDR: {
        auto v = sized(value, sizeof(nfulnl_msg_packet_hdr), "NFULA_PACKET_HDR");
        if (!v) return v.error();
        p.hwProtocol = be16(*v);
        p.hook = (*v)[2];
        break;
      }
      case NFULA_PREFIX: {
        const auto* begin = reinterpret_cast<const char*>(value.data());
        const void* nul = std::memchr(begin, 0, value.size());
        p.prefix = std::string(begin, nul ? static_cast<const char*>(nul) : begin + value.size());
        break;
      }
      case NFULA_PAYLOAD:
        p.payload.assign(value.begin(), value.end());
        p.hasPayload = true;
        break;
      case NFULA_UID: {
        auto v = u32("NFULA_UID");
        if (!v) return v.error();
        p.uid = *v;
        break;
      }
      case NFULA_GID: {
        auto v = u32("NFULA_GID");
        if (!v) return v.error();
        p.gid = *v;
        break;
      }
      case NFULA_SEQ: {
        auto v = u32("NFULA_SEQ");
        if (!v) return v.error();
        p.seq = *v;
        break;
      }
      case NFULA_MARK: {
        auto v = u32("NFULA_MARK");
        if (!v) return v.error();
        p.mark = *v;
        break;
      }
      case NFULA_IFINDEX_OUTDEV: {
        auto v = u32("NFULA_IFINDEX_OUTDEV");
        if (!v) return v.error();
        p.outputInterface = *v;
        break;
      }
      case NFULA_TIMESTAMP:
      case NFULA_IFINDEX_INDEV:
      case NFULA_IFINDEX_PHYSINDEV:
      case NFULA_IFINDEX_PHYSOUTDEV:
      case NFULA_HWADDR:
      case NFULA_SEQ_GLOBAL:
      case NFULA_HWTYPE:
      case NFULA_HWHEADER:
      case NFULA_HWLEN:
      case NFULA_CT:
      case NFULA_CT_INFO:
      case NFULA_VLAN:
      case NFULA_L2HDR:
        break;  // known, not needed
      default:
        ++p.unknownAttributes;
        break;
    }
  }
  return p;
}

Datagram parseDatagram(std::span<const std::uint8_t> bytes) {
  Datagram d;
  std::span<const std::uint8_t> rest = bytes;
  while (!rest.empty()) {
    if (rest.size() < kNlmsgHeader) {
      d.errors.push_back(
          invalid("netlink header cut short: " + std::to_string(rest.size()) + " bytes left"));
      break;
    }
    const std::uint32_t length = host32(rest, 0);
    const std::uint16_t type = host16(rest, 4);
    const std::uint32_t seq = host32(rest, 8);
    if (length < kNlmsgHeader || length > rest.size()) {
      d.errors.push_back(invalid("netlink message claims " + std::to_string(length) + " bytes, " +
                                 std::to_string(rest.size()) + " left"));
      break;  // no framing to resynchronise on
    }
    const std::span<const std::uint8_t> body = rest.subspan(kNlmsgHeader, length - kNlmsgHeader);
    rest = rest.subspan(std::min<std::size_t>(rest.size(), align4(length)));
    switch (type) {
      case kPacketType: {
        auto packet = parsePacketMessage(body);
        if (packet) {
          d.packets.push_back(std::move(*packet));
        } else {
          d.errors.push_back(packet.error());
        }
        break;
      }
      case NLMSG_ERROR: {
        if (body.size() < sizeof(std::int32_t)) {
          d.errors.push_back(
              invalid("netlink error message of " + std::to_string(body.size()) + " bytes"));
          break;
        }
        std::int32_t error;
        std::memcpy(&error, body.data(), sizeof error);
        // The error message echoes the request's header, with its seq.
        const std::uint32_t requestSeq =
            body.size() >= 4 + kNlmsgHeader ? host32(body, 4 + 8) : seq;
        d.acks.push_back(Ack{requestSeq, error < 0 ? -error : error});
        break;
      }
      default:
        ++d.ignoredMessages;
        break;
    }
  }
  return d;
}

std::vector<std::uint8_t> bindRequest(const Config& c, std::uint32_t seq) {
  Builder b(kConfigType, c.group, seq);
  const std::uint8_t command[1] = {NFULNL_CFG_CMD_BIND};
  b.attr(NFULA_CFG_CMD, command);
  const std::uint8_t mode[6] = {static_cast<std::uint8_t>(c.copyRange >> 24),
                                static_cast<std::uint8_t>(c.copyRange >> 16),
                                static_cast<std::uint8_t>(c.copyRange >> 8),
                                static_cast<std::uint8_t>(c.copyRange),
                                NFULNL_COPY_PACKET,
                                0};
  b.attr(NFULA_CFG_MODE, mode);
  const std::uint8_t flags[2] = {static_cast<std::uint8_t>(c.flags >> 8),
                                 static_cast<std::uint8_t>(c.flags)};
  b.attr(NFULA_CFG_FLAGS, flags);
  b.attrBe32(NFULA_CFG_QTHRESH, c.queueThreshold);
  b.attrBe32(NFULA_CFG_TIMEOUT, c.timeout);
  return b.finish();
}

std::vector<std::uint8_t> unbindRequest(std::uint16_t group, std::uint32_t seq) {
  Builder b(kConfigType, group, seq);
  const std::uint8_t command[1] = {NFULNL_CFG_CMD_UNBIND};
  b.attr(NFULA_CFG_CMD, command);
  return b.finish();
}

}  // namespace lens::net::nflog
