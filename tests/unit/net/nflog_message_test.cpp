#include "libcommon/net/nflog_message.h"

#include <catch2/catch.hpp>

#include "tests/unit/net/nflog_test_packets.h"

using lens::net::nflog::parseDatagram;
using namespace lens::test;

TEST_CASE("an NFLOG packet message gives prefix, uid, gid, sequence and payload", "[net][nflog]") {
  const auto d = parseDatagram(udpRefusal("lens:quic: ", 41));
  REQUIRE(d.errors.empty());
  REQUIRE(d.packets.size() == 1);
  const auto& p = d.packets[0];
  CHECK(p.family == 2);
  CHECK(p.group == 3129);
  CHECK(p.prefix == "lens:quic: ");
  CHECK(p.uid == 1000u);
  CHECK(p.gid == 1000u);
  CHECK(p.seq == 41u);
  CHECK(p.mark == 0u);
  CHECK(p.outputInterface == 2u);
  CHECK(p.hwProtocol == 0x0800);
  CHECK(p.hook == 3);
  CHECK(p.hasPayload);
  CHECK(p.payload.size() == 28);
  CHECK(p.unknownAttributes == 0);
}

TEST_CASE("several messages in one datagram, acks and foreign types", "[net][nflog]") {
  // An ack for request 7 (error 0) and an EBUSY error for request 8.
  const auto ack = [](std::int32_t error, std::uint32_t seq) {
    Bytes b(16 + 4 + 16, 0);
    const std::uint32_t length = static_cast<std::uint32_t>(b.size());
    const std::uint16_t type = NLMSG_ERROR;
    std::memcpy(b.data(), &length, 4);
    std::memcpy(b.data() + 4, &type, 2);
    std::memcpy(b.data() + 16, &error, 4);
    std::memcpy(b.data() + 20 + 8, &seq, 4);
    return b;
  };
  const Bytes done = NflogMessage(0, 0, NLMSG_DONE).bytes();
  const auto d = parseDatagram(concat({udpRefusal("lens:deny: ", 0), ack(0, 7),
                                       udpRefusal("lens:dot: ", 1), ack(-EBUSY, 8), done}));
  CHECK(d.errors.empty());
  REQUIRE(d.packets.size() == 2);
  CHECK(d.packets[1].prefix == "lens:dot: ");
  REQUIRE(d.acks.size() == 2);
  CHECK(d.acks[0].seq == 7);
  CHECK(d.acks[0].error == 0);
  CHECK(d.acks[1].seq == 8);
  CHECK(d.acks[1].error == EBUSY);
  CHECK(d.ignoredMessages == 1);
}

TEST_CASE("unknown attributes are counted and skipped, flags in the type are ignored",
          "[net][nflog]") {
  const Bytes b = NflogMessage(10)
                      .attr(200, Bytes{1, 2, 3})
                      .prefix("lens:deny: ")
                      .be32(NFULA_UID | NLA_F_NET_BYTEORDER, 7)
                      .attr(NFULA_VLAN | NLA_F_NESTED, Bytes(8, 0))
                      .bytes();
  const auto d = parseDatagram(b);
  REQUIRE(d.packets.size() == 1);
  CHECK(d.packets[0].unknownAttributes == 1);
  CHECK(d.packets[0].uid == 7u);
  CHECK(d.packets[0].prefix == "lens:deny: ");
  CHECK_FALSE(d.packets[0].hasPayload);
}

TEST_CASE("a prefix without its NUL ends at the attribute", "[net][nflog]") {
  const Bytes b = NflogMessage().attr(NFULA_PREFIX, Bytes{'a', 'b'}).bytes();
  const auto d = parseDatagram(b);
  REQUIRE(d.packets.size() == 1);
  CHECK(d.packets[0].prefix == "ab");
}

