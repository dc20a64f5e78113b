#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lens::tls {

// What a TLS client sends first, read without terminating TLS: enough to
// route a redirected connection by the name it asks for (lens-tproxy).
struct ClientHello {
  std::uint16_t legacyVersion = 0;  // client_version / legacy_version (0x0303 for 1.2 and 1.3)
  std::optional<std::string> serverName;  // the SNI host_name, lower-cased; nullopt: no SNI
  // The application protocols the client offers (ALPN), in its order of
  // preference; empty: no ALPN extension.
  std::vector<std::string> alpn;
  std::size_t bytes = 0;  // record bytes that carried the ClientHello
};

enum class HelloStatus : std::uint8_t {
  kComplete,  // `hello` is filled in
  kNeedMore,  // the bytes so far are a valid beginning; read more
  kInvalid,   // not a ClientHello we accept (see `error`)
  kTooLarge,  // the handshake message is larger than the limit
};

struct HelloResult {
  HelloStatus status = HelloStatus::kNeedMore;
  ClientHello hello;
  std::string error;  // for kInvalid and kTooLarge; never quotes the bytes
  // kNeedMore: no ClientHello can be complete before there are at least
  // this many bytes (the end of the record being read, or a lower bound on
  // the records the message still needs). A reader parses again only then:
  // a ClientHello sent in tiny records costs a few dozen parses, not one per
  // record (bytes that make it invalid meanwhile are found at that parse).
  std::size_t waitFor = 0;
};

struct HelloLimits {
  // The largest ClientHello handshake message accepted. Post-quantum key
  // shares make real ones about 1.8 KiB; 16 KiB leaves room.
  std::size_t maxHandshakeBytes = 16 * 1024;
};

// Parses the TLS records at the start of `bytes` (everything the client has
// sent so far) as one ClientHello handshake message, which may be split
// across several handshake records and across reads. Every length is
// checked against what encloses it, so arbitrary input (untrusted, possibly
// truncated) is safe. Rejected: a record type other than handshake, a record
// version outside 3.0-3.4, an empty or oversized record, a handshake type
// other than ClientHello, malformed vectors (session id over 32 bytes, odd
// cipher suite length, no compression method), extensions that overrun
// their block or repeat, and a server_name extension that is malformed, has
// more than one host_name, or names something that is not a host name
// (letters, digits, '-', '_' and dots; no empty label; at most 253 bytes; no
// trailing dot), and an ALPN extension whose list is empty, overruns, or
// holds an empty protocol name (RFC 7301 section 3.1). A ClientHello without extensions, or without
// server_name, is complete with no serverName.
[[nodiscard]] HelloResult parseClientHello(std::string_view bytes, const HelloLimits& limits = {});

// Whether the first bytes a client sent can start a TLS handshake record
// (0x16 0x03 0x00..0x04): true, false, or nullopt when too few bytes say.
[[nodiscard]] std::optional<bool> looksLikeTls(std::string_view prefix);

}  // namespace lens::tls
