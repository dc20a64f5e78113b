// The HTTP/1.1 exchange's turns, and the reactor that gives them: a turn
// given up with bytes in hand must come back without a readiness event.
#include "libcommon/proxy/http_exchange.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "libcommon/proxy/pipe_pool.h"
#include "libcommon/proxy/reactor.h"
#include "libcommon/util/unique_fd.h"

using lens::proxy::HttpExchange;
using lens::proxy::IoResult;
using lens::proxy::IoStatus;
using lens::proxy::PipePool;
using lens::proxy::Reactor;
using lens::proxy::Watch;

namespace {

// A stream in memory: reads hand out `input` in records of at most
// `record` bytes (as TLS does), writes collect into `output`.
class MemoryStream final : public lens::proxy::Stream {
 public:
  explicit MemoryStream(std::string in, std::size_t record = 16 * 1024)
      : input(std::move(in)), record_(record) {}
  [[nodiscard]] int fd() const override { return -1; }
  IoResult read(char* data, std::size_t size) override {
    if (offset_ == input.size()) return {IoStatus::kWouldBlock, 0};
    const std::size_t n = std::min({size, record_, input.size() - offset_});
    input.copy(data, n, offset_);
    offset_ += n;
    return {IoStatus::kOk, n};
  }
  IoResult write(const char* data, std::size_t size) override {
    output.append(data, size);
    return {IoStatus::kOk, size};
  }
  void shutdownWrite() override {}
  [[nodiscard]] std::size_t unread() const { return input.size() - offset_; }

  std::string input;
  std::string output;

 private:
  std::size_t record_;
  std::size_t offset_ = 0;
};

class Counter final : public lens::proxy::IoHandler {
 public:
  void onIo(int /*fd*/, std::uint32_t events) override { calls.push_back(events); }
  std::vector<std::uint32_t> calls;
};

}  // namespace

TEST_CASE("an exchange that gives up its turn says so while bytes it already read wait",
          "[proxy][exchange]") {
  // 2 MiB of request body in 16 KiB records: more than one turn moves.
  // A turn that ended with bytes in hand and answered "wait for epoll"
  // stalled such an upload until the client gave up (the socket had nothing
  // left to announce).
  const std::string body(2 * 1024 * 1024, 'b');
  MemoryStream client(body);
  MemoryStream server("");
  HttpExchange exchange;
  HttpExchange::Request request;
  request.head = "POST /upload HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 2097152\r\n\r\n";
  request.method = "POST";
  request.body = lens::http::Framing::kLength;
  request.contentLength = body.size();
  request.keepAlive = true;
  const std::string head = request.head;
  exchange.start(std::move(request));

  std::string in;
  int yields = 0;
  HttpExchange::Outcome outcome = HttpExchange::Outcome::kYielded;
  for (int turn = 0; turn < 1000 && outcome == HttpExchange::Outcome::kYielded; ++turn) {
    bool progress = false;
    outcome = exchange.pump(client, server, in, progress);
    if (outcome == HttpExchange::Outcome::kYielded) ++yields;
    if (outcome == HttpExchange::Outcome::kGoing) {
      // Waiting for readiness is right only when nothing is left in hand.
      CHECK(in.empty());
      CHECK(client.unread() == 0);
    }
  }
  CHECK(yields > 0);
  REQUIRE(outcome == HttpExchange::Outcome::kGoing);
  CHECK(server.output == head + body);

  server.input = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  bool progress = false;
  CHECK(exchange.pump(client, server, in, progress) == HttpExchange::Outcome::kDone);
  CHECK(client.output.ends_with("\r\n\r\nok"));
  CHECK(exchange.bytesUp() == head.size() + body.size());
}

namespace {

// Plain sockets on both sides (so the body may go by splice()): the test
// holds the far ends, the origin's bytes go in as the socket takes them.
struct SplicedExchange {
  SplicedExchange() {
    int c[2];
    int s[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, c) == 0);
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s) == 0);
    client = std::make_unique<lens::proxy::SocketStream>(lens::util::UniqueFd(c[0]));
    clientEnd.reset(c[1]);
    server = std::make_unique<lens::proxy::SocketStream>(lens::util::UniqueFd(s[0]));
    originEnd.reset(s[1]);
  }

  // Turns until the exchange ends (or nothing moves any more).
  HttpExchange::Outcome run(HttpExchange& exchange, bool closeAfter) {
    HttpExchange::Outcome outcome = HttpExchange::Outcome::kGoing;
    for (int turn = 0; turn < 100000; ++turn) {
      while (sent < origin.size()) {
        const ssize_t n = ::send(originEnd.get(), origin.data() + sent, origin.size() - sent, 0);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
      }
      while (uploaded < upload.size()) {
        const ssize_t n =
            ::send(clientEnd.get(), upload.data() + uploaded, upload.size() - uploaded, 0);
        if (n <= 0) break;
        uploaded += static_cast<std::size_t>(n);
      }
      if (closeAfter && sent == origin.size()) ::shutdown(originEnd.get(), SHUT_WR);
      bool progress = false;
      outcome = exchange.pump(*client, *server, in, progress);
      char buf[64 * 1024];
      for (ssize_t n; (n = ::recv(clientEnd.get(), buf, sizeof buf, 0)) > 0;)
        received.append(buf, static_cast<std::size_t>(n));
      for (ssize_t n; (n = ::recv(originEnd.get(), buf, sizeof buf, 0)) > 0;)
        atOrigin.append(buf, static_cast<std::size_t>(n));
      if (outcome != HttpExchange::Outcome::kGoing && outcome != HttpExchange::Outcome::kYielded)
        break;
    }
    return outcome;
  }

  std::unique_ptr<lens::proxy::SocketStream> client;
  std::unique_ptr<lens::proxy::SocketStream> server;
  lens::util::UniqueFd clientEnd;
  lens::util::UniqueFd originEnd;
  std::string origin;  // what the origin sends
  std::size_t sent = 0;
  std::string received;  // what the client got
  std::string upload;    // what the client sends after the request head
  std::size_t uploaded = 0;
  std::string atOrigin;  // what the origin got
  std::string in;        // the client's bytes the exchange left to its caller
};

