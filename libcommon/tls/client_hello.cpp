#include "libcommon/tls/client_hello.h"

#include <algorithm>
#include <array>

#include "libcommon/util/strings.h"

namespace lens::tls {

namespace {

constexpr std::uint8_t kRecordHandshake = 0x16;
constexpr std::uint8_t kHandshakeClientHello = 0x01;
constexpr std::size_t kRecordHeader = 5;
constexpr std::size_t kMaxRecord =
    16384 + 2048;  // TLSPlaintext limit plus the compression allowance
constexpr std::uint16_t kExtServerName = 0x0000;
constexpr std::uint16_t kExtAlpn = 0x0010;  // application_layer_protocol_negotiation
constexpr std::uint8_t kNameTypeHost = 0x00;
constexpr std::size_t kMaxHostName = 253;

// A bounds-checked cursor over bytes: every read says whether it fitted.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  [[nodiscard]] std::size_t left() const { return bytes_.size() - at_; }
  [[nodiscard]] bool empty() const { return left() == 0; }
  bool u8(std::uint8_t& out) {
    if (left() < 1) return false;
    out = static_cast<std::uint8_t>(bytes_[at_++]);
    return true;
  }
  bool u16(std::uint16_t& out) {
    if (left() < 2) return false;
    out = static_cast<std::uint16_t>(static_cast<std::uint8_t>(bytes_[at_]) << 8 |
                                     static_cast<std::uint8_t>(bytes_[at_ + 1]));
    at_ += 2;
    return true;
  }
  bool u24(std::uint32_t& out) {
    if (left() < 3) return false;
    out = static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes_[at_])) << 16 |
          static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes_[at_ + 1])) << 8 |
          static_cast<std::uint8_t>(bytes_[at_ + 2]);
    at_ += 3;
    return true;
  }
  bool skip(std::size_t n) {
    if (left() < n) return false;
    at_ += n;
    return true;
  }
  bool take(std::size_t n, std::string_view& out) {
    if (left() < n) return false;
    out = bytes_.substr(at_, n);
    at_ += n;
    return true;
  }
  // A vector with a 1- or 2-byte length prefix.
  bool vector8(std::string_view& out) {
    std::uint8_t n = 0;
    return u8(n) && take(n, out);
  }
  bool vector16(std::string_view& out) {
    std::uint16_t n = 0;
    return u16(n) && take(n, out);
  }

 private:
  std::string_view bytes_;
  std::size_t at_ = 0;
};

HelloResult invalid(std::string why) {
  HelloResult r;
  r.status = HelloStatus::kInvalid;
  r.error = std::move(why);
  return r;
}

bool hostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

// RFC 6066 section 3: a DNS host name, ASCII, no trailing dot.
bool validHostName(std::string_view name) {
  if (name.empty() || name.size() > kMaxHostName) return false;
  std::size_t label = 0;
  for (char c : name) {
    if (!hostChar(c)) return false;
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (++label > 63) {
      return false;
    }
  }
  return label != 0;
}

HelloResult parseServerName(std::string_view data, ClientHello& hello) {
  Reader r(data);
  std::string_view list;
  if (!r.vector16(list) || !r.empty() || list.empty())
    return invalid("malformed server_name extension");
  Reader names(list);
  while (!names.empty()) {
    std::uint8_t type = 0;
    std::string_view name;
    if (!names.u8(type) || !names.vector16(name)) return invalid("malformed server_name list");
    if (type != kNameTypeHost) continue;  // unknown name types are skipped (none is defined)
    if (hello.serverName) return invalid("more than one host_name in server_name");
    if (!validHostName(name)) return invalid("server_name is not a valid host name");
    hello.serverName = util::toLower(name);
  }
  return HelloResult{HelloStatus::kComplete, {}, {}};
}

// RFC 7301 section 3.1: a non-empty list of non-empty protocol names.
HelloResult parseAlpn(std::string_view data, ClientHello& hello) {
  Reader r(data);
  std::string_view list;
  if (!r.vector16(list) || !r.empty() || list.empty())
    return invalid("malformed application_layer_protocol_negotiation extension");
  Reader names(list);
  while (!names.empty()) {
    std::string_view name;
    if (!names.vector8(name) || name.empty()) return invalid("malformed ALPN protocol list");
    hello.alpn.emplace_back(name);
  }
  return HelloResult{HelloStatus::kComplete, {}, {}};
}

