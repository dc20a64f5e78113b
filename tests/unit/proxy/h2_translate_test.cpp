#include "libcommon/proxy/h2_translate.h"

#include <catch2/catch.hpp>

#include "libcommon/proxy/request_head.h"

using lens::proxy::h1RequestFromH2;
using lens::proxy::H1ResponseReader;
using lens::proxy::H2Field;
using Event = H1ResponseReader::Event;

namespace {

std::vector<H2Field> request(std::string method, std::string path,
                             std::vector<H2Field> extra = {}) {
  std::vector<H2Field> f{{":method", std::move(method)},
                         {":scheme", "https"},
                         {":authority", "origin.test"},
                         {":path", std::move(path)}};
  f.insert(f.end(), extra.begin(), extra.end());
  return f;
}

// Every event of a whole response, as text: "H200", "D<bytes>", "T", "E".
std::string events(std::string in, std::string method = "GET", bool webSocket = false) {
  H1ResponseReader reader(std::move(method), webSocket);
  std::string log;
  for (;;) {
    auto e = reader.decode(in, true);
    if (!e) return log + "!" + e.error().message;
    switch (*e) {
      case Event::kNeedMore:
        return log;
      case Event::kInterim:
        log += "I" + std::to_string(reader.status());
        break;
      case Event::kHead:
        log += "H" + std::to_string(reader.status());
        for (const auto& f : reader.fields()) log += "[" + f.name + "=" + f.value + "]";
        break;
      case Event::kData:
        log += "D" + reader.data();
        break;
      case Event::kTrailers:
        log += "T";
        for (const auto& f : reader.fields()) log += "[" + f.name + "=" + f.value + "]";
        return log;
      case Event::kEnd:
        return log + "E";
    }
  }
}

}  // namespace

TEST_CASE("an HTTP/2 request becomes the HTTP/1.1 head the pipeline parses", "[h2]") {
  auto r = h1RequestFromH2(
      request("GET", "/a?b=1", {{"accept", "*/*"}, {"cookie", "a=1"}, {"cookie", "b=2"}}), true);
  REQUIRE(r);
  CHECK(r->head ==
        "GET /a?b=1 HTTP/1.1\r\nHost: origin.test\r\naccept: */*\r\ncookie: a=1; b=2\r\n\r\n");
  CHECK_FALSE(r->chunked);
  auto parsed = lens::proxy::parseTransparentRequest(r->head, 443);
  REQUIRE(parsed);
  CHECK(parsed->host == "origin.test");
  CHECK(parsed->port == 443);
  CHECK(parsed->body == lens::http::Framing::kNone);
}

TEST_CASE("a body without a length goes chunked, one with a length as it is", "[h2]") {
  auto chunked = h1RequestFromH2(request("POST", "/up"), false);
  REQUIRE(chunked);
  CHECK(chunked->chunked);
  CHECK(chunked->head.find("transfer-encoding: chunked\r\n") != std::string::npos);
  auto length = h1RequestFromH2(request("POST", "/up", {{"content-length", "5"}}), false);
  REQUIRE(length);
  CHECK_FALSE(length->chunked);
  CHECK(length->head.find("transfer-encoding") == std::string::npos);
  // te: trailers is hop-by-hop: dropped.
  auto grpc = h1RequestFromH2(request("POST", "/s/M", {{"te", "trailers"}}), false);
  REQUIRE(grpc);
  CHECK(grpc->head.find("te:") == std::string::npos);
}

TEST_CASE("HTTP/2 requests the pipeline must not see are refused", "[h2]") {
  CHECK_FALSE(h1RequestFromH2({{":method", "CONNECT"}, {":authority", "x:443"}}, false));
  CHECK_FALSE(h1RequestFromH2(request("GET", "/", {{":protocol", "websocket"}}), false));
  CHECK_FALSE(h1RequestFromH2(request("GET", "/", {{"host", "other.test"}}), true));
  CHECK_FALSE(h1RequestFromH2(request("GET", "/", {{"te", "gzip"}}), true));
  CHECK_FALSE(h1RequestFromH2(request("GET", "/", {{":path", "/again"}}), true));
  CHECK_FALSE(h1RequestFromH2(request("GET", "relative"), true));
  CHECK_FALSE(h1RequestFromH2(
      {{":method", "GET"}, {":scheme", "http"}, {":authority", "o"}, {":path", "/"}}, true));
  CHECK_FALSE(h1RequestFromH2({{":method", "GET"}, {":scheme", "https"}, {":path", "/"}}, true));
}