TEST_CASE("bogus lengths are errors, never reads past the end", "[net][nflog]") {
  SECTION("a netlink length beyond the datagram") {
    Bytes b = udpRefusal();
    const std::uint32_t length = static_cast<std::uint32_t>(b.size() + 4);
    std::memcpy(b.data(), &length, 4);
    const auto d = parseDatagram(b);
    REQUIRE(d.errors.size() == 1);
    CHECK(d.errors[0].message == "netlink message claims " + std::to_string(length) + " bytes, " +
                                     std::to_string(b.size()) + " left");
    CHECK(d.packets.empty());
  }
  SECTION("a netlink length below its header") {
    Bytes b = udpRefusal();
    const std::uint32_t length = 8;
    std::memcpy(b.data(), &length, 4);
    CHECK(parseDatagram(b).errors.size() == 1);
  }
  SECTION("an attribute longer than the message") {
    Bytes b = NflogMessage().prefix("lens:deny: ").bytes();
    const std::uint16_t length = 200;
    std::memcpy(b.data() + 20, &length, 2);
    const auto d = parseDatagram(b);
    REQUIRE(d.errors.size() == 1);
    CHECK(d.errors[0].message == "NFLOG attribute 10 claims 200 bytes, 16 left");
  }
  SECTION("an attribute length below its header") {
    Bytes b = NflogMessage().prefix("x").bytes();
    const std::uint16_t length = 2;
    std::memcpy(b.data() + 20, &length, 2);
    CHECK(parseDatagram(b).errors.size() == 1);
  }
  SECTION("a short uid") {
    const Bytes b = NflogMessage().attr(NFULA_UID, Bytes{0, 1}).bytes();
    const auto d = parseDatagram(b);
    REQUIRE(d.errors.size() == 1);
    CHECK(d.errors[0].message == "NFULA_UID attribute of 2 bytes, expected 4");
  }
  SECTION("a message without the nfgenmsg header") {
    Bytes b(16, 0);
    const std::uint32_t length = 16;
    const std::uint16_t type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
    std::memcpy(b.data(), &length, 4);
    std::memcpy(b.data() + 4, &type, 2);
    CHECK(parseDatagram(b).errors.size() == 1);
  }
  SECTION("a datagram cut inside the netlink header") {
    const Bytes b = udpRefusal();
    CHECK(parseDatagram(Bytes(b.begin(), b.begin() + 10)).errors.size() == 1);
  }
  SECTION("every cut of a valid message") {
    const Bytes b = concat({udpRefusal(), udpRefusal()});
    for (std::size_t n = 0; n < b.size(); ++n) {
      const auto d = parseDatagram(Bytes(b.begin(), b.begin() + static_cast<long>(n)));
      CHECK(d.packets.size() + d.errors.size() <= 2);
    }
  }
}

TEST_CASE("the bind request carries the group, copy mode and range, flags and threshold",
          "[net][nflog]") {
  lens::net::nflog::Config c;
  c.group = 0x1234;
  c.copyRange = 256;
  const Bytes b = lens::net::nflog::bindRequest(c, 9);
  std::uint32_t length;
  std::uint16_t type, flags;
  std::uint32_t seq;
  std::memcpy(&length, b.data(), 4);
  std::memcpy(&type, b.data() + 4, 2);
  std::memcpy(&flags, b.data() + 6, 2);
  std::memcpy(&seq, b.data() + 8, 4);
  CHECK(length == b.size());
  CHECK(type == ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG));
  CHECK(flags == (NLM_F_REQUEST | NLM_F_ACK));
  CHECK(seq == 9);
  CHECK(b[18] == 0x12);  // res_id, network order
  CHECK(b[19] == 0x34);
  // cmd: len 5, type NFULA_CFG_CMD, BIND
  CHECK(b[20] == 5);
  CHECK(b[22] == NFULA_CFG_CMD);
  CHECK(b[24] == NFULNL_CFG_CMD_BIND);
  // mode: len 10, copy range 256 big-endian, COPY_PACKET
  CHECK(b[28] == 10);
  CHECK(b[30] == NFULA_CFG_MODE);
  CHECK(Bytes(b.begin() + 32, b.begin() + 38) == Bytes{0, 0, 1, 0, NFULNL_COPY_PACKET, 0});
  // flags: F_SEQ, big-endian
  CHECK(b[42] == NFULA_CFG_FLAGS);
  CHECK(b[44] == 0);
  CHECK(b[45] == NFULNL_CFG_F_SEQ);
  CHECK(b.size() == 64);
}
