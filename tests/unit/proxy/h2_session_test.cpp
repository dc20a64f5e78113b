#include "libcommon/proxy/h2_session.h"

#include <nghttp2/nghttp2.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "libcommon/proxy/reply.h"

using lens::proxy::Buffer;
using lens::proxy::H2Channel;
using lens::proxy::H2Limits;
using lens::proxy::H2ServerSession;

namespace {

// Serves every stream by hand: the test writes the answers.
class Host final : public lens::proxy::H2Host {
 public:
  std::uint64_t serveStream(std::shared_ptr<H2Channel> channel) override {
    channels.push_back(std::move(channel));
    return channels.size();
  }
  void wakeStream(std::uint64_t) override { ++wakes; }
  void abandonStream(std::uint64_t server) override { abandoned.push_back(server); }
  std::string refuseStream(int status, std::string_view reason, std::string_view text) override {
    refusals.emplace_back(reason);
    return lens::proxy::errorReply(status, reason, "origin.test", text, "lens-proxy", true);
  }
  std::vector<std::shared_ptr<H2Channel>> channels;
  std::vector<std::uint64_t> abandoned;
  std::vector<std::string> refusals;
  int wakes = 0;
};

// An nghttp2 client in memory.
struct Client {
  struct Response {
    std::map<std::string, std::string> fields;
    std::string body;
    std::map<std::string, std::string> trailers;
    bool ended = false;
    std::uint32_t reset = 0;
  };
  nghttp2_session* session = nullptr;
  std::map<std::int32_t, Response> responses;
  std::uint32_t goaway = 0xffffffff;

