#include "libcommon/graphql/ws_policer.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace gq = lens::graphql;

constexpr std::uint8_t kText = 0x1;
constexpr std::uint8_t kContinuation = 0x0;
constexpr std::uint8_t kClose = 0x8;
constexpr std::uint8_t kPing = 0x9;
constexpr std::uint8_t kPong = 0xA;

// How a frame writes its payload length.
enum class Length { kMinimal, k16, k64 };

struct FrameSpec {
  bool fin = true;
  bool masked = true;
  std::uint8_t rsv = 0;  // the bits 0x70 of the first byte
  Length length = Length::kMinimal;
};

// A client frame as RFC 6455 section 5.2 writes it, masked with a random key.
std::string frame(std::uint8_t opcode, std::string_view payload, FrameSpec spec = {}) {
  static std::mt19937 rng{std::random_device{}()};
  std::string out;
  out += static_cast<char>((spec.fin ? 0x80 : 0) | spec.rsv | opcode);
  const char mask = spec.masked ? '\x80' : '\0';
  const std::uint64_t n = payload.size();
  Length length = spec.length;
  if (length == Length::kMinimal)
    length = n < 126 ? Length::kMinimal : n < 65536 ? Length::k16 : Length::k64;
  if (length == Length::kMinimal) {
    out += static_cast<char>(mask | static_cast<char>(n));
  } else {
    const int digits = length == Length::k16 ? 2 : 8;
    out += static_cast<char>(mask | (digits == 2 ? 126 : 127));
    for (int k = digits - 1; k >= 0; --k) out += static_cast<char>((n >> (8 * k)) & 0xFF);
  }
  if (!spec.masked) return out + std::string(payload);
  std::uint8_t key[4];
  for (std::uint8_t& b : key) b = static_cast<std::uint8_t>(rng());
  out.append(reinterpret_cast<const char*>(key), 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    out += static_cast<char>(static_cast<std::uint8_t>(payload[i]) ^ key[i % 4]);
  return out;
}

std::string text(std::string_view payload) { return frame(kText, payload); }

std::string subscribe(std::string_view query, std::string_view type = "subscribe") {
  return R"({"id":"1","type":")" + std::string(type) + R"(","payload":{"query":")" +
         std::string(query) + R"("}})";
}

// A judge that allows subscriptions and queries and refuses mutations, and
// remembers what it was asked.
struct RecordingJudge {
  std::vector<gq::Operation> asked;
  gq::WsJudge judge() {
    return [this](const gq::Operation& op) -> lens::Status {
      asked.push_back(op);
      if (op.type == gq::OperationType::kMutation)
        return lens::Error{lens::ErrorCode::kDenied, "mutations are not allowed here"};
      return lens::Ok{};
    };
  }
};

lens::Status allowAll(const gq::Operation&) { return lens::Ok{}; }

// What a policer makes of `input` fed in pieces of `piece` bytes: all the
// forwarded bytes and the refusal, if any.
struct Outcome {
  std::string forward;
  std::optional<gq::WsRefusal> refusal;
};

Outcome feedInPieces(std::string_view input, std::size_t piece, gq::WsLimits limits = {}) {
  gq::WsPolicer policer(allowAll, limits);
  Outcome outcome;
  for (std::size_t i = 0; i < input.size(); i += piece) {
    auto out = policer.feed(input.substr(i, piece));
    outcome.forward += out.forward;
    if (out.refusal) {
      REQUIRE_FALSE(outcome.refusal);
      outcome.refusal = std::move(out.refusal);
    }
  }
  return outcome;
}

// The reason `input` is refused for, fed whole and byte by byte (the same);
// nothing of it is forwarded.
std::string refusal(std::string_view input, gq::WsLimits limits = {}) {
  const Outcome whole = feedInPieces(input, input.size(), limits);
  const Outcome bytes = feedInPieces(input, 1, limits);
  REQUIRE(whole.refusal);
  REQUIRE(bytes.refusal);
  CHECK(whole.forward.empty());
  CHECK(bytes.forward.empty());
  CHECK(whole.refusal->reason.message == bytes.refusal->reason.message);
  CHECK(whole.refusal->closeFrame ==
        gq::wsCloseFrame(gq::kWsPolicyViolation, whole.refusal->reason.message));
  return whole.refusal->reason.message;
}

}  // namespace