HttpExchange::Request getRequest() {
  HttpExchange::Request request;
  request.head = "GET /big HTTP/1.1\r\nHost: origin.test\r\n\r\n";
  request.method = "GET";
  request.keepAlive = true;
  return request;
}

std::string bodyOf(const std::string& response) {
  const std::size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : response.substr(end + 4);
}

}  // namespace

TEST_CASE("a response body between plain sockets goes whole, and no further than its length",
          "[proxy][exchange]") {
  PipePool pipes;
  SplicedExchange t;
  std::string body(3 * 1024 * 1024 + 7, 'x');  // more than the pipe and the socket buffers
  for (std::size_t i = 0; i < body.size(); i += 4096) body[i] = static_cast<char>('a' + i % 26);
  t.origin = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
             body + "HTTP/1.1 200 OK\r\n";  // the start of something that is not this response
  HttpExchange exchange(pipes);
  exchange.start(getRequest());

  REQUIRE(t.run(exchange, false) == HttpExchange::Outcome::kDone);
  CHECK(exchange.status() == 200);
  CHECK(exchange.responseComplete());
  CHECK(exchange.clientFlushed());
  CHECK(bodyOf(t.received) == body);
  CHECK(exchange.bytesDown() == t.received.size());
  CHECK(exchange.keepClient());
}

TEST_CASE("a request body between plain sockets goes whole, and the next request stays unread",
          "[proxy][exchange]") {
  PipePool pipes;
  SplicedExchange t;
  std::string body(3 * 1024 * 1024 + 5, 'u');
  for (std::size_t i = 0; i < body.size(); i += 4096) body[i] = static_cast<char>('a' + i % 26);
  const std::string next = "GET /next HTTP/1.1\r\nHost: origin.test\r\n\r\n";
  t.upload = body + next;  // pipelined: the next request is judged on its own
  t.origin = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  HttpExchange::Request request;
  request.head =
      "POST /up HTTP/1.1\r\nHost: origin.test\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n";
  request.method = "POST";
  request.body = lens::http::Framing::kLength;
  request.contentLength = body.size();
  request.keepAlive = true;
  const std::string head = request.head;
  HttpExchange exchange(pipes);
  exchange.start(std::move(request));

  REQUIRE(t.run(exchange, false) == HttpExchange::Outcome::kDone);
  CHECK(t.atOrigin.size() == head.size() + body.size());
  CHECK(t.atOrigin == head + body);
  CHECK(exchange.bytesUp() == head.size() + body.size());
  CHECK(bodyOf(t.received) == "ok");
  // The next request is still the client's: in the socket or handed back.
  std::string rest = t.in;
  char buf[4096];
  for (ssize_t n; (n = ::recv(t.client->fd(), buf, sizeof buf, 0)) > 0;)
    rest.append(buf, static_cast<std::size_t>(n));
  CHECK(rest == next);
}

TEST_CASE("a response body delimited by the close goes whole and ends the client connection",
          "[proxy][exchange]") {
  PipePool pipes;
  SplicedExchange t;
  const std::string body(2 * 1024 * 1024, 'y');
  t.origin = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body;
  HttpExchange exchange(pipes);
  exchange.start(getRequest());

  REQUIRE(t.run(exchange, true) == HttpExchange::Outcome::kDone);
  CHECK(bodyOf(t.received) == body);
  CHECK_FALSE(exchange.keepClient());
  CHECK_FALSE(exchange.keepServer());
}

TEST_CASE("a response body cut short before its length closes the client connection",
          "[proxy][exchange]") {
  PipePool pipes;
  SplicedExchange t;
  const std::string body(1024 * 1024, 'z');
  t.origin =
      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size() + 10) + "\r\n\r\n" + body;
  HttpExchange exchange(pipes);
  exchange.start(getRequest());

  REQUIRE(t.run(exchange, true) == HttpExchange::Outcome::kClose);
  CHECK(exchange.closeReason() == "server-closed");
  CHECK_FALSE(exchange.responseComplete());
}

TEST_CASE("a watch asked again is called once more without waiting, a removed one not",
          "[proxy][reactor]") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
  lens::util::UniqueFd a(fds[0]);
  lens::util::UniqueFd b(fds[1]);
  Reactor reactor;
  Counter first;
  Counter second;
  Watch one{&first, a.get()};
  Watch two{&second, b.get()};
  REQUIRE(reactor.set(one, EPOLLIN));  // nothing to read: epoll alone would wait
  REQUIRE(reactor.set(two, EPOLLIN));

  reactor.again(one);
  reactor.again(one);  // once is enough
  reactor.again(two);
  reactor.remove(two);
  REQUIRE(reactor.poll(-1));  // returns at once
  CHECK(first.calls == std::vector<std::uint32_t>{0});
  CHECK(second.calls.empty());

  // Asked once, called once: the next poll waits again.
  REQUIRE(reactor.poll(0));
  CHECK(first.calls.size() == 1);

  // A handler that wants no readiness now (a TLS stream holding bytes read
  // ahead, nothing to write) still gets the call it asked for.
  reactor.again(one);
  REQUIRE(reactor.set(one, 0));
  REQUIRE(reactor.poll(-1));
  CHECK(first.calls.size() == 2);
}
