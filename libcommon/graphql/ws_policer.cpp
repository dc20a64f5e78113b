#include "libcommon/graphql/ws_policer.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "libcommon/graphql/request.h"
#include "libcommon/json/document.h"
#include "libcommon/util/invariant.h"

namespace lens::graphql {

namespace {

constexpr std::uint8_t kFin = 0x80;
constexpr std::uint8_t kRsv = 0x70;
constexpr std::uint8_t kMasked = 0x80;
constexpr std::uint8_t kContinuation = 0x0;
constexpr std::uint8_t kText = 0x1;
constexpr std::uint8_t kBinary = 0x2;
constexpr std::uint8_t kClose = 0x8;
constexpr std::uint8_t kPong = 0xA;
constexpr std::size_t kMaxControlPayload = 125;
constexpr std::size_t kMaxCloseReason = kMaxControlPayload - 2;

Error invalid(std::string why) { return Error{ErrorCode::kInvalidInput, std::move(why)}; }
Error overLimit(std::string why) { return Error{ErrorCode::kLimit, std::move(why)}; }

bool isControl(std::uint8_t opcode) { return opcode >= kClose; }

// The length of the well-formed UTF-8 character (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF) at the start of `s`, or 0.
std::size_t utf8CharLength(std::string_view s) {
  const auto b0 = static_cast<std::uint8_t>(s.front());
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  std::uint8_t lo = 0x80;
  std::uint8_t hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    const auto b = static_cast<std::uint8_t>(s[i]);
    if (b < lo || b > hi) return 0;
    lo = 0x80;
    hi = 0xBF;
  }
  return n;
}

// The length of the longest prefix of `s` that is well-formed UTF-8 and at
// most `max` bytes.
std::size_t utf8Prefix(std::string_view s, std::size_t max) {
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t n = utf8CharLength(s.substr(i));
    if (n == 0 || i + n > max) break;
    i += n;
  }
  return i;
}

bool isUtf8(std::string_view s) { return utf8Prefix(s, s.size()) == s.size(); }

// A client's text for a reason: at most 40 bytes of it, cut at a character.
std::string shortened(std::string_view s) {
  constexpr std::size_t kMax = 40;
  const std::size_t n = utf8Prefix(s, kMax);
  return std::string(s.substr(0, n)) + (n < s.size() ? "..." : "");
}

// The payload of one frame, `masked`, unmasked with its key (which starts
// over with each frame) and appended to `out`.
void unmaskInto(std::string& out, std::string_view masked,
                const std::array<std::uint8_t, 4>& mask) {
  for (std::size_t i = 0; i < masked.size(); ++i)
    out += static_cast<char>(static_cast<std::uint8_t>(masked[i]) ^ mask[i % 4]);
}

bool isSentCloseCode(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

}  // namespace

std::string wsCloseFrame(std::uint16_t code, std::string_view reason) {
  const std::size_t n = utf8Prefix(reason, kMaxCloseReason);
  std::string frame;
  frame += static_cast<char>(kFin | kClose);
  frame += static_cast<char>(2 + n);
  frame += static_cast<char>(code >> 8);
  frame += static_cast<char>(code & 0xFF);
  frame.append(reason.substr(0, n));
  return frame;
}

WsPolicer::WsPolicer(WsJudge judge, WsLimits limits)
    : judge_(std::move(judge)), limits_(std::move(limits)) {
  LENS_INVARIANT(static_cast<bool>(judge_), "a WebSocket policer has a judge for operations");
}

std::size_t WsPolicer::buffered() const { return headerBytes_ + message_.size() + control_.size(); }

WsOutput WsPolicer::feed(std::string_view bytes) {
  WsOutput out;
  std::size_t i = 0;
  while (i < bytes.size() && state_ != State::kRefused) {
    std::optional<Error> error;
    switch (state_) {
      case State::kHeader:
        LENS_INVARIANT(headerBytes_ < header_.size(), "a frame header is at most 14 bytes");
        header_[headerBytes_++] = static_cast<std::uint8_t>(bytes[i++]);
        if (headerBytes_ == 2) error = startHeader();
        if (!error && headerBytes_ >= 2 && headerBytes_ == headerSize()) {
          error = finishHeader();
          if (!error && payloadLeft_ == 0) error = finishFrame(out);
        }
        break;
      case State::kPayload: {
        const auto take =
            static_cast<std::size_t>(std::min<std::uint64_t>(payloadLeft_, bytes.size() - i));
        (isControl(opcode_) ? control_ : message_).append(bytes.substr(i, take));
        i += take;
        payloadLeft_ -= take;
        if (payloadLeft_ == 0) error = finishFrame(out);
        break;
      }
      case State::kClosed:
        error = invalid("a frame after the close frame");
        break;
      case State::kRefused:
        break;
    }
    if (error) refuse(out, std::move(*error));
  }
  return out;
}

