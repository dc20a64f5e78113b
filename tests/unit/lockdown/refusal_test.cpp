#include <catch2/catch.hpp>

#include <string>

#include "libcommon/lockdown/refusal_auditor.h"
#include "libcommon/lockdown/refusal_counters.h"
#include "libcommon/lockdown/ruleset.h"
#include "tests/unit/net/nflog_test_packets.h"

using lens::lockdown::parseRefusalCounters;
using lens::lockdown::RefusalAuditor;
using lens::lockdown::RefusalCounters;
using namespace lens::test;

namespace {

// `list chain inet lens_sandbox filter_cage` as nft prints it.
std::string listing(int dotRefused, int dotLogged, int quicRefused, int quicLogged, int denyRefused,
                    int denyLogged, int group = 3129) {
  const auto n = [](int v) { return std::to_string(v); };
  const std::string g = std::to_string(group);
  return "table inet lens_sandbox {\n"
         "\tchain filter_cage {\n"
         "\t\toifname \"lo\" accept\n"
         "\t\tmeta l4proto != udp ct state established,related accept\n"
         "\t\ttcp dport 853 limit rate 200/second burst 400 packets counter packets " +
         n(dotLogged) + " bytes 60 log prefix \"lens:dot: \" group " + g +
         "\n"
         "\t\ttcp dport 853 counter packets " +
         n(dotRefused) +
         " bytes 60 reject\n"
         "\t\tudp dport 443 limit rate 200/second burst 400 packets counter packets " +
         n(quicLogged) + " bytes 0 log prefix \"lens:quic: \" group " + g +
         "\n"
         "\t\tudp dport 443 counter packets " +
         n(quicRefused) +
         " bytes 0 reject\n"
         "\t\tlimit rate 200/second burst 400 packets counter packets " +
         n(denyLogged) + " bytes 0 log prefix \"lens:deny: \" group " + g +
         "\n"
         "\t\tcounter packets " +
         n(denyRefused) +
         " bytes 0 reject\n"
         "\t}\n"
         "}\n";
}

RefusalCounters counters(int dotRefused, int dotLogged, int quicRefused, int quicLogged,
                         int denyRefused, int denyLogged) {
  auto c = parseRefusalCounters(
      listing(dotRefused, dotLogged, quicRefused, quicLogged, denyRefused, denyLogged));
  REQUIRE(c.ok());
  return *c;
}

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  RefusalAuditor::Clock fn() {
    return [this] { return now; };
  }
};

}  // namespace

TEST_CASE("the cage's counters are read per refusal reason", "[lockdown][nflog]") {
  auto c = parseRefusalCounters(listing(3, 2, 5, 5, 1000, 400, 77));
  REQUIRE(c.ok());
  CHECK((*c)[0].refused == 3);
  CHECK((*c)[0].logged == 2);
  CHECK((*c)[0].notLogged() == 1);
  CHECK((*c)[1].notLogged() == 0);
  CHECK((*c)[2].refused == 1000);
  CHECK((*c)[2].notLogged() == 600);
  CHECK((*c)[2].group == 77);
}

TEST_CASE("a cage without the counted log rules is named", "[lockdown][nflog]") {
  const std::string old =
      "\t\tlimit rate 5/second burst 10 packets log prefix \"lens:deny: \" level info\n"
      "\t\tcounter packets 4 bytes 0 reject\n";
  auto c = parseRefusalCounters(old);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message ==
        "the installed cage has no counted NFLOG rule with prefix \"lens:dot: \" (applied by an "
        "older "
        "lens-lockdown? apply it again)");
}

TEST_CASE("the rendered cage logs each refusal to the group and counts it", "[lockdown][nflog]") {
  lens::lockdown::Config config;
  config.logGroup = 42;
  const std::string script = lens::lockdown::renderScript(config, {});
  CHECK(script.find("tcp dport 853 limit rate 200/second burst 400 packets counter log prefix "
                    "\"lens:dot: \" group "
                    "42\n") != std::string::npos);
  CHECK(script.find("udp dport 443 limit rate 200/second burst 400 packets counter log prefix "
                    "\"lens:quic: \" "
                    "group 42\n") != std::string::npos);
  CHECK(script.find("limit rate 200/second burst 400 packets counter log prefix \"lens:deny: \" "
                    "group 42\n") != std::string::npos);
  CHECK(script.find("level") == std::string::npos);  // syslog logging does not work in a namespace
  // The listing of that chain, as the kernel prints it, is what watch reads.
  CHECK(lens::lockdown::refusalForPrefix("lens:dot: ")->reason == "dot-refused");
  CHECK(lens::lockdown::refusalForPrefix("lens:quic: ")->reason == "quic-refused");
  CHECK(lens::lockdown::refusalForPrefix("lens:deny: ")->reason == "kernel-refused");
  CHECK(lens::lockdown::refusalForPrefix("other") == nullptr);
}

