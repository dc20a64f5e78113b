// libFuzzer target: the server side of interception fed with arbitrary
// client bytes, as lens-proxy and lens-tproxy feed what they already read
// (the CONNECT's trailing bytes, the peeked ClientHello) to a TlsStream
// server presenting a minted leaf, then read from it.
//
// Besides crashes, leaks and sanitizer reports, the target aborts when an
// invariant breaks:
//   - the handshake never succeeds on bytes that cannot be a client's
//     whole flight (a client must finish its side: no TLS 1.3 or 1.2
//     handshake completes from a ClientHello alone);
//   - a failed handshake says why (error() is not empty);
//   - the stream never returns more bytes than asked.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "libcommon/proxy/stream.h"
#include "libcommon/tls/ca.h"
#include "libcommon/tls/leaf_cache.h"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

// One CA and one leaf for the whole run, made in a directory removed at exit.
struct Leaf {
  std::filesystem::path dir;
  std::shared_ptr<ssl_ctx_st> context;
  std::unique_ptr<lens::tls::LeafCache> cache;
  Leaf() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "lens-fuzz-ca-XXXXXX").string();
    dir = ::mkdtemp(tmpl.data());
    check(static_cast<bool>(lens::tls::initCa(dir.string(), 30, false)), "the fuzz CA is created");
    auto ca = lens::tls::SigningCa::load(dir.string());
    check(static_cast<bool>(ca), "the fuzz CA loads");
    cache = std::make_unique<lens::tls::LeafCache>(*ca, lens::tls::LeafOptions{});
    auto made = cache->context("fuzz.example.test");
    check(static_cast<bool>(made), "a leaf is minted");
    context = *made;
  }
  ~Leaf() { std::filesystem::remove_all(dir); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Leaf leaf;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return 0;
  lens::util::UniqueFd peer(fds[1]);  // open and silent: reads after the input would block
  auto inner = std::make_unique<lens::proxy::SocketStream>(lens::util::UniqueFd(fds[0]));
  auto server = lens::proxy::TlsStream::server(
      std::move(inner), leaf.context, std::string(reinterpret_cast<const char*>(data), size));
  check(server != nullptr, "a server stream is made");
  lens::proxy::IoResult r{};
  for (int i = 0; i < 4; ++i) {
    r = server->handshake();
    if (r.status != lens::proxy::IoStatus::kWouldBlock) break;
  }
  check(r.status != lens::proxy::IoStatus::kOk, "no handshake completes from client bytes alone");
  if (r.status == lens::proxy::IoStatus::kError)
    check(!server->error().empty(), "a failed handshake says why");
  char buf[512];
  const lens::proxy::IoResult read = server->read(buf, sizeof buf);
  check(read.bytes <= sizeof buf, "a read returns at most what was asked");
  return 0;
}