std::size_t WsPolicer::headerSize() const {
  const std::uint8_t length = header_[1] & 0x7F;
  return 2 + (length == 126 ? 2 : length == 127 ? 8 : 0) + 4;  // every client frame is masked
}

std::optional<Error> WsPolicer::startHeader() {
  fin_ = (header_[0] & kFin) != 0;
  opcode_ = header_[0] & 0x0F;
  const std::uint8_t length = header_[1] & 0x7F;
  if ((header_[0] & kRsv) != 0)
    return invalid("a frame with an RSV bit set (no extension is in use)");
  if ((opcode_ > kBinary && opcode_ < kClose) || opcode_ > kPong) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    return invalid(std::string("a frame with the reserved opcode 0x") + kHex[opcode_]);
  }
  if (opcode_ == kBinary) return invalid("a binary frame (graphql-ws messages are text)");
  if ((header_[1] & kMasked) == 0)
    return invalid("an unmasked frame (a client masks every frame, RFC 6455 section 5.1)");
  if (isControl(opcode_)) {
    if (!fin_) return invalid("a fragmented control frame");
    if (length > kMaxControlPayload) return invalid("a control frame over 125 bytes");
    return std::nullopt;
  }
  if (opcode_ == kContinuation && !inMessage_)
    return invalid("a continuation frame without a message to continue");
  if (opcode_ == kText && inMessage_)
    return invalid("a new text frame inside an unfinished message");
  if (fragments_.size() >= limits_.maxFragments)
    return overLimit("a text message in more than " + std::to_string(limits_.maxFragments) +
                     " frames");
  return std::nullopt;
}

std::optional<Error> WsPolicer::finishHeader() {
  const std::uint8_t length = header_[1] & 0x7F;
  std::uint64_t size = length;
  if (length >= 126) {
    const std::size_t digits = length == 126 ? 2 : 8;
    size = 0;
    for (std::size_t k = 0; k < digits; ++k) size = size << 8 | header_[2 + k];
    if (size >> 63 != 0) return invalid("a frame length with its most significant bit set");
  }
  payloadLeft_ = size;
  const std::string_view header(reinterpret_cast<const char*>(header_.data()), headerBytes_);
  headerBytes_ = 0;
  if (isControl(opcode_)) {
    control_.assign(header);
  } else {
    if (size > limits_.maxMessage - messageBytes_)
      return overLimit("a text message over " + std::to_string(limits_.maxMessage) + " bytes");
    inMessage_ = true;
    messageBytes_ += static_cast<std::size_t>(size);
    message_.append(header);
    Fragment fragment;
    fragment.offset = message_.size();
    fragment.size = static_cast<std::size_t>(size);
    std::copy_n(header_.begin() + static_cast<std::ptrdiff_t>(header.size()) - 4, 4,
                fragment.mask.begin());
    fragments_.push_back(fragment);
  }
  state_ = State::kPayload;
  return std::nullopt;
}

std::optional<Error> WsPolicer::finishFrame(WsOutput& out) {
  state_ = State::kHeader;
  if (isControl(opcode_)) return finishControl(out);
  if (!fin_) return std::nullopt;
  if (auto error = judgeMessage()) return error;
  out.forward += message_;
  message_.clear();
  fragments_.clear();
  messageBytes_ = 0;
  inMessage_ = false;
  return std::nullopt;
}

std::optional<Error> WsPolicer::finishControl(WsOutput& out) {
  LENS_INVARIANT(control_.size() >= 6, "a control frame held with its masked header");
  if (opcode_ == kClose) {
    std::array<std::uint8_t, 4> mask = {};
    std::copy_n(control_.begin() + 2, 4, mask.begin());  // a control frame's header is 6 bytes
    std::string payload;
    unmaskInto(payload, std::string_view(control_).substr(6), mask);
    if (payload.size() == 1) return invalid("a close frame with a 1-byte payload");
    if (payload.size() >= 2) {
      const auto code = static_cast<std::uint16_t>(static_cast<std::uint8_t>(payload[0]) << 8 |
                                                   static_cast<std::uint8_t>(payload[1]));
      if (!isSentCloseCode(code))
        return invalid("a close frame with the code " + std::to_string(code));
      if (!isUtf8(std::string_view(payload).substr(2)))
        return invalid("a close frame whose reason is not UTF-8");
    }
    // Nothing may follow a close frame: what is held is never forwarded.
    state_ = State::kClosed;
    message_.clear();
    fragments_.clear();
    messageBytes_ = 0;
    inMessage_ = false;
  }
  out.forward += control_;
  control_.clear();
  return std::nullopt;
}

