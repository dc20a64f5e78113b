#include "libcommon/sync/protocol.h"

#include <catch2/catch.hpp>

namespace {

using lens::sync::FrameType;

lens::json::JsonLimits limits() { return {}; }

constexpr const char* kPolicy = R"({"type": "policy", "proxyUpstream": "http://up:3128",
  "network": {"defaultVerdict": "deny", "defaultTransport": "upstream"}})";

}  // namespace

TEST_CASE("parseFrame reads the type and the fields of known frames", "[sync][protocol]") {
  auto policy = lens::sync::parseFrame(kPolicy, limits());
  REQUIRE(policy.ok());
  CHECK(policy->type == FrameType::kPolicy);

  auto watch = lens::sync::parseFrame(R"({"type":"watch","id":"w1","waitMs":250})", limits());
  REQUIRE(watch.ok());
  CHECK(watch->type == FrameType::kWatch);
  CHECK(watch->id == "w1");
  CHECK(watch->waitMs == std::chrono::milliseconds(250));

  auto longWait =
      lens::sync::parseFrame(R"({"type":"watch","id":"w2","waitMs":999999999})", limits());
  REQUIRE(longWait.ok());
  CHECK(longWait->waitMs == lens::sync::kMaxWatchWait);

  auto decision = lens::sync::parseFrame(
      R"({"type":"request_decision","id":"r1","decision":"allow_once"})", limits());
  REQUIRE(decision.ok());
  CHECK(decision->type == FrameType::kRequestDecision);
  CHECK(decision->decision == "allow_once");

  auto unknown = lens::sync::parseFrame(R"({"type":"exec","id":"x"})", limits());
  REQUIRE(unknown.ok());
  CHECK(unknown->type == FrameType::kUnknown);
  CHECK(unknown->typeName == "exec");
}

TEST_CASE("parseFrame refuses what is not a well-formed frame", "[sync][protocol]") {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"garbage", "not JSON: 1:1: "},
      {"[1,2]", "a frame must be a JSON object"},
      {R"({"id":"x"})", "a frame without \"type\""},
      {R"({"type":7})", "a frame whose \"type\" is not a string"},
      {R"({"type":"watch"})", "watch frame without a string \"id\""},
      {R"({"type":"watch","id":"w","waitMs":-1})", "watch frame with a negative \"waitMs\""},
      {R"({"type":"credential_decision","id":"c","decision":"maybe"})",
       "credential_decision frame with decision \"maybe\" (expected one of allow, deny)"},
      {R"({"type":"a","type":"b"})", "not JSON: "},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    auto frame = lens::sync::parseFrame(c.text, limits());
    REQUIRE_FALSE(frame.ok());
    CHECK(frame.error().code == lens::ErrorCode::kInvalidInput);
    CHECK(frame.error().message.rfind(c.message, 0) == 0);
  }
}

