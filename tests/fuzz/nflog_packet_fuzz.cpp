// libFuzzer target: the NFLOG message and packet parsers, which read what the
// kernel copies from packets a sandboxed workload sends (lens-lockdown watch).
//
// The input is read as a netlink datagram, as the body of one NFLOG packet
// message and as an IP packet, then each packet found is turned into an
// audit event. Besides crashes and sanitizer reports, the target aborts when
// an invariant breaks:
//   - a parsed packet's payload is no larger than the input;
//   - ports are only reported for TCP and UDP, never with a later fragment;
//   - every audit event renders as one line of JSON.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "libcommon/audit/sink.h"
#include "libcommon/lockdown/refusal_auditor.h"
#include "libcommon/net/ip_packet.h"
#include "libcommon/net/nflog_message.h"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

void checkPacket(const lens::net::IpPacket& p) {
  const bool transport = p.protocol == 6 || p.protocol == 17;
  check(!p.dstPort || transport, "ports for a protocol without them");
  check(!p.dstPort || !p.laterFragment, "ports in a later fragment");
  check(p.srcPort.has_value() == p.dstPort.has_value(), "one port without the other");
  check(p.extensionHeaders.size() <= lens::net::kMaxExtensionHeaders,
        "extension header walk unbounded");
}

void checkEvent(const lens::net::nflog::Packet& packet) {
  const std::string line = lens::lockdown::refusalEvent(packet).toJson();
  check(!line.empty() && line.front() == '{' && line.back() == '}', "event is not a JSON object");
  check(line.find('\n') == std::string::npos, "event spans lines");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);

  const auto datagram = lens::net::nflog::parseDatagram(input);
  for (const auto& packet : datagram.packets) {
    check(packet.payload.size() <= size, "payload larger than the input");
    checkEvent(packet);
  }

  if (auto packet = lens::net::nflog::parsePacketMessage(input)) {
    check(packet->payload.size() <= size, "payload larger than the input");
    checkEvent(*packet);
  }

  if (auto ip = lens::net::parseIpPacket(input)) checkPacket(*ip);

  // The auditor over the same bytes: sequence gaps, counters and stats.
  lens::audit::RecordingSink sink;
  lens::lockdown::RefusalAuditor auditor(sink);
  auditor.onDatagram(input);
  auditor.emitSummaries(true);
  check(sink.size() == auditor.stats().events, "events written and counted differ");
  return 0;
}