TEST_CASE("a close frame: 0x88, the length, the code, the reason cut to 123 bytes",
          "[graphql-ws]") {
  CHECK(gq::wsCloseFrame(1008, "no") == std::string("\x88\x04\x03\xF0no", 6));
  CHECK(gq::wsCloseFrame(1000, "") == std::string("\x88\x02\x03\xE8", 4));
  const std::string longReason(200, 'x');
  const std::string cut = gq::wsCloseFrame(1008, longReason);
  CHECK(cut == std::string("\x88\x7D\x03\xF0", 4) + std::string(123, 'x'));
  // Never half a character: "é" (2 bytes) at bytes 123-124 is left out whole.
  const std::string accented = gq::wsCloseFrame(1008, std::string(122, 'a') + "\xC3\xA9");
  CHECK(accented == std::string("\x88\x7C\x03\xF0", 4) + std::string(122, 'a'));
  // Invalid UTF-8 ends the reason.
  CHECK(gq::wsCloseFrame(1008, std::string("ab\xFF") + "cd") ==
        std::string("\x88\x04\x03\xF0", 4) + "ab");
}

TEST_CASE("a subscribe the judge allows is forwarded as it came", "[graphql-ws]") {
  RecordingJudge judge;
  gq::WsPolicer policer(judge.judge());
  const std::string init = text(R"({"type":"connection_init","payload":{}})");
  const std::string sub = text(subscribe("subscription OnMessage { messageAdded { id } }"));
  auto out = policer.feed(init + sub);
  CHECK(out.forward == init + sub);
  CHECK_FALSE(out.refusal);
  REQUIRE(judge.asked.size() == 1);
  CHECK(judge.asked[0].type == gq::OperationType::kSubscription);
  CHECK(judge.asked[0].name == "OnMessage");
  CHECK(judge.asked[0].rootFields == std::vector<std::string>{"messageAdded"});
  CHECK(policer.buffered() == 0);
}

TEST_CASE("a subscribe the judge refuses closes the connection with 1008", "[graphql-ws]") {
  RecordingJudge judge;
  gq::WsPolicer policer(judge.judge());
  const std::string init = text(R"({"type":"connection_init"})");
  auto out = policer.feed(init + text(subscribe("mutation Drop { dropTable }")) +
                          text(R"({"type":"ping"})"));
  CHECK(out.forward == init);  // what came before stays allowed; nothing after
  REQUIRE(out.refusal);
  CHECK(out.refusal->reason.code == lens::ErrorCode::kDenied);
  CHECK(out.refusal->reason.message == "mutations are not allowed here");
  CHECK(out.refusal->closeFrame ==
        std::string("\x88\x20\x03\xF0", 4) + "mutations are not allowed here");
  CHECK(policer.refused());
  CHECK(policer.buffered() == 0);
  // Refused for good: nothing more comes out.
  auto after = policer.feed(text(R"({"type":"ping"})"));
  CHECK(after.forward.empty());
  CHECK_FALSE(after.refusal);
}

TEST_CASE("a judge's refusal without words still says what was refused", "[graphql-ws]") {
  gq::WsPolicer policer([](const gq::Operation&) -> lens::Status {
    return lens::Error{lens::ErrorCode::kDenied, ""};
  });
  auto out = policer.feed(text(subscribe("subscription S { a }")));
  REQUIRE(out.refusal);
  CHECK(out.refusal->reason.message == "the S subscription is not allowed");
}

TEST_CASE("a legacy start (subscriptions-transport-ws) is judged like a subscribe",
          "[graphql-ws]") {
  RecordingJudge judge;
  gq::WsPolicer policer(judge.judge());
  const std::string start =
      text(R"({"id":"7","type":"start","payload":{"query":"query A { a } subscription B { b }",)"
           R"("operationName":"B","variables":{"x":1},"extensions":{}}})");
  auto out = policer.feed(start);
  CHECK(out.forward == start);
  REQUIRE(judge.asked.size() == 1);
  CHECK(judge.asked[0].name == "B");
  CHECK(judge.asked[0].type == gq::OperationType::kSubscription);
  auto refused = policer.feed(text(subscribe("mutation M { m }", "start")));
  REQUIRE(refused.refusal);
  CHECK(refused.refusal->reason.message == "mutations are not allowed here");
}

TEST_CASE("messages that carry no operation pass unjudged, pings and pongs too", "[graphql-ws]") {
  RecordingJudge judge;
  gq::WsPolicer policer(judge.judge());
  std::string all;
  for (const char* type :
       {"connection_init", "ping", "pong", "complete", "stop", "connection_terminate"})
    all += text(R"({"type":")" + std::string(type) + R"(","id":"1"})");
  all += frame(kPing, "are you there");
  all += frame(kPong, "");
  auto out = policer.feed(all);
  CHECK(out.forward == all);
  CHECK_FALSE(out.refusal);
  CHECK(judge.asked.empty());
}