TEST_CASE("an extended CONNECT (RFC 8441) becomes the HTTP/1.1 WebSocket handshake", "[h2]") {
  auto ws = [](std::vector<H2Field> extra) {
    std::vector<H2Field> f{{":method", "CONNECT"},
                           {":protocol", "websocket"},
                           {":scheme", "https"},
                           {":authority", "origin.test"},
                           {":path", "/ws?room=1"}};
    f.insert(f.end(), extra.begin(), extra.end());
    return f;
  };
  auto r = h1RequestFromH2(ws({{"sec-websocket-version", "13"},
                               {"sec-websocket-protocol", "chat"},
                               {"sec-websocket-key", "from-the-client"},
                               {"content-length", "0"}}),
                           false);
  REQUIRE(r);
  CHECK(r->webSocket);
  CHECK(r->method == "GET");
  CHECK_FALSE(r->chunked);
  const std::string prefix =
      "GET /ws?room=1 HTTP/1.1\r\nHost: origin.test\r\nConnection: Upgrade\r\n"
      "Upgrade: websocket\r\nSec-WebSocket-Key: ";
  REQUIRE(r->head.compare(0, prefix.size(), prefix) == 0);
  const std::string key =
      r->head.substr(prefix.size(), r->head.find('\r', prefix.size()) - prefix.size());
  CHECK(key.size() == 24);  // 16 bytes, base64
  CHECK(key.substr(22) == "==");
  CHECK(r->head.substr(prefix.size() + 24) ==
        "\r\nsec-websocket-version: 13\r\nsec-websocket-protocol: chat\r\n\r\n");
  // The pipeline reads it as the WebSocket upgrade it judges.
  auto parsed = lens::proxy::parseTransparentRequest(r->head, 443);
  REQUIRE(parsed);
  CHECK(lens::proxy::upgradesToWebSocket(*parsed));
  // A fresh key each time.
  auto again = h1RequestFromH2(ws({}), false);
  REQUIRE(again);
  CHECK(again->head.substr(prefix.size(), 24) != key);
  // Other protocols, :protocol without CONNECT, twice: refused.
  auto other = ws({});
  other[1].value = "connect-udp";
  CHECK_FALSE(h1RequestFromH2(other, false));
  CHECK_FALSE(h1RequestFromH2(ws({{":protocol", "websocket"}}), false));
}

TEST_CASE("a WebSocket's 101 is read as a 200 whose body is the socket", "[h2]") {
  CHECK(events("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: abc=\r\nSec-WebSocket-Protocol: chat\r\n\r\n\x81\x02hi",
               "GET", true) == "H200[sec-websocket-protocol=chat]D\x81\x02hiE");
  // A refusal is an answer like any other; a 2xx that switched nothing is not.
  CHECK(events("HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno", "GET", true) ==
        "H403[content-length=2]DnoE");
  CHECK(events("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET", true).find('!') == 0);
}

TEST_CASE("an HTTP/1.1 answer is read back into HTTP/2 events", "[h2]") {
  CHECK(events("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n"
               "X-A: b\r\n\r\nhello") == "H200[content-length=5][x-a=b]DhelloE");
  CHECK(events("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\nhello\r\n0\r\ngrpc-status: 0\r\nGrpc-Message: ok\r\n\r\n") ==
        "H200DhelloT[grpc-status=0][grpc-message=ok]");
  // (A head without a body ends the answer: no kEnd follows.)
  CHECK(events("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n") == "I100H204");
  CHECK(events("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", "HEAD") == "H200[content-length=9]");
}

TEST_CASE("answers HTTP/2 cannot carry are errors", "[h2]") {
  CHECK(events("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n").find('!') == 0);
  CHECK(events("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").find("!") != std::string::npos);
  H1ResponseReader reader("GET");
  std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokmore";
  while (!reader.ended()) REQUIRE(reader.decode(in, false));
  CHECK_FALSE(reader.decode(in, false));  // bytes past the answer's end
}

TEST_CASE("the answer's end is found byte by byte as at once", "[h2]") {
  const std::string whole =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nx: "
      "1\r\n\r\n";
  H1ResponseReader reader("GET");
  std::string in;
  std::string body;
  bool trailers = false;
  for (char c : whole) {
    in.push_back(c);
    for (;;) {
      auto e = reader.decode(in, false);
      REQUIRE(e);
      if (*e == Event::kNeedMore) break;
      if (*e == Event::kData) body += reader.data();
      if (*e == Event::kTrailers) trailers = true;
    }
  }
  CHECK(body == "abcde");
  CHECK(trailers);
  CHECK(reader.ended());
}
