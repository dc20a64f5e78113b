#include "libcommon/audit/event.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

namespace {

using lens::audit::Endpoint;
using lens::audit::Event;
using lens::audit::formatTimestamp;
using lens::audit::Outcome;
using lens::audit::ProcessInfo;

using namespace std::chrono;
using namespace std::chrono_literals;

// 2026-11-27T07:25:30.123Z
system_clock::time_point fixedTime() {
  return sys_days{year{2026} / November / 27} + 7h + 25min + 30s + 123ms;
}

}  // namespace

TEST_CASE("formatTimestamp is RFC 3339 UTC with milliseconds", "[audit]") {
  CHECK(formatTimestamp(fixedTime()) == "2026-11-27T07:25:30.123Z");
  CHECK(formatTimestamp(system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");
  // Sub-millisecond digits are truncated, never rounded up.
  CHECK(formatTimestamp(fixedTime() + 999us) == "2026-11-27T07:25:30.123Z");
  CHECK(formatTimestamp(sys_days{year{2024} / February / 29} + 23h + 59min + 59s + 999ms) ==
        "2024-02-29T23:59:59.999Z");
  CHECK(formatTimestamp(sys_days{year{2000} / January / 1} + 5ms) == "2000-01-01T00:00:00.005Z");
  // Before the epoch the split into day and time still floors.
  CHECK(formatTimestamp(system_clock::time_point{} - 1ms) == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("Event renders every field in the stable key order", "[audit]") {
  Event e("lens-proxy", "GET https://example.com/a");
  e.time(fixedTime())
      .actor(ProcessInfo{"curl", 4242, "/usr/bin/curl"})  // set out of order on purpose
      .src(Endpoint{"10.0.0.2", 51234})
      .meta("reason", "path not allowed")
      .meta("rule", "rules[3]")
      .meta("policy_version", 7)
      .meta("mitm", true)
      .metaRaw("tags", "[\"a\",\"b\"]")
      .statusCode(403)
      .outcome(Outcome::kFailure)
      .path("/a")
      .host("example.com")
      .method("GET");
  CHECK(e.toJson() ==
        "{\"type\":\"audit_event\",\"ts\":\"2026-11-27T07:25:30.123Z\","
        "\"source\":\"lens-proxy\",\"action\":\"GET https://example.com/a\","
        "\"method\":\"GET\",\"host\":\"example.com\",\"path\":\"/a\",\"result\":\"failure\","
        "\"status_code\":403,"
        "\"metadata\":{\"reason\":\"path not allowed\",\"rule\":\"rules[3]\","
        "\"policy_version\":7,\"mitm\":true,\"tags\":[\"a\",\"b\"]},"
        "\"src_endpoint\":{\"ip\":\"10.0.0.2\",\"port\":51234},"
        "\"actor\":{\"process\":{\"name\":\"curl\",\"pid\":4242,\"exe\":\"/usr/bin/curl\"}}}");
}

TEST_CASE("Event omits absent fields", "[audit]") {
  Event e("lens-dns", "DNS example.com");
  e.time(fixedTime());
  CHECK(e.toJson() ==
        "{\"type\":\"audit_event\",\"ts\":\"2026-11-27T07:25:30.123Z\","
        "\"source\":\"lens-dns\",\"action\":\"DNS example.com\"}");

  e.type("activity").outcome(Outcome::kSuccess).actor(ProcessInfo{"", 17, ""});
  CHECK(e.toJson() ==
        "{\"type\":\"activity\",\"ts\":\"2026-11-27T07:25:30.123Z\","
        "\"source\":\"lens-dns\",\"action\":\"DNS example.com\",\"result\":\"success\","
        "\"actor\":{\"process\":{\"pid\":17}}}");
}

TEST_CASE("Event result names", "[audit]") {
  CHECK(lens::audit::outcomeName(Outcome::kSuccess) == "success");
  CHECK(lens::audit::outcomeName(Outcome::kFailure) == "failure");
  CHECK(lens::audit::outcomeName(Outcome::kError) == "error");
  Event e("s", "a");
  e.time(fixedTime()).outcome(Outcome::kError);
  CHECK(e.toJson().find("\"result\":\"error\"") != std::string::npos);
}

TEST_CASE("Event metadata overloads and replacement", "[audit]") {
  const char* const nullText = nullptr;
  const std::string owned = "owned";
  Event e("s", "a");
  e.time(fixedTime())
      .meta("lit", "text")  // a string, not bool
      .meta("int", 5)
      .meta("neg", std::int64_t{-5})
      .meta("size", std::size_t{9})
      .meta("u64", std::numeric_limits<std::uint64_t>::max())
      .meta("flag", false)
      .meta("owned", owned)
      .meta("nul", nullText)
      .meta("int", 6);  // replaces in place
  CHECK(e.toJson() ==
        "{\"type\":\"audit_event\",\"ts\":\"2026-11-27T07:25:30.123Z\",\"source\":\"s\","
        "\"action\":\"a\",\"metadata\":{\"lit\":\"text\",\"int\":6,\"neg\":-5,\"size\":9,"
        "\"u64\":18446744073709551615,\"flag\":false,\"owned\":\"owned\",\"nul\":null}}");
}

TEST_CASE("Event escapes strings in every field", "[audit]") {
  Event e("src\"", "CONNECT a\nb:443");
  e.time(fixedTime())
      .host("h\\")
      .path("/\x01")
      .meta("k\t", "\xC0\x80")
      .src(Endpoint{"::1\"", 0})
      .actor(ProcessInfo{"n\r", 1, "/bin/\x7f"});
  CHECK(e.toJson() ==
        "{\"type\":\"audit_event\",\"ts\":\"2026-11-27T07:25:30.123Z\",\"source\":\"src\\\"\","
        "\"action\":\"CONNECT a\\nb:443\",\"host\":\"h\\\\\",\"path\":\"/\\u0001\","
        "\"metadata\":{\"k\\t\":\"\xEF\xBF\xBD\xEF\xBF\xBD\"},"
        "\"src_endpoint\":{\"ip\":\"::1\\\"\",\"port\":0},"
        "\"actor\":{\"process\":{\"name\":\"n\\r\",\"pid\":1,\"exe\":\"/bin/\\u007f\"}}}");
}

TEST_CASE("Event accessors and withMeta", "[audit]") {
  Event e("lens-proxy", "CONNECT host:443");
  CHECK(e.type() == "audit_event");
  CHECK_FALSE(e.outcome().has_value());
  CHECK_FALSE(e.reason().has_value());
  CHECK(e.findMeta("reason") == nullptr);

  e.outcome(Outcome::kFailure).meta("reason", "denied").meta("n", 3).statusCode(403);
  CHECK(e.action() == "CONNECT host:443");
  CHECK(e.source() == "lens-proxy");
  CHECK(e.outcome() == Outcome::kFailure);
  CHECK(e.reason() == std::optional<std::string_view>("denied"));
  CHECK(e.statusCode() == 403);
  CHECK_FALSE(e.metaString("n").has_value());  // not a string
  REQUIRE(e.findMeta("n") != nullptr);
  CHECK(std::get<std::int64_t>(*e.findMeta("n")) == 3);

  const Event copy = e.withMeta("suppressed", std::uint64_t{4});
  CHECK(e.findMeta("suppressed") == nullptr);  // the original is untouched
  REQUIRE(copy.findMeta("suppressed") != nullptr);
  CHECK(std::get<std::uint64_t>(*copy.findMeta("suppressed")) == 4);
  CHECK(copy.metadata().back().key == "suppressed");
  CHECK(copy.time() == e.time());
}

TEST_CASE("Event timestamp defaults to the construction time", "[audit]") {
  const auto before = floor<milliseconds>(system_clock::now());
  const Event e("s", "a");
  const auto after = system_clock::now();
  CHECK(e.time() >= before);
  CHECK(e.time() <= after);
  const std::string json = e.toJson();
  const std::string ts = formatTimestamp(e.time());
  CHECK(ts.size() == 24);
  CHECK(ts.back() == 'Z');
  CHECK(json.find("\"ts\":\"" + ts + "\"") != std::string::npos);
  CHECK(json.find('\n') == std::string::npos);
}
