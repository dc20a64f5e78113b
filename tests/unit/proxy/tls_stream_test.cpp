// TlsStream as client and server over non-blocking sockets, and over
// another TLS stream (the origin's TLS inside an https upstream proxy's).
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "libcommon/proxy/stream.h"
#include "libcommon/tls/ca.h"
#include "libcommon/tls/leaf_cache.h"
#include "tests/unit/temp_dir.h"

namespace {

using lens::proxy::IoStatus;
using lens::proxy::SocketStream;
using lens::proxy::Stream;
using lens::proxy::TlsClientConfig;
using lens::proxy::TlsStream;

struct Pair {
  std::unique_ptr<Stream> a;
  std::unique_ptr<Stream> b;
};

Pair socketPair() {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
  return {std::make_unique<SocketStream>(lens::util::UniqueFd(fds[0])),
          std::make_unique<SocketStream>(lens::util::UniqueFd(fds[1]))};
}

struct Fixture {
  lens::test::TempDir dir;
  std::unique_ptr<lens::tls::LeafCache> leaves;
  std::shared_ptr<TlsClientConfig> trust;
  Fixture() {
    auto made = lens::tls::initCa(dir.path.string(), 30, false);
    REQUIRE(made);
    auto ca = lens::tls::SigningCa::load(dir.path.string());
    REQUIRE(ca);
    leaves = std::make_unique<lens::tls::LeafCache>(*ca, lens::tls::LeafOptions{});
    auto config = TlsClientConfig::create(made->info.certPem, "test CA");
    REQUIRE(config);
    trust = *config;
  }
};

// Drives both handshakes until each is done or failed; the status of each.
std::pair<IoStatus, IoStatus> handshake(TlsStream& client, TlsStream& server) {
  IoStatus c = IoStatus::kWouldBlock;
  IoStatus s = IoStatus::kWouldBlock;
  for (int i = 0; i < 100 && (c == IoStatus::kWouldBlock || s == IoStatus::kWouldBlock); ++i) {
    if (c == IoStatus::kWouldBlock) c = client.handshake().status;
    if (s == IoStatus::kWouldBlock) s = server.handshake().status;
  }
  return {c, s};
}

// A client for `clientName` (trusting `trust`) against a server presenting
// the leaf for `serverName`, over a fresh socket pair, handshakes driven.
struct Session {
  std::unique_ptr<TlsStream> client;
  std::unique_ptr<TlsStream> server;
  IoStatus clientStatus;
  IoStatus serverStatus;
};
Session connect(Fixture& f, std::shared_ptr<TlsClientConfig> trust, const std::string& clientName,
                const std::string& serverName, const std::vector<std::string>& alpn = {},
                const std::vector<std::string>& serverAlpn = {}) {
  Pair p = socketPair();
  auto context = f.leaves->context(serverName);
  REQUIRE(context);
  Session out{TlsStream::client(std::move(p.a), std::move(trust), clientName, alpn),
              TlsStream::server(std::move(p.b), *context, "", serverAlpn), IoStatus::kError,
              IoStatus::kError};
  std::tie(out.clientStatus, out.serverStatus) = handshake(*out.client, *out.server);
  return out;
}

// Writes `text` on one side and reads it whole on the other.
std::string roundTrip(Stream& from, Stream& to, const std::string& text) {
  std::size_t written = 0;
  std::string got;
  for (int i = 0; i < 1000 && got.size() < text.size(); ++i) {
    if (written < text.size()) {
      auto w = from.write(text.data() + written, text.size() - written);
      if (w.status == IoStatus::kOk) written += w.bytes;
    }
    char buf[4096];
    auto r = to.read(buf, sizeof buf);
    if (r.status == IoStatus::kOk) got.append(buf, r.bytes);
    if (r.status == IoStatus::kEof || r.status == IoStatus::kError) break;
  }
  return got;
}

}  // namespace

TEST_CASE("a TLS server with a minted leaf talks to a verifying client", "[proxy][tls]") {
  Fixture f;
  Pair p = socketPair();
  auto context = f.leaves->context("api.example.test");
  REQUIRE(context);
  auto client = TlsStream::client(std::move(p.a), f.trust, "api.example.test", {"h2", "http/1.1"});
  // The client speaks first; what the proxy read before deciding to
  // intercept (the ClientHello) is handed to the server stream.
  REQUIRE(client->handshake().status == IoStatus::kWouldBlock);
  char hello[16384];
  auto r = p.b->read(hello, sizeof hello);
  REQUIRE(r.status == IoStatus::kOk);
  auto server = TlsStream::server(std::move(p.b), *context, std::string(hello, r.bytes));
  auto [c, s] = handshake(*client, *server);
  REQUIRE(c == IoStatus::kOk);
  REQUIRE(s == IoStatus::kOk);
  CHECK(client->alpn() == "http/1.1");
  CHECK(server->alpn() == "http/1.1");
  CHECK(server->serverName() == "api.example.test");
  CHECK(roundTrip(*client, *server, "GET / HTTP/1.1\r\n\r\n") == "GET / HTTP/1.1\r\n\r\n");
  const std::string big(200000, 'x');
  CHECK(roundTrip(*server, *client, big) == big);
  CHECK_FALSE(client->plain());
  CHECK(server->fd() >= 0);
}

