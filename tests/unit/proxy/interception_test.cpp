// The hand-off point of interception.h, through a real Server: a CONNECT
// whose decision needs interception is dialled (here through an upstream
// proxy on loopback, which is trusted infrastructure and not subject to the
// safety floor), answered 200, and given to the stage with both ends.
#include "libcommon/proxy/interception.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "libcommon/policy/policy_parser.h"
#include "libcommon/proxy/server.h"

namespace {

using namespace std::chrono_literals;

// A socket on 127.0.0.1 with a kernel-chosen port.
int listenLoopback(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 8) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

int connectLoopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Reads until `needle` arrived (or EOF / the timeout).
std::string readUntil(int fd, std::string_view needle) {
  std::string out;
  char buf[1024];
  while (out.find(needle) == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

class RecordingStage final : public lens::proxy::InterceptionStage {
 public:
  void adopt(lens::proxy::InterceptedTunnel tunnel) override {
    // The stage owns both ends now: prove it by writing to the client.
    const std::string hello = "stage-owns-this";
    (void)tunnel.client->write(hello.data(), hello.size());
    std::lock_guard lock(mutex_);
    tunnel_ = std::move(tunnel);
    cv_.notify_all();
  }
  std::optional<lens::proxy::InterceptedTunnel> wait() {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, 5s, [this] { return tunnel_.has_value(); });
    return std::move(tunnel_);
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<lens::proxy::InterceptedTunnel> tunnel_;
};

}  // namespace

TEST_CASE("a CONNECT that needs interception is handed to the stage with both ends",
          "[proxy][interception]") {
  // The upstream proxy: answers CONNECT with 200 and keeps the connection.
  std::uint16_t upstreamPort = 0;
  const int upstreamListener = listenLoopback(upstreamPort);
  std::string upstreamHead;
  std::thread upstream([&] {
    const int c = ::accept(upstreamListener, nullptr, nullptr);
    upstreamHead = readUntil(c, "\r\n\r\n");
    const std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
    (void)!::send(c, ok.data(), ok.size(), MSG_NOSIGNAL);
    char buf[64];
    while (::recv(c, buf, sizeof buf, 0) > 0) {
    }
    ::close(c);
  });

  lens::policy::ParseOptions parse;
  parse.allowTransportFields = true;
  const auto outcome = lens::policy::parsePolicy(
      R"({"proxyUpstream": "http://agent:pw@127.0.0.1:)" + std::to_string(upstreamPort) + R"(",
          "network": {"defaultVerdict": "deny", "defaultTransport": "upstream", "egress": {"http": [
            {"match": "inspect.example", "verdict": "allow", "transport": "upstream",
             "rules": [{"method": "GET", "path": "/only"}]}]}}})",
      parse);
  REQUIRE(outcome.ok());

  RecordingStage stage;
  lens::proxy::ServerOptions options;
  options.listen = {"127.0.0.1:0"};
  options.mark = 0;  // no privilege needed
  options.resolver.servers = {"127.0.0.1"};
  options.interception = &stage;
  auto server = lens::proxy::Server::create(options);
  REQUIRE(server.ok());
  lens::proxy::Server& srv = **server;
  srv.setEngine(std::make_shared<const lens::decision::Engine>(outcome.policy));
  std::thread loop([&] { (void)srv.run(); });

  const std::string bound = srv.boundAddresses().front();
  const auto port = static_cast<std::uint16_t>(std::stoi(bound.substr(bound.rfind(':') + 1)));
  const int client = connectLoopback(port);
  const std::string connect =
      "CONNECT inspect.example:443 HTTP/1.1\r\nHost: inspect.example:443\r\n\r\n";
  REQUIRE(::send(client, connect.data(), connect.size(), 0) ==
          static_cast<ssize_t>(connect.size()));

  const std::string reply = readUntil(client, "stage-owns-this");
  CHECK(reply.rfind("HTTP/1.1 200 Connection established\r\n\r\n", 0) == 0);
  CHECK(reply.find("stage-owns-this") != std::string::npos);

  auto tunnel = stage.wait();
  REQUIRE(tunnel.has_value());
  CHECK(tunnel->host == "inspect.example");
  CHECK(tunnel->port == 443);
  CHECK(tunnel->decision.intercept);
  CHECK(tunnel->decision.allowed());
  REQUIRE(tunnel->decision.rule.has_value());
  CHECK(tunnel->decision.rule->match == "inspect.example");
  CHECK(tunnel->engine != nullptr);
  CHECK(tunnel->event.action() == "CONNECT inspect.example:443");
  REQUIRE(tunnel->origin != nullptr);
  CHECK(tunnel->origin->fd() >= 0);
  // The route was established before the hand-off, with the credentials.
  CHECK(upstreamHead.rfind("CONNECT inspect.example:443 HTTP/1.1\r\n", 0) == 0);
  CHECK(upstreamHead.find("Proxy-Authorization: Basic YWdlbnQ6cHc=\r\n") != std::string::npos);

  ::close(client);
  tunnel.reset();  // closes the origin: the upstream thread ends
  srv.stop();
  loop.join();
  upstream.join();
  ::close(upstreamListener);
}