std::optional<Error> WsPolicer::judgeMessage() {
  std::string text;
  text.reserve(messageBytes_);
  for (const Fragment& f : fragments_)
    unmaskInto(text, std::string_view(message_).substr(f.offset, f.size), f.mask);
  if (!isUtf8(text)) return invalid("a text message that is not valid UTF-8");

  json::JsonLimits jl;
  jl.maxBytes = limits_.maxMessage;
  jl.maxDepth = 32;
  jl.maxString = limits_.maxMessage;
  auto parsed = json::Document::parse(text, jl);
  if (const auto* e = std::get_if<json::ParseError>(&parsed)) {
    return invalid(
        "a graphql-ws message that is not one strict JSON value: " + std::to_string(e->pos.line) +
        ":" + std::to_string(e->pos.column) + ": " + e->message);
  }
  const json::Value& root = std::get<json::Document>(parsed).root();
  if (!root.isObject()) return invalid("a graphql-ws message that is not a JSON object");
  const json::Value* type = root.find("type");
  if (!type || !type->isString()) return invalid("a graphql-ws message without a string \"type\"");
  const std::string_view t = type->text();
  if (t == "connection_init" || t == "connection_terminate" || t == "ping" || t == "pong" ||
      t == "complete" || t == "stop")
    return std::nullopt;
  if (t != "subscribe" && t != "start")
    return invalid("a graphql-ws message of the type \"" + shortened(t) +
                   "\" (a client sends connection_init, subscribe, start, ping, pong, "
                   "complete, stop or connection_terminate)");

  const json::Value* payload = root.find("payload");
  if (!payload || !payload->isObject())
    return invalid("a " + std::string(t) + " message without an object \"payload\"");
  auto operation = objectOperation(*payload, limits_.document);
  if (!operation)
    return Error{operation.error().code,
                 "a " + std::string(t) + " message: " + operation.error().message};
  Status verdict = judge_(*operation);
  if (verdict) return std::nullopt;
  Error refusal = verdict.error();
  if (refusal.message.empty()) {
    const std::string name =
        operation->name.empty() ? "an anonymous " : "the " + shortened(operation->name) + " ";
    refusal.message = name + std::string(toString(operation->type)) + " is not allowed";
  }
  return refusal;
}

void WsPolicer::refuse(WsOutput& out, Error reason) {
  state_ = State::kRefused;
  headerBytes_ = 0;
  payloadLeft_ = 0;
  std::string().swap(message_);
  std::vector<Fragment>().swap(fragments_);
  std::string().swap(control_);
  messageBytes_ = 0;
  inMessage_ = false;
  std::string frame = wsCloseFrame(kWsPolicyViolation, reason.message);
  out.refusal = WsRefusal{std::move(reason), std::move(frame)};
}

void WsFrameBoundary::feed(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (inPayload_) {
      const auto take =
          static_cast<std::size_t>(std::min<std::uint64_t>(payloadLeft_, bytes.size() - i));
      i += take;
      since_ += take;
      payloadLeft_ -= take;
    } else {
      header_[headerBytes_++] = static_cast<std::uint8_t>(bytes[i++]);
      ++since_;
      if (headerBytes_ == 2) {
        const std::uint8_t length = header_[1] & 0x7F;
        headerSize_ = 2 +
                      (length == 126   ? 2
                       : length == 127 ? 8
                                       : 0) +
                      ((header_[1] & kMasked) != 0 ? 4 : 0);
      }
      if (headerBytes_ < 2 || headerBytes_ < headerSize_) continue;
      const std::uint8_t length = header_[1] & 0x7F;
      std::uint64_t size = length;
      if (length >= 126) {
        size = 0;
        for (std::size_t k = 0; k < (length == 126 ? 2u : 8u); ++k)
          size = size << 8 | header_[2 + k];
      }
      payloadLeft_ = size;
      headerBytes_ = 0;
      headerSize_ = 2;
      inPayload_ = true;
    }
    if (inPayload_ && payloadLeft_ == 0) {
      inPayload_ = false;
      since_ = 0;
    }
  }
}

}  // namespace lens::graphql
