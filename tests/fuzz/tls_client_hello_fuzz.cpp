// libFuzzer target: what lens-tproxy does with the first bytes of a
// redirected connection that looks like TLS: parse them as the records of a
// ClientHello (tls::parseClientHello), as they arrive.
//
// Besides crashes and sanitizer reports, the target aborts when an invariant
// breaks:
//   - a complete ClientHello used no more bytes than given, and the same
//     bytes alone give the same answer, one byte less asks for more, and
//     more bytes after it change nothing (the answer depends only on them);
//   - a server name is a lower-case host name (letters, digits, '-', '_',
//     dots), at most 253 bytes; an ALPN protocol is 1-255 bytes, and the
//     same bytes alone give the same list;
//   - a prefix of the input is never complete unless the whole is (the
//     answer does not flip as bytes arrive), and never invalid when the
//     whole is complete or still incomplete;
//   - bytes that cannot start a TLS record are never accepted;
//   - waitFor of an incomplete answer lies beyond the bytes given, and no
//     ClientHello completes before it (a reader may skip parsing until then).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "libcommon/tls/client_hello.h"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using lens::tls::HelloStatus;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  lens::tls::HelloLimits limits;
  limits.maxHandshakeBytes = 4096;
  const auto whole = lens::tls::parseClientHello(input, limits);
  if (auto tls = lens::tls::looksLikeTls(input); tls && !*tls) {
    check(whole.status == HelloStatus::kInvalid, "non-TLS bytes are invalid");
  }
  if (whole.status == HelloStatus::kComplete) {
    const std::size_t used = whole.hello.bytes;
    check(used >= 5 && used <= input.size(), "a ClientHello uses the bytes it was given");
    const auto exact = lens::tls::parseClientHello(input.substr(0, used), limits);
    check(exact.status == HelloStatus::kComplete &&
              exact.hello.serverName == whole.hello.serverName &&
              exact.hello.alpn == whole.hello.alpn && exact.hello.bytes == used,
          "the ClientHello's own bytes give the same answer");
    check(lens::tls::parseClientHello(input.substr(0, used - 1), limits).status ==
              HelloStatus::kNeedMore,
          "one byte less asks for more");
    const std::string more = std::string(input) + "\x16\x03\x01\x00\x01\x01";
    const auto after = lens::tls::parseClientHello(more, limits);
    check(after.status == HelloStatus::kComplete && after.hello.bytes == used,
          "bytes after the ClientHello change nothing");
    if (whole.hello.serverName) {
      const std::string& name = *whole.hello.serverName;
      check(!name.empty() && name.size() <= 253, "a server name has a sane length");
      for (char c : name) {
        check((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.',
              "a server name is a lower-case host name");
      }
    }
  }
  if (whole.status == HelloStatus::kComplete) {
    for (const std::string& protocol : whole.hello.alpn) {
      check(!protocol.empty() && protocol.size() <= 255, "an ALPN protocol has a sane length");
    }
  }
  // Prefixes, at a few cut points: the answer never flips as bytes arrive.
  for (std::size_t cut : {size / 4, size / 2, size - size / 8}) {
    if (cut == 0 || cut >= size) continue;
    const auto part = lens::tls::parseClientHello(input.substr(0, cut), limits);
    if (part.status == HelloStatus::kComplete) {
      check(whole.status == HelloStatus::kComplete && whole.hello.bytes == part.hello.bytes,
            "a complete prefix stays complete");
    }
    if (part.status == HelloStatus::kInvalid || part.status == HelloStatus::kTooLarge) {
      check(whole.status == part.status, "a refused prefix stays refused");
    }
    if (part.status == HelloStatus::kNeedMore) {
      check(part.waitFor > cut, "waitFor lies beyond the bytes given");
      if (part.waitFor > size) {
        check(whole.status != HelloStatus::kComplete,
              "no ClientHello completes before waitFor bytes");
      }
    }
  }
  return 0;
}
