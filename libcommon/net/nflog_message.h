#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "libcommon/util/result.h"

namespace lens::net::nflog {

// The messages of nfnetlink_log (NFLOG), the kernel's per-network-namespace
// packet log over NETLINK_NETFILTER: the configuration requests we send and
// the packet messages the kernel sends back. Parsing is for untrusted bytes:
// every length is checked against what is left, nothing is read outside the
// datagram. Written by hand like net/policy_routing.cpp (no libnetfilter_log).

// One logged packet (NFULNL_MSG_PACKET).
struct Packet {
  std::uint8_t family = 0;  // nfgenmsg family: NFPROTO_IPV4 (2) or NFPROTO_IPV6 (10)
  std::uint16_t group = 0;  // the NFLOG group (res_id)
  std::optional<std::uint16_t> hwProtocol;  // NFULA_PACKET_HDR
  std::optional<std::uint8_t> hook;
  std::optional<std::string> prefix;  // NFULA_PREFIX, up to its NUL
  std::optional<std::uint32_t> uid;   // the sending socket's file owner, when there is one
  std::optional<std::uint32_t> gid;
  std::optional<std::uint32_t> seq;  // instance-local sequence number (NFULNL_CFG_F_SEQ)
  std::optional<std::uint32_t> mark;
  std::optional<std::uint32_t> outputInterface;
  std::vector<std::uint8_t> payload;  // the packet from its network header, cut at the copy range
  bool hasPayload = false;
  std::size_t unknownAttributes = 0;  // attributes skipped (newer kernels add some)
};

// An acknowledgement or error (NLMSG_ERROR) for a request we sent.
struct Ack {
  std::uint32_t seq = 0;
  int error = 0;  // 0 = ok, otherwise a positive errno
};

// What one datagram from the socket held. A message that cannot be parsed
// is an error in `errors` (with what was wrong); the messages after it are
// still read when the netlink framing allows, otherwise parsing stops there.
struct Datagram {
  std::vector<Packet> packets;
  std::vector<Ack> acks;
  std::vector<Error> errors;
  std::size_t ignoredMessages = 0;  // NLMSG_NOOP, NLMSG_DONE and other subsystems' types
};

[[nodiscard]] Datagram parseDatagram(std::span<const std::uint8_t> bytes);

// Parses the body of one NFULNL_MSG_PACKET message: the nfgenmsg header and
// the attributes (exposed for tests and the fuzzer).
[[nodiscard]] Result<Packet> parsePacketMessage(std::span<const std::uint8_t> body);

// Configuration of a group's instance (NFULNL_MSG_CONFIG).
struct Config {
  std::uint16_t group = 0;
  std::uint32_t copyRange = 256;     // bytes of each packet copied (headers only)
  std::uint16_t flags = 0x0001;      // NFULNL_CFG_F_SEQ: numbered, so losses show as gaps
  std::uint32_t queueThreshold = 1;  // send every packet at once, not in batches
  std::uint32_t timeout = 0;         // hundredths of a second a batch may wait
};

// A request binding the group (NFULNL_CFG_CMD_BIND) and configuring it,
// with NLM_F_ACK, as one netlink message.
[[nodiscard]] std::vector<std::uint8_t> bindRequest(const Config& config, std::uint32_t seq);
// A request unbinding the group.
[[nodiscard]] std::vector<std::uint8_t> unbindRequest(std::uint16_t group, std::uint32_t seq);

}  // namespace lens::net::nflog