TEST_CASE("a fragmented message is held until it is whole; control frames between pass at once",
          "[graphql-ws]") {
  RecordingJudge judge;
  gq::WsPolicer policer(judge.judge());
  const std::string message = subscribe("subscription S { a }");
  const std::string first = frame(kText, message.substr(0, 10), {.fin = false});
  const std::string middle = frame(kContinuation, message.substr(10, 15), {.fin = false});
  const std::string last = frame(kContinuation, message.substr(25));
  const std::string ping = frame(kPing, "p");
  const std::string pong = frame(kPong, "q");

  CHECK(policer.feed(first).forward.empty());
  CHECK(policer.buffered() == first.size());
  CHECK(policer.feed(ping).forward == ping);
  CHECK(policer.feed(middle).forward.empty());
  CHECK(policer.feed(pong).forward == pong);
  CHECK(judge.asked.empty());
  auto out = policer.feed(last);
  CHECK(out.forward == first + middle + last);
  CHECK(judge.asked.size() == 1);
  CHECK(policer.buffered() == 0);
}

TEST_CASE("the output does not depend on how the input is split", "[graphql-ws]") {
  const std::string message = subscribe("subscription S { a }");
  const std::string init = text(R"({"type":"connection_init"})");
  const std::string first = frame(kText, message.substr(0, 7), {.fin = false});
  const std::string ping = frame(kPing, "between");
  const std::string rest =
      frame(kContinuation, message.substr(7, 1), {.fin = false, .length = Length::k64}) +
      frame(kContinuation, "", {.fin = false}) +
      frame(kContinuation, message.substr(8), {.length = Length::k16});
  const std::string padded =
      frame(kText, R"({"type":"ping","payload":{"pad":")" + std::string(300, 'x') + R"("}})");
  const std::string close = frame(kClose, std::string("\x03\xE8", 2) + "bye");
  const std::string stream = init + first + ping + rest + padded + close;

  // The ping goes ahead of the message it interrupts; the rest keeps its order.
  const std::string expected = init + ping + first + rest + padded + close;
  for (const std::size_t piece : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{5},
                                  std::size_t{13}, std::size_t{64}, stream.size()}) {
    const Outcome pieces = feedInPieces(stream, piece);
    CHECK(pieces.forward == expected);
    CHECK_FALSE(pieces.refusal);
  }
  // A refusal comes at the same byte however the input is split.
  const std::string bad = stream + text("{}");
  const Outcome refusedWhole = feedInPieces(bad, bad.size());
  const Outcome refusedBytes = feedInPieces(bad, 1);
  REQUIRE(refusedWhole.refusal);
  REQUIRE(refusedBytes.refusal);
  CHECK(refusedWhole.refusal->reason.message == "a frame after the close frame");
  CHECK(refusedBytes.refusal->reason.message == refusedWhole.refusal->reason.message);
  CHECK(refusedBytes.forward == expected);
  CHECK(refusedWhole.forward == expected);
}

TEST_CASE("frames that break RFC 6455 or are not graphql-ws text are refused", "[graphql-ws]") {
  const std::string ping = R"({"type":"ping"})";
  CHECK(refusal(frame(kText, ping, {.masked = false})) ==
        "an unmasked frame (a client masks every frame, RFC 6455 section 5.1)");
  for (const std::uint8_t rsv : {std::uint8_t{0x40}, std::uint8_t{0x20}, std::uint8_t{0x10}})
    CHECK(refusal(frame(kText, ping, {.rsv = rsv})) ==
          "a frame with an RSV bit set (no extension is in use)");
  CHECK(refusal(frame(0x3, "")) == "a frame with the reserved opcode 0x3");
  CHECK(refusal(frame(0x7, "")) == "a frame with the reserved opcode 0x7");
  CHECK(refusal(frame(0xB, "")) == "a frame with the reserved opcode 0xB");
  CHECK(refusal(frame(0xF, "")) == "a frame with the reserved opcode 0xF");
  CHECK(refusal(frame(0x2, ping)) == "a binary frame (graphql-ws messages are text)");
  CHECK(refusal(frame(kContinuation, ping)) ==
        "a continuation frame without a message to continue");
  CHECK(refusal(frame(kText, "{", {.fin = false}) + text(ping)) ==
        "a new text frame inside an unfinished message");
  CHECK(refusal(frame(kPing, "", {.fin = false})) == "a fragmented control frame");
  CHECK(refusal(frame(kPing, std::string(126, 'p'))) == "a control frame over 125 bytes");
  CHECK(refusal(frame(kClose, "\x03")) == "a close frame with a 1-byte payload");
  CHECK(refusal(frame(kClose, std::string("\x03\xED", 2))) == "a close frame with the code 1005");
  CHECK(refusal(frame(kClose, std::string("\x03\xE8\xC0\xAF", 4))) ==
        "a close frame whose reason is not UTF-8");
  // The top bit of a 64-bit length: refused from the header, before any payload.
  const std::string huge = std::string("\x81\xFF\x80\x00\x00\x00\x00\x00\x00\x05", 10) + "MASK";
  CHECK(refusal(huge) == "a frame length with its most significant bit set");
}

