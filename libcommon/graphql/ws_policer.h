#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/graphql/document.h"
#include "libcommon/util/result.h"

namespace lens::graphql {

// The client-to-server direction of a GraphQL-over-WebSocket connection after
// the 101 upgrade, as a proxy polices it: RFC 6455 frames carrying the
// graphql-transport-ws protocol (graphql-ws) or the legacy
// subscriptions-transport-ws one. Pure: bytes in, bytes out, no I/O.
//
// Data frames are held until the text message they belong to is complete
// and judged, then forwarded as they came (masked, byte for byte). Control
// frames (close, ping, pong) are forwarded as soon as they are complete and
// valid, between the fragments of a held message too. The proxy must not
// let the upgrade negotiate an extension (permessage-deflate): a frame with
// an RSV bit set is refused.
//
// Each complete text message is valid UTF-8 and one strict JSON object
// (duplicate keys, trailing bytes refused) with a string "type":
// connection_init, connection_terminate, ping, pong, complete and stop pass;
// subscribe (graphql-ws) and start (legacy) carry in "payload" a request
// object (query, operationName, variables, extensions) whose operation the
// judge allows or refuses (a payload without a document, a persisted query,
// is refused: there is nothing to judge); any other type is refused.
//
// Refused, and the policer stays refused: an unmasked frame, an RSV bit, a
// reserved opcode (0x3-0x7, 0xB-0xF), a binary frame, a continuation
// without a message, a new text frame inside an unfinished message, a
// fragmented control frame or one over 125 bytes, a close frame with a
// 1-byte payload, a code that is never sent (below 1000, 1004-1006, 1015,
// 1016-2999, 5000 and above) or a reason that is not UTF-8, a 64-bit length
// with its most significant bit set, a message over WsLimits::maxMessage or
// in more than WsLimits::maxFragments frames (kLimit), any frame after a
// close frame, and every message the paragraph above does not let pass.
// Lengths written in more bytes than they need are accepted.
//
// Memory: a held message takes at most maxMessage payload bytes plus one
// frame header (at most 14 bytes) per fragment; a control frame at most
// 131 bytes.

struct WsLimits {
  std::size_t maxMessage = 64 * 1024;  // payload bytes of one text message, reassembled
  std::size_t maxFragments = 64;       // frames of one text message
  Limits document;                     // the GraphQL document of a subscribe or start
};

// Says whether an operation a subscribe or start message runs is allowed:
// Ok, or the refusal (kDenied, with the reason the client is told).
using WsJudge = std::function<Status(const Operation& operation)>;

// The status code of a close frame sent for a refusal (RFC 6455 section 7.4.1).
inline constexpr std::uint16_t kWsPolicyViolation = 1008;

// A close frame from the server to the client (unmasked, FIN set): the code
// in network order, then the longest prefix of `reason` that is valid UTF-8
// and at most 123 bytes (the frame's payload stays within 125).
[[nodiscard]] std::string wsCloseFrame(std::uint16_t code, std::string_view reason);

struct WsRefusal {
  Error reason;            // kInvalidInput, kLimit, or what the judge said
  std::string closeFrame;  // to the client before dropping both sockets: 1008, the reason
};

struct WsOutput {
  std::string forward;               // to the server, verbatim: whole frames only, in order
  std::optional<WsRefusal> refusal;  // after the forward bytes, which stay allowed
};

class WsPolicer {
 public:
  explicit WsPolicer(WsJudge judge, WsLimits limits = {});

  // The next bytes from the client, split anyhow. The output depends only on
  // the bytes, not on how they are split. Once refused, a feed returns
  // nothing.
  [[nodiscard]] WsOutput feed(std::string_view bytes);

  [[nodiscard]] bool refused() const { return state_ == State::kRefused; }
  // Bytes held back: a partial frame header, the frames of an unfinished
  // message, a partial control frame.
  [[nodiscard]] std::size_t buffered() const;

 private:
  enum class State : std::uint8_t {
    kHeader,   // reading a frame header into header_
    kPayload,  // reading payloadLeft_ bytes of a frame
    kClosed,   // a close frame was forwarded: nothing may follow
    kRefused,
  };
  // Where one fragment's payload lies in message_, and its masking key.
  struct Fragment {
    std::size_t offset = 0;
    std::size_t size = 0;
    std::array<std::uint8_t, 4> mask = {};
  };

  // Each returns an error to refuse with, or nullopt to go on.
  std::optional<Error> startHeader();   // the first two bytes are in header_
  std::optional<Error> finishHeader();  // header_ is complete
  std::optional<Error> finishFrame(WsOutput& out);
  std::optional<Error> finishControl(WsOutput& out);
  std::optional<Error> judgeMessage();
  [[nodiscard]] std::size_t headerSize() const;
  void refuse(WsOutput& out, Error reason);

  WsJudge judge_;
  WsLimits limits_;
  State state_ = State::kHeader;

  std::array<std::uint8_t, 14> header_ = {};  // the longest header: 2 + 8 + 4
  std::size_t headerBytes_ = 0;
  bool fin_ = false;
  std::uint8_t opcode_ = 0;
  std::uint64_t payloadLeft_ = 0;

  bool inMessage_ = false;  // a text message has begun and not finished
  std::string message_;     // its frames as received (headers and masked payloads)
  std::vector<Fragment> fragments_;
  std::size_t messageBytes_ = 0;  // its payload bytes so far, counting the current frame
  std::string control_;           // the control frame being read, as received
};

// Follows the frames of the other direction (server to client) without
// holding them, so that a proxy relaying it knows where a frame of its own
// (the close of a refusal) may go: between two frames, never inside one.
// Any frame shape is followed (masked or not, any opcode); a 64-bit length
// with its most significant bit set is followed as the frame that never
// ends.
class WsFrameBoundary {
 public:
  void feed(std::string_view bytes);
  // The bytes fed since the last frame ended: 0 at a boundary.
  [[nodiscard]] std::uint64_t sinceBoundary() const { return since_; }

 private:
  std::array<std::uint8_t, 14> header_ = {};
  std::size_t headerBytes_ = 0;
  std::size_t headerSize_ = 2;  // known once the first two bytes are in
  std::uint64_t payloadLeft_ = 0;
  bool inPayload_ = false;
  std::uint64_t since_ = 0;
};

}  // namespace lens::graphql
