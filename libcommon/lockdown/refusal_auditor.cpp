#include "libcommon/lockdown/refusal_auditor.h"

#include "libcommon/json/json_writer.h"
#include "libcommon/log/logging.h"

namespace lens::lockdown {

namespace {

std::shared_ptr<spdlog::logger> logger() { return log::get("lockdown"); }

std::string upper(std::string text) {
  for (char& c : text) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return text;
}

}  // namespace

audit::Event refusalEvent(const net::nflog::Packet& packet) {
  const Refusal* refusal = packet.prefix ? refusalForPrefix(*packet.prefix) : nullptr;
  const std::string_view reason = refusal ? refusal->reason : "kernel-logged";
  auto parsed =
      packet.hasPayload
          ? net::parseIpPacket(packet.payload)
          : Result<net::IpPacket>(makeError(ErrorCode::kInvalidInput, "no packet payload"));
  if (!parsed) {
    audit::Event event(RefusalAuditor::kSource, "PACKET unparsed");
    event.outcome(audit::Outcome::kError)
        .meta("reason", reason)
        .meta("error", parsed.error().message);
    if (!refusal && packet.prefix) event.meta("prefix", *packet.prefix);
    if (packet.uid) event.meta("uid", *packet.uid);
    if (packet.gid) event.meta("gid", *packet.gid);
    return event;
  }
  const net::IpPacket& ip = *parsed;
  const std::string protocol = net::protocolName(ip.protocol);
  audit::Event event(RefusalAuditor::kSource,
                     upper(protocol) + " " + net::endpointText(ip.dst, ip.dstPort));
  event.host(ip.dst.toString()).outcome(audit::Outcome::kFailure).meta("reason", reason);
  if (!refusal && packet.prefix) event.meta("prefix", *packet.prefix);
  event.meta("protocol", protocol);
  if (packet.uid) event.meta("uid", *packet.uid);
  if (packet.gid) event.meta("gid", *packet.gid);
  if (ip.laterFragment) event.meta("fragment", true);
  if (ip.truncated) event.meta("truncated", true);
  if (ip.opaque) event.meta("opaque", true);
  if (!ip.extensionHeaders.empty()) {
    std::string names;
    for (std::string_view name : ip.extensionHeaders)
      names += (names.empty() ? "" : ",") + std::string(name);
    event.meta("ipv6_extension_headers", names);
  }
  event.src(audit::Endpoint{ip.src.toString(), ip.srcPort.value_or(0)});
  return event;
}

RefusalAuditor::RefusalAuditor(audit::Sink& sink, Clock clock)
    : sink_(sink),
      clock_(clock ? std::move(clock) : [] { return std::chrono::steady_clock::now(); }) {}

void RefusalAuditor::write(const audit::Event& event) {
  auto written = sink_.write(event);
  if (written) {
    ++stats_.events;
    return;
  }
  if (stats_.sinkErrors++ == 0) logger()->warn("audit sink: {}", written.error().message);
}

void RefusalAuditor::onDatagram(std::span<const std::uint8_t> bytes) {
  ++stats_.datagrams;
  activity_ = true;
  const net::nflog::Datagram d = net::nflog::parseDatagram(bytes);
  for (const Error& e : d.errors) {
    if (stats_.parseErrors++ < 10) logger()->warn("unparsable NFLOG message: {}", e.message);
  }
  for (const net::nflog::Packet& p : d.packets) onPacket(p);
  emitSummaries();
}

void RefusalAuditor::onPacket(const net::nflog::Packet& packet) {
  ++stats_.packets;
  if (packet.seq) {
    if (nextSeq_ && *packet.seq > *nextSeq_) {
      const std::uint64_t gap = *packet.seq - *nextSeq_;
      stats_.lost += gap;
      pending_[kLostSlot].packets += gap;
      pending_[kLostSlot].total += gap;
    }
    // A sequence number below the expected one: the counter wrapped or the
    // instance is new; continue from it.
    nextSeq_ = *packet.seq + 1;
  }
  const audit::Event event = refusalEvent(packet);
  if (event.outcome() == audit::Outcome::kError) ++stats_.parseErrors;
  write(event);
}

void RefusalAuditor::onOverrun() {
  ++stats_.overruns;
  activity_ = true;
  if (stats_.overruns == 1) {
    logger()->warn(
        "the NFLOG socket overran (ENOBUFS): the kernel dropped log messages; they are counted as "
        "lost");
  }
}

void RefusalAuditor::onCounters(const RefusalCounters& counters) {
  ++stats_.counterReads;
  activity_ = false;
  const bool first = !counted_;
  counted_ = true;
  for (std::size_t i = 0; i < counters.size(); ++i) {
    Accounted& a = accounted_[i];
    const RefusalCount& now = counters[i];
    if (now.refused < a.refused) a = Accounted{};  // applied again: new counters from zero
    a.refused = now.refused;
    // A reading between the log rule's counter and the reject's may see one
    // more logged than refused: what was accounted never goes backwards.
    const std::uint64_t notLogged = now.notLogged();
    if (notLogged <= a.notLogged) continue;
    const std::uint64_t delta = notLogged - a.notLogged;
    a.notLogged = notLogged;
    if (first) continue;  // refused before the watcher started: the baseline
    pending_[i].packets += delta;
    pending_[i].total += delta;
    stats_.kernelSuppressed += delta;
    activity_ = true;  // a flood may go on: read again soon
  }
  emitSummaries();
}

void RefusalAuditor::emitSummaries(bool force) {
  const auto now = clock_();
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    Pending& p = pending_[i];
    if (p.packets == 0) continue;
    if (!force && p.lastReport && now - *p.lastReport < kSummaryInterval) continue;
    const bool lost = i == kLostSlot;
    const std::string_view reason = lost ? "lost" : kRefusals[i].reason;
    audit::Event event(kSource, "SUPPRESSED " + std::string(reason));
    event.outcome(audit::Outcome::kFailure)
        .meta("reason", reason)
        .meta("cause", lost ? "socket-overrun" : "kernel-rate-limit")
        .meta("packets", p.packets)
        .meta("total", p.total);
    write(event);
    p.packets = 0;
    p.lastReport = now;
  }
}

std::string RefusalAuditor::statsJson() const {
  json::ObjectWriter w;
  w.field("packets", stats_.packets)
      .field("events", stats_.events)
      .field("parse_errors", stats_.parseErrors)
      .field("kernel_suppressed", stats_.kernelSuppressed)
      .field("overruns", stats_.overruns)
      .field("lost", stats_.lost)
      .field("datagrams", stats_.datagrams)
      .field("sink_errors", stats_.sinkErrors)
      .field("counter_reads", stats_.counterReads);
  std::uint64_t pending = 0;
  for (const Pending& p : pending_) pending += p.packets;
  w.field("suppressed_pending", pending);
  return w.finish();
}

}  // namespace lens::lockdown
