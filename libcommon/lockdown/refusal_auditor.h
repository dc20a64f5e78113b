#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "libcommon/audit/event.h"
#include "libcommon/audit/sink.h"
#include "libcommon/lockdown/refusal_counters.h"
#include "libcommon/net/ip_packet.h"
#include "libcommon/net/nflog_message.h"

namespace lens::lockdown {

// The audit event of one packet the cage refused and logged to NFLOG:
//   action  "UDP 10.0.0.7:9000", "TCP [2001:db8::1]:853" ("PROTO address"
//           for other protocols and later fragments)
//   host    the destination address
//   result  failure ("error" when the packet could not be parsed)
//   metadata.reason    by the log prefix: kernel-refused, dot-refused,
//                      quic-refused (kernel-logged for a foreign prefix,
//                      which metadata.prefix then names)
//   metadata.protocol  tcp, udp, ipv6-icmp, ...
//   metadata.uid/gid   the sending socket's owner, when the packet had one
//   src_endpoint       the packet's source address and port
[[nodiscard]] audit::Event refusalEvent(const net::nflog::Packet& packet);

// Turns what the NFLOG socket delivers into audit events and accounts for
// what it does not deliver:
//  - each logged packet is one event (refusalEvent);
//  - refused packets the kernel's rate limit kept from the log (the cage's
//    counters: refused - logged) and messages lost to a socket overrun (gaps
//    in the NFLOG sequence numbers) are reported as counted events:
//      action "SUPPRESSED <reason>", result failure, metadata {reason,
//      cause: kernel-rate-limit | socket-overrun, packets: N since the last
//      report, total: N since the watcher started}
//    the first one at once, further ones of the same reason at most every
//    kSummaryInterval (longer than the audit sink's rate-limit window, so
//    the sink never folds them), and whatever is pending on flush().
class RefusalAuditor {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  static constexpr std::chrono::steady_clock::duration kSummaryInterval = std::chrono::seconds(11);
  static constexpr std::string_view kSource = "lens-lockdown";

  struct Stats {
    std::uint64_t datagrams = 0;
    std::uint64_t packets = 0;           // logged packets received
    std::uint64_t events = 0;            // audit events written (packets and summaries)
    std::uint64_t parseErrors = 0;       // messages or packets that could not be parsed
    std::uint64_t kernelSuppressed = 0;  // refused, not logged (rate limit), since the start
    std::uint64_t overruns = 0;          // ENOBUFS from the socket
    std::uint64_t lost = 0;              // messages lost (sequence gaps)
    std::uint64_t sinkErrors = 0;        // events the sink refused
    std::uint64_t counterReads = 0;
  };

  explicit RefusalAuditor(audit::Sink& sink, Clock clock = {});

  // One datagram read from the socket.
  void onDatagram(std::span<const std::uint8_t> bytes);
  // The socket overran (ENOBUFS); the loss shows as a sequence gap.
  void onOverrun();
  // The cage's counters. The first reading is the baseline (what was refused
  // before the watcher started is not reported); a counter that went down
  // means the cage was applied again, and counting restarts from zero.
  void onCounters(const RefusalCounters& counters);
  // No counters could be read at the start (no cage yet): the first reading
  // counts from zero instead of being the baseline.
  void noCageAtStart() { counted_ = true; }
  // Whether reading the counters may find something new: packets arrived or
  // a summary is pending since the last reading.
  [[nodiscard]] bool wantsCounters() const { return activity_; }
  // Emits the summaries that are due (all pending ones with `force`).
  void emitSummaries(bool force = false);

  [[nodiscard]] const Stats& stats() const { return stats_; }
  // {"packets":N,"events":N,"parse_errors":N,"kernel_suppressed":N,"overruns":N,"lost":N,...}
  [[nodiscard]] std::string statsJson() const;

 private:
  struct Pending {
    std::uint64_t packets = 0;
    std::uint64_t total = 0;
    std::optional<std::chrono::steady_clock::time_point> lastReport;
  };
  static constexpr std::size_t kLostSlot = std::size(kRefusals);  // socket-overrun summaries

  void write(const audit::Event& event);
  void onPacket(const net::nflog::Packet& packet);

  audit::Sink& sink_;
  Clock clock_;
  Stats stats_;
  bool activity_ = true;
  struct Accounted {
    std::uint64_t refused = 0;    // the last reading
    std::uint64_t notLogged = 0;  // refused - logged, already accounted for
  };
  bool counted_ = false;
  std::array<Accounted, std::size(kRefusals)> accounted_{};
  std::optional<std::uint32_t> nextSeq_ = 0;  // a fresh instance numbers from 0
  std::array<Pending, std::size(kRefusals) + 1> pending_{};
};

}  // namespace lens::lockdown
