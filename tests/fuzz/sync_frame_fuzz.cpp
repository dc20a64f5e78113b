// Inbound control-plane frames (lens-policy-sync): parseFrame and, for
// policy frames, checkPolicyFrame. Invariants: no crash; a refused frame has
// a message; a policy frame is either installable (no errors) or has errors;
// a frame needing a newer protocol is never installable; the version is the
// SHA-256 of the text; outbound frames built from the results are valid JSON
// objects (checked by re-parsing them as frames).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "libcommon/sync/protocol.h"
#include "libcommon/util/hash.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "sync_frame_fuzz: invariant broken: %s\n", what);
  std::abort();
}

lens::json::JsonLimits limits() {
  lens::json::JsonLimits l;
  l.maxBytes = 1u << 20;
  return l;
}

void roundTrip(const std::string& frame) {
  auto back = lens::sync::parseFrame(frame, limits());
  if (!back.ok()) fail("an outbound frame does not parse as a frame");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto frame = lens::sync::parseFrame(text, limits());
  if (!frame.ok()) {
    if (frame.error().message.empty()) fail("a refused frame without a message");
    return 0;
  }
  if (frame->typeName.size() > 64) fail("the type name kept for logs is not bounded");
  if (frame->type == lens::sync::FrameType::kWatch) {
    if (frame->id.empty() || frame->waitMs > lens::sync::kMaxWatchWait ||
        frame->waitMs.count() < 0) {
      fail("a watch frame out of bounds");
    }
    roundTrip(
        lens::sync::watchResultFrame(frame->id, {std::string(text.substr(0, 100))}, {{"n", 1}}));
  }
  if (frame->type == lens::sync::FrameType::kPolicy) {
    const auto check = lens::sync::checkPolicyFrame(text, limits(), "policy frame", "2026-05-26");
    if (check.version != lens::util::sha256Hex(text)) fail("the version is not the content hash");
    if (check.ok() != check.errors.empty()) fail("installable and errors disagree");
    if (check.protocolTooOld && check.ok()) fail("a frame for a newer protocol is installable");
    if (check.minProtocolDate && !lens::sync::isProtocolDate(*check.minProtocolDate))
      fail("a bad date accepted");
    roundTrip(check.ok() ? lens::sync::policyAppliedFrame(check.version)
                         : lens::sync::policyRejectedFrame(check.version, check.errors));
  }
  return 0;
}
