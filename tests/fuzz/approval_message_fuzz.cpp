// Approval-socket messages (libcommon/approval/protocol.h): what the broker
// reads from a daemon (parseDaemonMessage) and what a daemon reads from the
// broker (parseReply). Invariants: no crash; a refusal has a message; what
// is accepted encodes to a message that parses back to the same fields, and
// the pending frame built from an ask is one JSON object with its type.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "libcommon/approval/protocol.h"
#include "libcommon/json/document.h"

namespace {

namespace approval = lens::approval;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "approval_message_fuzz: invariant broken: %s\n", what);
  std::abort();
}

void sameItem(const approval::Item& a, const approval::Item& b) {
  if (a.kind != b.kind || a.host != b.host || a.action != b.action || a.reason != b.reason ||
      a.treatment != b.treatment || a.credentialId != b.credentialId ||
      a.caller.has_value() != b.caller.has_value())
    fail("an ask does not survive encoding");
  if (a.caller &&
      (a.caller->name != b.caller->name || a.caller->exe != b.caller->exe ||
       (a.caller->pid > 0 ? a.caller->pid : 0) != (b.caller->pid > 0 ? b.caller->pid : 0)))
    fail("the caller does not survive encoding");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto message = approval::parseDaemonMessage(text);
  if (!message) {
    if (message.error().message.empty()) fail("a refused message without a reason");
  } else if (const auto* ask = std::get_if<approval::Ask>(&*message)) {
    auto back = approval::parseDaemonMessage(approval::encodeAsk(ask->ref, ask->item));
    if (!back || !std::holds_alternative<approval::Ask>(*back)) fail("an encoded ask is refused");
    sameItem(ask->item, std::get<approval::Ask>(*back).item);
    const std::string frame = approval::pendingFrame("00ff", ask->item);
    auto parsed = lens::json::Document::parse(frame);
    const auto* doc = std::get_if<lens::json::Document>(&parsed);
    if (!doc || !doc->root().isObject() || !doc->root().find("type"))
      fail("a pending frame is not a JSON object with a type");
  } else {
    auto back = approval::parseDaemonMessage(
        approval::encodeCancel(std::get<approval::Cancel>(*message).ref));
    if (!back || !std::holds_alternative<approval::Cancel>(*back))
      fail("an encoded cancel is refused");
  }
  auto reply = approval::parseReply(text);
  if (!reply) {
    if (reply.error().message.empty()) fail("a refused reply without a reason");
    return 0;
  }
  auto back = approval::parseReply(approval::encodeReply(*reply));
  if (!back || back->ref != reply->ref || back->answer != reply->answer || back->id != reply->id)
    fail("a reply does not survive encoding");
  return 0;
}
