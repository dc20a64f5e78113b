#include "libcommon/approval/protocol.h"

#include <catch2/catch.hpp>
#include <string>

namespace {

namespace approval = lens::approval;
using approval::Answer;
using approval::Kind;

approval::Item requestItem() {
  approval::Item item;
  item.host = "api.example";
  item.action = "GET https://api.example/v1/items";
  item.reason = "policy-ask";
  item.treatment = "inspected";
  item.caller = lens::audit::ProcessInfo{"curl", 4242, "/usr/bin/curl"};
  return item;
}

}  // namespace

TEST_CASE("an ask goes to the broker and back unchanged", "[approval][protocol]") {
  const std::string text = approval::encodeAsk(17, requestItem());
  auto parsed = approval::parseDaemonMessage(text);
  REQUIRE(parsed);
  const auto* ask = std::get_if<approval::Ask>(&*parsed);
  REQUIRE(ask);
  CHECK(ask->ref == 17);
  CHECK(ask->item.kind == Kind::kRequest);
  CHECK(ask->item.host == "api.example");
  CHECK(ask->item.action == "GET https://api.example/v1/items");
  CHECK(ask->item.reason == "policy-ask");
  CHECK(ask->item.treatment == "inspected");
  REQUIRE(ask->item.caller);
  CHECK(ask->item.caller->name == "curl");
  CHECK(ask->item.caller->pid == 4242);
  CHECK(ask->item.caller->exe == "/usr/bin/curl");

  auto cancel = approval::parseDaemonMessage(approval::encodeCancel(9));
  REQUIRE(cancel);
  REQUIRE(std::holds_alternative<approval::Cancel>(*cancel));
  CHECK(std::get<approval::Cancel>(*cancel).ref == 9);
}

TEST_CASE("bad daemon messages are refused with the reason", "[approval][protocol]") {
  const auto refused = [](const std::string& text, const std::string& why) {
    auto parsed = approval::parseDaemonMessage(text);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == lens::ErrorCode::kInvalidInput);
    CHECK_THAT(parsed.error().message, Catch::Contains(why));
  };
  refused("[]", "not a JSON object");
  refused("{\"op\":\"ask\"", "approval message:");
  refused(R"({"op":"ask","ref":1,"kind":"request","host":"h","action":"a","reason":"r","x":1})",
          "unknown field \"x\"");
  refused(R"({"op":"ask","ref":-1,"kind":"request","host":"h","action":"a","reason":"r"})",
          "\"ref\" is not a non-negative integer");
  refused(R"({"op":"ask","ref":1,"kind":"later","host":"h","action":"a","reason":"r"})",
          "unknown kind");
  refused(R"({"op":"ask","ref":1,"kind":"credential","host":"h","action":"a","reason":"r"})",
          "without \"credentialId\"");
  refused(R"({"op":"ask","ref":1,"kind":"request","host":"h","action":"","reason":"r"})",
          "empty \"action\"");
  refused(R"({"op":"ask","ref":1,"ref":2,"kind":"request","host":"h","action":"a","reason":"r"})",
          "approval message:");
  refused(R"({"op":"stop","ref":1})", "unknown op");
  refused(std::string(approval::kMaxMessage + 1, ' '), "bytes (at most");
}

TEST_CASE("replies carry the answer, the prompt id and the detail", "[approval][protocol]") {
  for (Answer a : {Answer::kAllowOnce, Answer::kAllowAlways, Answer::kDenyOnce, Answer::kDenyAlways,
                   Answer::kAllow, Answer::kDeny, Answer::kTimeout, Answer::kNoApprover}) {
    auto back = approval::parseReply(approval::encodeReply({3, a, "abc", "why"}));
    REQUIRE(back);
    CHECK(back->answer == a);
    CHECK(back->ref == 3);
    CHECK(back->id == "abc");
    CHECK(back->detail == "why");
  }
  CHECK_FALSE(approval::parseReply(R"({"ref":1,"answer":"maybe"})"));
}

TEST_CASE("decisions and their audit reasons follow the original", "[approval][protocol]") {
  CHECK(approval::parseDecision(Kind::kRequest, "allow_once") == Answer::kAllowOnce);
  CHECK(approval::parseDecision(Kind::kRequest, "allow_always") == Answer::kAllowAlways);
  CHECK(approval::parseDecision(Kind::kRequest, "deny_always") == Answer::kDenyAlways);
  CHECK(approval::parseDecision(Kind::kRequest, "deny") == Answer::kDenyOnce);
  CHECK_FALSE(approval::parseDecision(Kind::kRequest, "ALLOW_ONCE"));
  CHECK(approval::parseDecision(Kind::kCredential, "allow") == Answer::kAllow);
  CHECK(approval::parseDecision(Kind::kCredential, "deny") == Answer::kDeny);
  CHECK_FALSE(approval::parseDecision(Kind::kCredential, "allow_always"));

  CHECK(approval::auditReason(Answer::kAllowOnce) == "user-allowed-once");
  CHECK(approval::auditReason(Answer::kAllowAlways) == "user-allowed-persisted");
  CHECK(approval::auditReason(Answer::kDenyOnce) == "user-denied-once");
  CHECK(approval::auditReason(Answer::kDenyAlways) == "user-denied-persisted");
  CHECK(approval::auditReason(Answer::kDeny) == "user-denied");
  CHECK(approval::auditReason(Answer::kTimeout) == "decision-timeout");
  CHECK(approval::auditReason(Answer::kNoApprover) == "no-approver");
}

TEST_CASE("the pending frames are the original's, with the caller as actor.process",
          "[approval][protocol]") {
  CHECK(approval::pendingFrame("0a1b", requestItem()) ==
        R"({"type":"request_pending","id":"0a1b","host":"api.example",)"
        R"("action":"GET https://api.example/v1/items","reason":"policy-ask",)"
        R"("treatment":"inspected","actor":{"process":{"name":"curl","pid":4242,)"
        R"("exe":"/usr/bin/curl"}}})");
  approval::Item c;
  c.kind = Kind::kCredential;
  c.host = "api.example";
  c.action = "GET https://api.example/";
  c.reason = "placeholder-unauthorized";
  c.credentialId = "github";
  CHECK(approval::pendingFrame("ff", c) ==
        R"({"type":"credential_pending","id":"ff","credentialId":"github",)"
        R"("action":"GET https://api.example/","reason":"placeholder-unauthorized"})");
}