TEST_CASE("a client that offers only h2 is refused with an alert", "[proxy][tls]") {
  Fixture f;
  Session t = connect(f, f.trust, "api.example.test", "api.example.test", {"h2"});
  CHECK(t.serverStatus == IoStatus::kError);
  CHECK(t.server->alpnRefused());
  CHECK(t.clientStatus == IoStatus::kError);
  CHECK(t.client->error().find("no application protocol") != std::string::npos);
}

TEST_CASE("a connection's own ALPN list replaces its context's", "[proxy][tls]") {
  // (The fixture's contexts accept http/1.1 only.) Origin first: the origin
  // chose h2, so this connection offers h2 too ...
  Fixture f;
  Session t = connect(f, f.trust, "api.example.test", "api.example.test", {"h2", "http/1.1"},
                      {"h2", "http/1.1"});
  REQUIRE(t.serverStatus == IoStatus::kOk);
  CHECK(t.server->alpn() == "h2");
  CHECK(t.client->alpn() == "h2");
  // ... the origin chose HTTP/1.1: a client of both gets HTTP/1.1 ...
  t = connect(f, f.trust, "api.example.test", "api.example.test", {"h2", "http/1.1"}, {"http/1.1"});
  REQUIRE(t.serverStatus == IoStatus::kOk);
  CHECK(t.server->alpn() == "http/1.1");
  // ... and a list without what the client offers refuses it.
  t = connect(f, f.trust, "api.example.test", "api.example.test", {"http/1.1"}, {"h2"});
  CHECK(t.serverStatus == IoStatus::kError);
  CHECK(t.server->alpnRefused());
}

TEST_CASE("a client without ALPN is served", "[proxy][tls]") {
  Fixture f;
  Session t = connect(f, f.trust, "api.example.test", "api.example.test");
  CHECK(t.clientStatus == IoStatus::kOk);
  CHECK(t.serverStatus == IoStatus::kOk);
  CHECK_FALSE(t.server->alpnRefused());
  CHECK(t.server->alpn().empty());
}

TEST_CASE("the client checks the server's name strictly", "[proxy][tls]") {
  Fixture f;
  Session t = connect(f, f.trust, "b.example.test", "a.example.test");
  CHECK(t.clientStatus == IoStatus::kError);
  CHECK(t.client->error().find("certificate verification failed") != std::string::npos);
  CHECK(t.serverStatus == IoStatus::kError);
}

TEST_CASE("a client trusting only the system roots refuses the interception CA", "[proxy][tls]") {
  Fixture f;
  auto system = TlsClientConfig::create("");
  REQUIRE(system);
  Session t = connect(f, *system, "a.example.test", "a.example.test");
  CHECK(t.clientStatus == IoStatus::kError);
  CHECK(t.client->error().find(
            "certificate verification failed: self-signed certificate in certificate chain") !=
        std::string::npos);
}

TEST_CASE("TLS runs inside TLS", "[proxy][tls]") {
  Fixture f;
  Pair p = socketPair();
  auto outerClient = TlsStream::client(std::move(p.a), f.trust, "proxy.example.test");
  auto outerServer =
      TlsStream::server(std::move(p.b), *f.leaves->context("proxy.example.test"), "");
  auto [oc, os] = handshake(*outerClient, *outerServer);
  REQUIRE(oc == IoStatus::kOk);
  REQUIRE(os == IoStatus::kOk);
  auto innerClient =
      TlsStream::client(std::move(outerClient), f.trust, "origin.example.test", {"http/1.1"});
  auto innerServer =
      TlsStream::server(std::move(outerServer), *f.leaves->context("origin.example.test"), "");
  auto [ic, is] = handshake(*innerClient, *innerServer);
  REQUIRE(ic == IoStatus::kOk);
  REQUIRE(is == IoStatus::kOk);
  CHECK(innerServer->serverName() == "origin.example.test");
  const std::string body(100000, 'y');
  CHECK(roundTrip(*innerClient, *innerServer, body) == body);
  CHECK(roundTrip(*innerServer, *innerClient, "pong") == "pong");
}

TEST_CASE("proxyCaCert text without a certificate is refused", "[proxy][tls]") {
  auto bad = TlsClientConfig::create("not a certificate", "--origin-ca");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "--origin-ca: no PEM certificate in it");
}