TEST_CASE("a client close is forwarded and ends what may follow", "[graphql-ws]") {
  gq::WsPolicer policer(allowAll);
  const std::string held = frame(kText, "{\"type\":", {.fin = false});
  const std::string close = frame(kClose, std::string("\x03\xE8", 2));
  CHECK(policer.feed(held).forward.empty());
  auto out = policer.feed(close);
  CHECK(out.forward == close);  // the unfinished message is dropped, never forwarded
  CHECK(policer.buffered() == 0);
  auto more = policer.feed(frame(kContinuation, R"("ping"})"));
  CHECK(more.forward.empty());
  REQUIRE(more.refusal);
  CHECK(more.refusal->reason.message == "a frame after the close frame");
  // An empty close frame and one with an application code (3000-4999) pass.
  CHECK(gq::WsPolicer(allowAll).feed(frame(kClose, "")).forward.size() == 6);
  CHECK_FALSE(gq::WsPolicer(allowAll).feed(frame(kClose, std::string("\x0F\xA0") + "app")).refusal);
}

TEST_CASE("lengths written in more bytes than they need are accepted", "[graphql-ws]") {
  const std::string ping = R"({"type":"ping"})";
  for (const Length length : {Length::k16, Length::k64}) {
    const std::string f = frame(kText, ping, {.length = length});
    const Outcome outcome = feedInPieces(f, 1);
    CHECK(outcome.forward == f);
    CHECK_FALSE(outcome.refusal);
  }
}

TEST_CASE("a message over the size limit or in too many frames is refused", "[graphql-ws]") {
  const std::string ping = R"({"type":"ping"})";  // 15 bytes
  gq::WsLimits small;
  small.maxMessage = ping.size();
  CHECK_FALSE(feedInPieces(text(ping), 1, small).refusal);
  const std::string over = R"({"type":"ping"} )";
  CHECK(refusal(text(over), small) == "a text message over 15 bytes");
  // Counted over the whole message, from the headers alone.
  CHECK(refusal(frame(kText, "{\"type\":", {.fin = false}) +
                    frame(kContinuation, std::string("\"ping\"} ")).substr(0, 6),
                small) == "a text message over 15 bytes");
  // The default: 64 KiB of payload.
  const std::string pad = R"({"type":"ping","pad":")";
  std::string fits = pad + std::string(64 * 1024 - pad.size() - 2, 'x') + "\"}";
  CHECK_FALSE(feedInPieces(text(fits), 4096).refusal);
  CHECK(refusal(text(fits + " ")) == "a text message over 65536 bytes");

  // 64 frames make a message; a 65th frame is refused.
  auto fragmented = [&](std::size_t frames) {
    std::string out = frame(kText, ping.substr(0, 1), {.fin = false});
    for (std::size_t i = 1; i + 1 < frames; ++i) out += frame(kContinuation, "", {.fin = false});
    return out + frame(kContinuation, ping.substr(1));
  };
  const std::string sixtyFour = fragmented(64);
  const Outcome whole = feedInPieces(sixtyFour, 1);
  CHECK_FALSE(whole.refusal);
  CHECK(whole.forward == sixtyFour);
  const std::string sixtyFive = fragmented(65);
  CHECK(refusal(sixtyFive) == "a text message in more than 64 frames");
  const Outcome tooMany = feedInPieces(sixtyFive, 7);
  REQUIRE(tooMany.refusal);
  CHECK(tooMany.refusal->reason.code == lens::ErrorCode::kLimit);
}

TEST_CASE("a held message never takes more than its payload limit plus its frame headers",
          "[graphql-ws]") {
  gq::WsLimits limits;
  limits.maxMessage = 1000;
  gq::WsPolicer policer(allowAll, limits);
  const std::string message = R"({"type":"ping","pad":")" + std::string(976, 'x') + "\"}";
  REQUIRE(message.size() == 1000);
  std::string stream;
  for (std::size_t i = 0; i < message.size(); i += 100) {
    const bool last = i + 100 >= message.size();
    stream += frame(i == 0 ? kText : kContinuation, message.substr(i, 100), {.fin = last});
  }
  std::size_t most = 0;
  std::string forwarded;
  for (std::size_t i = 0; i < stream.size(); i += 17) {
    forwarded += policer.feed(std::string_view(stream).substr(i, 17)).forward;
    most = std::max(most, policer.buffered());
  }
  CHECK(forwarded == stream);
  CHECK(most <= limits.maxMessage + 10 * 14);
  CHECK(policer.buffered() == 0);
}