  Client() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* n, std::size_t nl,
               const std::uint8_t* v, std::size_t vl, std::uint8_t, void* u) {
          auto& r = static_cast<Client*>(u)->responses[f->hd.stream_id];
          const std::string name(reinterpret_cast<const char*>(n), nl);
          const std::string value(reinterpret_cast<const char*>(v), vl);
          if (f->headers.cat == NGHTTP2_HCAT_HEADERS && !r.fields.empty() &&
              r.fields.count(":status") != 0 && r.fields[":status"][0] != '1') {
            r.trailers[name] = value;
          } else {
            r.fields[name] = value;
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cb, [](nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* d,
               std::size_t l, void* u) {
          static_cast<Client*>(u)->responses[id].body.append(reinterpret_cast<const char*>(d), l);
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
          auto* self = static_cast<Client*>(u);
          if (f->hd.type == NGHTTP2_GOAWAY) self->goaway = f->goaway.error_code;
          if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 &&
              (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS))
            self->responses[f->hd.stream_id].ended = true;
          if (f->hd.type == NGHTTP2_RST_STREAM)
            self->responses[f->hd.stream_id].reset = f->rst_stream.error_code;
          return 0;
        });
    nghttp2_session_client_new(&session, cb, this);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~Client() { nghttp2_session_del(session); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  std::int32_t get(const std::string& path,
                   std::vector<std::pair<std::string, std::string>> extra = {}) {
    return submit("GET", path, std::move(extra), nullptr);
  }
  // A POST of `size` bytes ('x'), sent as the windows allow; unsent[id] counts down.
  std::int32_t post(const std::string& path, std::size_t size) {
    nghttp2_data_provider body{};
    body.read_callback = [](nghttp2_session*, std::int32_t id, std::uint8_t* buf,
                            std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                            void* u) -> ssize_t {
      std::size_t& left = static_cast<Client*>(u)->unsent[id];
      const std::size_t n = std::min(length, left);
      std::memset(buf, 'x', n);
      left -= n;
      if (left == 0) *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    };
    const std::int32_t id = submit("POST", path, {}, &body);
    unsent[id] = size;
    return id;
  }
  std::map<std::int32_t, std::size_t> unsent;
  std::int32_t submit(const std::string& method, const std::string& path,
                      std::vector<std::pair<std::string, std::string>> extra,
                      const nghttp2_data_provider* body) {
    std::vector<std::pair<std::string, std::string>> f{
        {":method", method}, {":scheme", "https"}, {":authority", "origin.test"}, {":path", path}};
    f.insert(f.end(), extra.begin(), extra.end());
    std::vector<nghttp2_nv> nva;
    for (auto& [n, v] : f)
      nva.push_back({reinterpret_cast<std::uint8_t*>(n.data()),
                     reinterpret_cast<std::uint8_t*>(v.data()), n.size(), v.size(),
                     NGHTTP2_NV_FLAG_NONE});
    return nghttp2_submit_request(session, nullptr, nva.data(), nva.size(), body, nullptr);
  }
  std::string output() {
    std::string out;
    const std::uint8_t* data = nullptr;
    ssize_t n = 0;
    while ((n = nghttp2_session_mem_send(session, &data)) > 0)
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    return out;
  }
  void input(const Buffer& in) {
    nghttp2_session_mem_recv(session, reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
  }
};

struct Fixture {
  Host host;
  lens::proxy::Clock::time_point now = lens::proxy::Clock::now();
  H2Limits limits;
  std::unique_ptr<H2ServerSession> server;
  Client client;

  Fixture() {
    limits.maxHeaderBytes = 4096;
    server = std::make_unique<H2ServerSession>(host, limits, &now);
    REQUIRE(server->start());
  }
  // Client -> server -> client until quiet.
  void exchange() {
    for (int i = 0; i < 8; ++i) {
      const std::string up = client.output();
      if (!up.empty()) (void)server->receive(up);
      server->pump();
      Buffer down;
      server->produce(down, 1 << 20);
      if (up.empty() && down.empty()) return;
      client.input(down);
    }
  }
};

}  // namespace

TEST_CASE("each stream is served on its own; the answers come back on their streams", "[h2]") {
  Fixture f;
  const auto a = f.client.get("/a");
  const auto b = f.client.get("/b");
  const auto c = f.client.get("/c");
  f.exchange();
  REQUIRE(f.host.channels.size() == 3);
  CHECK(f.host.channels[0]->request.rfind("GET /a HTTP/1.1\r\nHost: origin.test\r\n", 0) == 0);
  CHECK(f.host.channels[0]->requestEnded);
  // /b refused by the pipeline, /a and /c answered, /c with trailers.
  f.host.channels[1]->response = lens::proxy::errorReply(403, "http-rule-denied", "origin.test",
                                                         "refused by policy", "lens-proxy", true);
  f.host.channels[1]->responseEnded = true;
  f.host.channels[0]->response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  f.host.channels[2]->response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\ngrpc-status: "
      "0\r\n\r\n";
  f.exchange();
  CHECK(f.client.responses[a].fields[":status"] == "200");
  CHECK(f.client.responses[a].body == "ok");
  CHECK(f.client.responses[a].ended);
  CHECK(f.client.responses[b].fields[":status"] == "403");
  CHECK(f.client.responses[b].fields["x-lens-reason"] == "http-rule-denied");
  CHECK(f.client.responses[c].body == "abc");
  CHECK(f.client.responses[c].trailers["grpc-status"] == "0");
  CHECK(f.server->failure().empty());
}

TEST_CASE("a refused upload's unread body gives the connection window back", "[h2]") {
  // 12 uploads of 1 MiB (a stream window each), each refused before its
  // body is read: 12 MiB through a connection window of 8 MiB.
  Fixture f;
  for (std::size_t i = 0; i < 12; ++i) {
    INFO("upload " << i);
    const auto id = f.client.post("/up", 1024 * 1024);
    f.exchange();  // the body arrives; nobody reads it
    REQUIRE(f.host.channels.size() == i + 1);
    CHECK(f.client.unsent[id] == 0);
    f.host.channels.back()->response = lens::proxy::errorReply(
        403, "http-rule-denied", "origin.test", "refused by policy", "lens-proxy", true);
    f.host.channels.back()->responseEnded = true;
    f.exchange();
    CHECK(f.client.responses[id].fields[":status"] == "403");
    CHECK(f.client.responses[id].ended);
  }
  CHECK(f.server->openStreams() == 0);
  CHECK(f.server->failure().empty());
}

TEST_CASE("a header block over the limit gets 431 and the connection goes on", "[h2]") {
  Fixture f;
  const auto big = f.client.get("/big", {{"x-big", std::string(5000, 'a')}});
  const auto next = f.client.get("/next");
  f.exchange();
  CHECK(f.client.responses[big].fields[":status"] == "431");
  REQUIRE(f.host.refusals.size() == 1);
  CHECK(f.host.refusals[0] == "header-too-large");
  REQUIRE(f.host.channels.size() == 1);  // /next only
  f.host.channels[0]->response = "HTTP/1.1 204 No Content\r\n\r\n";
  f.exchange();
  CHECK(f.client.responses[next].fields[":status"] == "204");
  CHECK(f.server->failure().empty());
}

TEST_CASE("a stream reset by the client ends the connection serving it", "[h2]") {
  Fixture f;
  const auto a = f.client.get("/slow");
  f.exchange();
  REQUIRE(f.host.channels.size() == 1);
  nghttp2_submit_rst_stream(f.client.session, NGHTTP2_FLAG_NONE, a, NGHTTP2_CANCEL);
  f.exchange();
  CHECK(f.host.abandoned == std::vector<std::uint64_t>{1});
  CHECK(f.host.channels[0]->gone);
}

TEST_CASE("rapid reset: GOAWAY ENHANCE_YOUR_CALM and the reason", "[h2]") {
  Fixture f;
  for (int i = 0; i < 400 && f.server->failure().empty(); ++i) {
    const auto id = f.client.get("/r");
    f.exchange();  // (a reset submitted before its HEADERS left would drop both)
    nghttp2_submit_rst_stream(f.client.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    f.exchange();
  }
  CHECK(f.server->failure() == lens::proxy::reason::kH2RapidReset);
  CHECK(f.client.goaway == NGHTTP2_ENHANCE_YOUR_CALM);
  CHECK(f.host.channels.size() <= 201);  // the burst, then no more
}

TEST_CASE("a preface that is not HTTP/2 is a protocol error", "[h2]") {
  Host host;
  auto now = lens::proxy::Clock::now();
  H2ServerSession server(host, H2Limits{}, &now);
  REQUIRE(server.start());
  CHECK_FALSE(server.receive("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(server.failure() == lens::proxy::reason::kH2ProtocolError);
}

TEST_CASE("shutdown: GOAWAY, the stream begun finishes, then the session is done", "[h2]") {
  Fixture f;
  const auto a = f.client.get("/a");
  f.exchange();
  REQUIRE(f.host.channels.size() == 1);
  f.server->shutdown();
  f.exchange();
  CHECK(f.client.goaway == NGHTTP2_NO_ERROR);
  CHECK_FALSE(f.server->finished());  // /a still going
  f.host.channels[0]->response = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
  f.exchange();
  CHECK(f.client.responses[a].body == "x");
  CHECK(f.server->finished());
}