TEST_CASE("each logged packet becomes one audit event", "[lockdown][nflog]") {
  lens::audit::RecordingSink sink;
  RefusalAuditor auditor(sink);
  auditor.onDatagram(udpRefusal("lens:deny: ", 0));
  const Bytes v6 = NflogMessage(10)
                       .payload(ipv6(fd99(1), fd99(2), 6, ports(50001, 853, 20)))
                       .prefix("lens:dot: ")
                       .be32(NFULA_UID, 0)
                       .be32(NFULA_GID, 0)
                       .be32(NFULA_SEQ, 1)
                       .bytes();
  auditor.onDatagram(v6);
  const Bytes quic = NflogMessage(2)
                         .payload(ipv4({10, 199, 0, 1}, {10, 199, 0, 3}, 17, ports(40001, 443, 8)))
                         .prefix("lens:quic: ")
                         .be32(NFULA_SEQ, 2)
                         .bytes();
  auditor.onDatagram(quic);
  const auto events = sink.events();
  REQUIRE(events.size() == 3);

  const auto& udp = events[0];
  CHECK(udp.source() == "lens-lockdown");
  CHECK(udp.action() == "UDP 10.199.0.2:9000");
  CHECK(udp.host() == "10.199.0.2");
  CHECK(udp.outcome() == lens::audit::Outcome::kFailure);
  CHECK(udp.reason() == "kernel-refused");
  CHECK(udp.metaString("protocol") == "udp");
  REQUIRE(udp.src());
  CHECK(udp.src()->ip == "10.199.0.1");
  CHECK(udp.src()->port == 40000);
  const std::string json = udp.toJson();
  CHECK(
      json.find(R"("metadata":{"reason":"kernel-refused","protocol":"udp","uid":1000,"gid":1000},)"
                R"("src_endpoint":{"ip":"10.199.0.1","port":40000}})") != std::string::npos);

  CHECK(events[1].action() == "TCP [fd99::2]:853");
  CHECK(events[1].reason() == "dot-refused");
  CHECK(events[1].src()->ip == "fd99::1");
  CHECK(events[1].toJson().find(R"("uid":0,"gid":0)") != std::string::npos);

  CHECK(events[2].action() == "UDP 10.199.0.3:443");
  CHECK(events[2].reason() == "quic-refused");
  CHECK(events[2].findMeta("uid") == nullptr);  // no socket owner known

  CHECK(auditor.stats().packets == 3);
  CHECK(auditor.stats().events == 3);
  CHECK(auditor.stats().lost == 0);
}

TEST_CASE("packets that cannot be parsed are error events, broken messages are counted",
          "[lockdown][nflog]") {
  lens::audit::RecordingSink sink;
  RefusalAuditor auditor(sink);
  auditor.onDatagram(
      NflogMessage().payload(Bytes{0x45, 0, 0}).prefix("lens:deny: ").be32(NFULA_SEQ, 0).bytes());
  auditor.onDatagram(NflogMessage()
                         .prefix("someone else: ")
                         .payload(ipv4({1, 2, 3, 4}, {5, 6, 7, 8}, 1, Bytes(8, 0)))
                         .bytes());
  Bytes broken = udpRefusal();
  broken[0] = 0xff;  // length beyond the datagram
  auditor.onDatagram(broken);
  const auto events = sink.events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].action() == "PACKET unparsed");
  CHECK(events[0].outcome() == lens::audit::Outcome::kError);
  CHECK(events[0].reason() == "kernel-refused");
  CHECK(events[0].metaString("error") == "IPv4 header cut short: 3 of 20 bytes");
  CHECK(events[1].action() == "ICMP 5.6.7.8");
  CHECK(events[1].reason() == "kernel-logged");
  CHECK(events[1].metaString("prefix") == "someone else: ");
  CHECK(auditor.stats().parseErrors == 2);
  CHECK(auditor.stats().packets == 2);
}