TEST_CASE("a text message is UTF-8, a strict JSON object with a known string type",
          "[graphql-ws]") {
  // A character split across two frames is still one character.
  const std::string accent =
      std::string(R"({"type":"ping","payload":{"name":"caf)") + "\xC3\xA9" + R"("}})";
  const std::size_t split = accent.find('\xC3') + 1;
  const std::string twoFrames = frame(kText, accent.substr(0, split), {.fin = false}) +
                                frame(kContinuation, accent.substr(split));
  CHECK(feedInPieces(twoFrames, 1).forward == twoFrames);

  CHECK(refusal(text(std::string(R"({"type":"ping","x":")") + "\xED\xA0\x80" + "\"}")) ==
        "a text message that is not valid UTF-8");
  CHECK(refusal(text(R"({"type":"ping","type":"pong"})")) ==
        "a graphql-ws message that is not one strict JSON value: 1:16: duplicate key \"type\"");
  CHECK_THAT(refusal(text(R"({"type":"ping"} {})")),
             Catch::StartsWith("a graphql-ws message that is not one strict JSON value: 1:17:"));
  CHECK(refusal(text(R"(["ping"])")) == "a graphql-ws message that is not a JSON object");
  CHECK(refusal(text(R"({"id":"1"})")) == "a graphql-ws message without a string \"type\"");
  CHECK(refusal(text(R"({"type":1})")) == "a graphql-ws message without a string \"type\"");
  CHECK(refusal(text(R"({"type":"next","id":"1","payload":{}})")) ==
        "a graphql-ws message of the type \"next\" (a client sends connection_init, subscribe, "
        "start, ping, pong, complete, stop or connection_terminate)");
  CHECK_THAT(
      refusal(text(R"({"type":")" + std::string(100, 'z') + "\"}")),
      Catch::StartsWith("a graphql-ws message of the type \"" + std::string(40, 'z') + "...\""));
}

TEST_CASE("a subscribe must carry a document to judge", "[graphql-ws]") {
  CHECK(refusal(text(R"({"id":"1","type":"subscribe"})")) ==
        "a subscribe message without an object \"payload\"");
  CHECK(refusal(text(R"({"id":"1","type":"start","payload":"{ a }"})")) ==
        "a start message without an object \"payload\"");
  CHECK(refusal(text(R"({"id":"1","type":"subscribe","payload":{"extensions":)"
                     R"({"persistedQuery":{"version":1,"sha256Hash":"ab"}}}})")) ==
        "a subscribe message: a persisted query sent without its document (nothing to judge)");
  CHECK(refusal(text(subscribe("query A { a } query B { b }"))) ==
        "a subscribe message: the document has several operations and the request names none "
        "(operationName)");
  CHECK_THAT(refusal(text(subscribe("type Q { a: Int }"))),
             Catch::StartsWith("a subscribe message: ") && Catch::Contains("type-system"));
}

TEST_CASE("the frame boundary of the server's direction is followed byte by byte", "[graphql-ws]") {
  // Server frames: unmasked, of every length form; a masked one too.
  const std::string frames[] = {
      frame(kText, "{\"type\":\"next\"}", {.masked = false}),
      frame(kText, std::string(300, 'x'), {.masked = false}),
      frame(kText, std::string(70000, 'y'), {.masked = false}),
      frame(kPing, "", {.masked = false}),
      frame(kText, "ab", {.masked = true, .length = Length::k64}),
  };
  gq::WsFrameBoundary boundary;
  CHECK(boundary.sinceBoundary() == 0);
  for (const std::string& f : frames) {
    for (std::size_t i = 0; i + 1 < f.size(); ++i) {
      boundary.feed(f.substr(i, 1));
      REQUIRE(boundary.sinceBoundary() == i + 1);
    }
    boundary.feed(f.substr(f.size() - 1));
    CHECK(boundary.sinceBoundary() == 0);
  }
  // Whole frames at once, then half of the next.
  boundary.feed(frames[0] + frames[1] + frames[2].substr(0, 100));
  CHECK(boundary.sinceBoundary() == 100);
  boundary.feed(frames[2].substr(100));
  CHECK(boundary.sinceBoundary() == 0);
}