TEST_CASE("checkPolicyFrame validates the policy and the transport fields", "[sync][protocol]") {
  SECTION("a valid frame") {
    const auto check = lens::sync::checkPolicyFrame(kPolicy, limits());
    CHECK(check.ok());
    CHECK(check.errors.empty());
    CHECK(check.version.size() == 64);
  }
  SECTION("policy errors are located in the frame") {
    const auto check = lens::sync::checkPolicyFrame(
        "{\"type\":\"policy\",\n \"network\": {\"defaultVerdict\": \"alow\", \"defaultTransport\": "
        "\"upstream\"}}",
        limits());
    CHECK_FALSE(check.ok());
    REQUIRE(check.errors.size() == 1);
    CHECK(check.errors[0].rfind("policy frame:2:32: network.defaultVerdict: unknown value \"alow\"",
                                0) == 0);
  }
  SECTION("transport fields of the wrong kind") {
    const auto check = lens::sync::checkPolicyFrame(
        R"({"type":"policy","proxyUpstream":3,"minProtocolDate":"2026-02-30"})", limits());
    REQUIRE(check.errors.size() == 2);
    CHECK(check.errors[0] == "policy frame:1:34: proxyUpstream: must be a string, not a number");
    CHECK(check.errors[1] ==
          "policy frame:1:54: minProtocolDate: must be a date written YYYY-MM-DD");
    CHECK_FALSE(check.protocolTooOld);
  }
  SECTION("a byte order mark does not hide the transport fields") {
    // The policy parser accepts a BOM; the transport fields were read with
    // Poco::JSON, which refuses one, so they went unchecked.
    const auto check = lens::sync::checkPolicyFrame(
        "\xEF\xBB\xBF{\"type\":\"policx\",\"minProtocolDate\":\"2099-01-01\"}", limits(),
        "policy frame", "2026-05-26");
    REQUIRE(check.errors.size() == 2);
    CHECK(check.errors[0] == "policy frame:1:9: type: must be \"policy\"");
    CHECK(check.errors[1].rfind("policy frame:1:36: minProtocolDate: the policy needs protocol "
                                "2099-01-01",
                                0) == 0);
    CHECK(check.protocolTooOld);
  }
  SECTION("a newer minProtocolDate asks for a recycle") {
    const auto check =
        lens::sync::checkPolicyFrame(R"({"type":"policy","minProtocolDate":"2099-01-01"})",
                                     limits(), "policy frame", "2026-05-26");
    CHECK(check.protocolTooOld);
    CHECK_FALSE(check.ok());
    REQUIRE(check.errors.size() == 1);
    CHECK(check.errors[0] ==
          "policy frame:1:36: minProtocolDate: the policy needs protocol 2099-01-01 but this build "
          "speaks 2026-05-26; "
          "the sandbox must be recycled");
  }
  SECTION("an older or equal minProtocolDate is fine") {
    CHECK(lens::sync::checkPolicyFrame(R"({"type":"policy","minProtocolDate":"2026-05-26"})",
                                       limits(), "f", "2026-05-26")
              .ok());
    CHECK(lens::sync::checkPolicyFrame(R"({"minProtocolDate":"2020-01-01"})", limits(), "f",
                                       "2026-05-26")
              .ok());
  }
  SECTION("a frame of another type cannot be installed") {
    const auto check = lens::sync::checkPolicyFrame(R"({"type":"watch"})", limits());
    REQUIRE(check.errors.size() == 1);
    CHECK(check.errors[0] == "policy frame:1:9: type: must be \"policy\"");
  }
}

TEST_CASE("isProtocolDate accepts calendar dates only", "[sync][protocol]") {
  CHECK(lens::sync::isProtocolDate("2026-05-26"));
  CHECK(lens::sync::isProtocolDate("2024-02-29"));
  CHECK_FALSE(lens::sync::isProtocolDate("2023-02-29"));
  CHECK_FALSE(lens::sync::isProtocolDate("2026-13-01"));
  CHECK_FALSE(lens::sync::isProtocolDate("2026-5-26"));
  CHECK_FALSE(lens::sync::isProtocolDate("2026-05-26T00:00:00Z"));
}

TEST_CASE("outbound frames have the documented shapes", "[sync][protocol]") {
  CHECK(lens::sync::policyAppliedFrame("abc") == R"({"type":"policy_applied","version":"abc"})");
  CHECK(lens::sync::policyRejectedFrame("abc", {"f:1:2: x: bad \"y\""}) ==
        R"({"type":"policy_rejected","version":"abc","errors":["f:1:2: x: bad \"y\""]})");
  CHECK(
      lens::sync::watchResultFrame("w", {"one", "two"}, {{"frames_received", 3}}) ==
      R"({"type":"watch_result","id":"w","output":"one\ntwo\n","counters":{"frames_received":3}})");
}

TEST_CASE("watch_result output is bounded and keeps the newest lines", "[sync][protocol]") {
  std::vector<std::string> lines(600, std::string(1000, 'x'));
  lines.back() = "newest";
  const std::string frame = lens::sync::watchResultFrame("w", lines, {});
  CHECK(frame.size() < lens::sync::kMaxWatchOutput + 200);
  CHECK(frame.find("earlier lines skipped") != std::string::npos);
  CHECK(frame.find("newest\\n") != std::string::npos);
}