TEST_CASE("refusals the kernel's rate limit kept from the log are reported with their count",
          "[lockdown][nflog]") {
  lens::audit::RecordingSink sink;
  FakeClock clock;
  RefusalAuditor auditor(sink, clock.fn());
  auditor.onCounters(counters(0, 0, 0, 0, 50, 10));  // before the watcher: the baseline
  CHECK(sink.size() == 0);
  auditor.onCounters(counters(0, 0, 0, 0, 1050, 410));  // 600 more not logged
  REQUIRE(sink.size() == 1);
  auto e = sink.events()[0];
  CHECK(e.action() == "SUPPRESSED kernel-refused");
  CHECK(e.outcome() == lens::audit::Outcome::kFailure);
  CHECK(e.reason() == "kernel-refused");
  CHECK(e.metaString("cause") == "kernel-rate-limit");
  CHECK(e.toJson().find(R"("packets":600,"total":600)") != std::string::npos);
  CHECK(auditor.stats().kernelSuppressed == 600);

  // More within the summary interval waits; after it, one event with the sum.
  clock.now += std::chrono::seconds(1);
  auditor.onCounters(counters(7, 2, 0, 0, 1100, 420));
  auditor.onCounters(counters(7, 2, 0, 0, 1200, 430));
  REQUIRE(sink.size() == 2);  // dot: first report at once
  CHECK(sink.events()[1].action() == "SUPPRESSED dot-refused");
  CHECK(sink.events()[1].toJson().find(R"("packets":5,"total":5)") != std::string::npos);
  clock.now += RefusalAuditor::kSummaryInterval;
  auditor.emitSummaries();
  REQUIRE(sink.size() == 3);
  CHECK(sink.events()[2].toJson().find(R"("packets":130,"total":730)") != std::string::npos);

  // A reading between the two counters of a rule never counts backwards.
  auditor.onCounters(counters(7, 3, 0, 0, 1200, 431));
  auditor.onCounters(counters(7, 3, 0, 0, 1201, 431));
  auditor.emitSummaries(true);
  CHECK(sink.size() == 3);

  // The cage applied again: counters restart from zero and count anew.
  auditor.onCounters(counters(0, 0, 0, 0, 30, 10));
  auditor.emitSummaries(true);
  REQUIRE(sink.size() == 4);
  CHECK(sink.events()[3].toJson().find(R"("packets":20,"total":750)") != std::string::npos);
  CHECK(auditor.stats().kernelSuppressed == 755);
}

TEST_CASE("without a cage at the start, the first counters count from zero", "[lockdown][nflog]") {
  lens::audit::RecordingSink sink;
  RefusalAuditor auditor(sink);
  auditor.noCageAtStart();
  auditor.onCounters(counters(0, 0, 9, 4, 0, 0));
  REQUIRE(sink.size() == 1);
  CHECK(sink.events()[0].action() == "SUPPRESSED quic-refused");
}

TEST_CASE("messages lost to a socket overrun are counted by the sequence gap",
          "[lockdown][nflog]") {
  lens::audit::RecordingSink sink;
  RefusalAuditor auditor(sink);
  auditor.onDatagram(udpRefusal("lens:deny: ", 0));
  auditor.onOverrun();
  auditor.onDatagram(udpRefusal("lens:deny: ", 5));  // 1..4 lost
  const auto events = sink.events();
  REQUIRE(events.size() == 3);
  CHECK(events[1].action() == "UDP 10.199.0.2:9000");
  CHECK(events[2].action() == "SUPPRESSED lost");
  CHECK(events[2].metaString("cause") == "socket-overrun");
  CHECK(events[2].toJson().find(R"("packets":4,"total":4)") != std::string::npos);
  CHECK(auditor.stats().lost == 4);
  CHECK(auditor.stats().overruns == 1);
  CHECK(auditor.statsJson().find(
            R"("packets":2,"events":3,"parse_errors":0,"kernel_suppressed":0,"overruns":1,)"
            R"("lost":4)") != std::string::npos);
}
