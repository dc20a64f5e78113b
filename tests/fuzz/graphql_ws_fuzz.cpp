// The client side of a GraphQL-over-WebSocket connection
// (libcommon/graphql/ws_policer.h): the input is the bytes a client sends
// after the 101, fed in pieces whose sizes follow from the input.
// Invariants: no crash; the forwarded bytes never exceed the input and are
// whole masked client frames; fed whole and fed in pieces, the forwarded
// bytes and the refusal are the same; a refusal has a reason and a close
// frame (0x88, at most 125 bytes of payload, code 1008), and nothing comes
// out after it. A second pass with a judge that refuses everything (and
// small limits): no forwarded text message is a subscribe or a start.
// The same bytes read as the server's direction (WsFrameBoundary): the
// boundary does not depend on the split.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "libcommon/graphql/ws_policer.h"
#include "libcommon/json/document.h"

namespace {

namespace gq = lens::graphql;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "graphql_ws_fuzz: invariant broken: %s\n", what);
  std::abort();
}

struct Outcome {
  std::string forward;
  std::optional<gq::WsRefusal> refusal;
};

// Feeds `input` in pieces of 1 to 32 bytes (sizes from a generator seeded
// by the input), or whole when `whole`.
Outcome run(std::string_view input, const gq::WsJudge& judge, const gq::WsLimits& limits,
            bool whole) {
  gq::WsPolicer policer(judge, limits);
  Outcome outcome;
  std::uint32_t seed = 2166136261u;
  for (const char c : input) seed = (seed ^ static_cast<std::uint8_t>(c)) * 16777619u;
  std::size_t i = 0;
  while (i < input.size()) {
    seed = seed * 1103515245u + 12345u;
    const std::size_t piece = whole ? input.size() : 1 + (seed >> 16) % 32;
    auto out = policer.feed(input.substr(i, piece));
    i += std::min(piece, input.size() - i);
    if (outcome.refusal && (!out.forward.empty() || out.refusal)) fail("output after a refusal");
    outcome.forward += out.forward;
    if (out.refusal) outcome.refusal = std::move(out.refusal);
  }
  if (outcome.forward.size() > input.size()) fail("more bytes forwarded than came in");
  if (outcome.refusal) {
    const std::string& close = outcome.refusal->closeFrame;
    if (outcome.refusal->reason.message.empty()) fail("a refusal without a reason");
    if (close.size() < 4 || close.size() > 127 || close[0] != '\x88' ||
        static_cast<std::uint8_t>(close[1]) != close.size() - 2 || close[2] != '\x03' ||
        close[3] != '\xF0')
      fail("a malformed close frame for a refusal");
    if (!policer.refused()) fail("a refusal the policer forgets");
  }
  return outcome;
}

// Walks the forwarded bytes as client frames; calls `onMessage` with each
// complete text message, unmasked.
template <class OnMessage>
void walkFrames(std::string_view bytes, OnMessage onMessage) {
  std::string message;
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (bytes.size() - i < 2) fail("a partial frame header forwarded");
    const auto b0 = static_cast<std::uint8_t>(bytes[i]);
    const auto b1 = static_cast<std::uint8_t>(bytes[i + 1]);
    if ((b1 & 0x80) == 0) fail("an unmasked frame forwarded");
    std::size_t header = 2;
    std::uint64_t size = b1 & 0x7F;
    if (size >= 126) {
      const std::size_t digits = size == 126 ? 2 : 8;
      if (bytes.size() - i < 2 + digits) fail("a partial frame header forwarded");
      size = 0;
      for (std::size_t k = 0; k < digits; ++k)
        size = size << 8 | static_cast<std::uint8_t>(bytes[i + 2 + k]);
      header += digits;
    }
    if (bytes.size() - i < header + 4 || bytes.size() - i - header - 4 < size)
      fail("a partial frame forwarded");
    const std::string_view mask = bytes.substr(i + header, 4);
    const std::string_view payload = bytes.substr(i + header + 4, size);
    const std::uint8_t opcode = b0 & 0x0F;
    if (opcode == 0x1 || opcode == 0x0) {
      for (std::size_t k = 0; k < payload.size(); ++k)
        message += static_cast<char>(payload[k] ^ mask[k % 4]);
      if ((b0 & 0x80) != 0) {
        onMessage(message);
        message.clear();
      }
    } else if (opcode < 0x8) {
      fail("a data frame that is not text forwarded");
    }
    i += header + 4 + static_cast<std::size_t>(size);
  }
  if (!message.empty()) fail("an unfinished message forwarded");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const gq::WsJudge allow = [](const gq::Operation&) -> lens::Status { return lens::Ok{}; };
  const Outcome whole = run(input, allow, {}, true);
  const Outcome pieces = run(input, allow, {}, false);
  if (whole.forward != pieces.forward) fail("the forwarded bytes depend on the split");
  if (whole.refusal.has_value() != pieces.refusal.has_value() ||
      (whole.refusal && whole.refusal->reason.message != pieces.refusal->reason.message))
    fail("the refusal depends on the split");
  walkFrames(whole.forward, [](const std::string&) {});

  gq::WsLimits small;
  small.maxMessage = 512;
  small.maxFragments = 8;
  const gq::WsJudge refuse = [](const gq::Operation&) -> lens::Status {
    return lens::Error{lens::ErrorCode::kDenied, "refused"};
  };
  const Outcome strict = run(input, refuse, small, false);
  walkFrames(strict.forward, [](const std::string& message) {
    auto parsed = lens::json::Document::parse(message);
    const auto* doc = std::get_if<lens::json::Document>(&parsed);
    if (!doc) fail("a forwarded message that is not JSON");
    const lens::json::Value* type = doc->root().find("type");
    if (!type || !type->isString()) fail("a forwarded message without a type");
    if (type->text() == "subscribe" || type->text() == "start")
      fail("a subscribe forwarded that the judge refused");
  });

  // The server direction's frame boundary: the same fed whole or byte by
  // byte, never more than what was fed.
  gq::WsFrameBoundary once;
  gq::WsFrameBoundary bytewise;
  once.feed(input);
  for (const char c : input) bytewise.feed(std::string_view(&c, 1));
  if (once.sinceBoundary() != bytewise.sinceBoundary())
    fail("the frame boundary depends on the split");
  if (once.sinceBoundary() > input.size()) fail("a frame boundary before the input");
  return 0;
}