HelloResult parseBody(std::string_view body, ClientHello hello) {
  Reader r(body);
  std::string_view ignored;
  if (!r.u16(hello.legacyVersion) || !r.skip(32)) return invalid("ClientHello too short");
  if ((hello.legacyVersion >> 8) != 0x03) return invalid("ClientHello version is not 3.x");
  std::string_view sessionId;
  if (!r.vector8(sessionId) || sessionId.size() > 32) return invalid("malformed session id");
  std::string_view suites;
  if (!r.vector16(suites) || suites.empty() || suites.size() % 2 != 0)
    return invalid("malformed cipher suites");
  std::string_view compression;
  if (!r.vector8(compression) || compression.empty())
    return invalid("malformed compression methods");
  if (r.empty()) {  // no extensions: allowed, and no SNI
    HelloResult done;
    done.status = HelloStatus::kComplete;
    done.hello = std::move(hello);
    return done;
  }
  std::string_view extensions;
  if (!r.vector16(extensions) || !r.empty()) return invalid("malformed extensions block");
  Reader ext(extensions);
  // Each extension type at most once (RFC 8446 section 4.2); 65,536 bits.
  std::array<std::uint64_t, 1024> seen{};
  while (!ext.empty()) {
    std::uint16_t type = 0;
    std::string_view data;
    if (!ext.u16(type) || !ext.vector16(data)) return invalid("extension overruns its block");
    std::uint64_t& word = seen[type / 64];
    const std::uint64_t bit = std::uint64_t{1} << (type % 64);
    if ((word & bit) != 0) return invalid("repeated extension");
    word |= bit;
    if (type == kExtServerName) {
      HelloResult sni = parseServerName(data, hello);
      if (sni.status != HelloStatus::kComplete) return sni;
    } else if (type == kExtAlpn) {
      HelloResult alpn = parseAlpn(data, hello);
      if (alpn.status != HelloStatus::kComplete) return alpn;
    }
  }
  HelloResult done;
  done.status = HelloStatus::kComplete;
  done.hello = std::move(hello);
  return done;
}

}  // namespace

std::optional<bool> looksLikeTls(std::string_view prefix) {
  const std::array<std::uint8_t, 2> head{kRecordHandshake, 0x03};
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (i >= prefix.size()) return std::nullopt;
    if (static_cast<std::uint8_t>(prefix[i]) != head[i]) return false;
  }
  if (prefix.size() < 3) return std::nullopt;
  return static_cast<std::uint8_t>(prefix[2]) <= 0x04;
}

HelloResult parseClientHello(std::string_view bytes, const HelloLimits& limits) {
  // Gather the handshake fragments of the records until the message is whole.
  std::string message;
  std::size_t at = 0;
  std::size_t need = 0;  // the handshake message's size once its header is in
  const auto needMore = [](std::size_t waitFor) {
    HelloResult r;
    r.waitFor = waitFor;
    return r;
  };
  for (;;) {
    if (need != 0 && message.size() >= need) break;
    if (bytes.size() - at < kRecordHeader) {
      if (auto tls = looksLikeTls(bytes.substr(at)); tls && !*tls)
        return invalid("not a TLS handshake record");
      // The next record's header, and at least the rest of the message (or
      // a byte) after it.
      return needMore(at + kRecordHeader + (need != 0 ? need - message.size() : 1));
    }
    Reader header(bytes.substr(at, kRecordHeader));
    std::uint8_t type = 0;
    std::uint16_t version = 0;
    std::uint16_t length = 0;
    (void)header.u8(type);
    (void)header.u16(version);
    (void)header.u16(length);
    if (type != kRecordHandshake) return invalid("not a TLS handshake record");
    if ((version >> 8) != 0x03 || (version & 0xff) > 0x04)
      return invalid("TLS record version is not 3.0-3.4");
    if (length == 0 || length > kMaxRecord) return invalid("TLS record length out of range");
    const bool partial = bytes.size() - at - kRecordHeader < length;
    const std::size_t recordEnd = at + kRecordHeader + length;
    if (partial && need != 0) return needMore(recordEnd);
    // A partial record still shows the handshake header early: refuse
    // what is not a ClientHello, or too large, before waiting for it.
    const std::string_view fragment = bytes.substr(at + kRecordHeader, length);
    std::string head;  // only for a partial record before the header is known
    if (partial) {
      head = message;
      head.append(fragment.substr(0, 4));
      if (head.size() < 4)
        return needMore(std::min(recordEnd, at + kRecordHeader + 4 - message.size()));
    } else {
      message.append(fragment);
      at += kRecordHeader + length;
    }
    if (need == 0 && (partial ? head.size() : message.size()) >= 4) {
      Reader h(partial ? std::string_view(head) : std::string_view(message));
      std::uint8_t htype = 0;
      std::uint32_t hlength = 0;
      (void)h.u8(htype);
      (void)h.u24(hlength);
      if (htype != kHandshakeClientHello)
        return invalid("first handshake message is not a ClientHello");
      if (hlength > limits.maxHandshakeBytes) {
        HelloResult r;
        r.status = HelloStatus::kTooLarge;
        r.error = "ClientHello of " + std::to_string(hlength) + " bytes is over the limit of " +
                  std::to_string(limits.maxHandshakeBytes);
        return r;
      }
      if (hlength == 0) return invalid("empty ClientHello");
      need = 4 + hlength;
    }
    if (partial) return needMore(recordEnd);
  }
  // Bytes after the ClientHello inside its last record would be another
  // handshake message, which a client does not send before the server answers.
  if (message.size() != need) return invalid("data after the ClientHello in its record");
  ClientHello hello;
  hello.bytes = at;
  return parseBody(std::string_view(message).substr(4), std::move(hello));
}

}  // namespace lens::tls
