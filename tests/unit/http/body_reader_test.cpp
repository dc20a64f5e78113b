#include "libcommon/http/body_reader.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

using lens::ErrorCode;
using lens::http::BodyReader;
using lens::http::Framing;
using lens::http::RawRequest;

namespace {

RawRequest head(std::initializer_list<std::pair<std::string, std::string>> fields) {
  RawRequest r;
  r.method = "POST";
  r.target = "/graphql";
  r.version = "HTTP/1.1";
  for (const auto& [name, value] : fields) r.addHeader(name, " " + value);
  return r;
}

// Feeds `bytes` in pieces of `step`; returns the body, or the error's code.
std::string readAll(BodyReader& reader, std::string_view bytes, std::size_t step,
                    std::string* rest = nullptr) {
  std::string in(bytes);
  while (!reader.done()) {
    REQUIRE_FALSE(in.empty());
    const std::size_t n = std::min(step, in.size());
    auto used = reader.feed(std::string_view(in).substr(0, n));
    REQUIRE(used);
    in.erase(0, *used);
  }
  if (rest) *rest = in;
  return reader.body();
}

}  // namespace

TEST_CASE("a Content-Length body is read to its end, not past it", "[http][body]") {
  auto reader = BodyReader::start(head({}), Framing::kLength, 5, 10);
  REQUIRE(reader);
  std::string rest;
  CHECK(readAll(*reader,
                "hello"
                "GET / HTTP/1.1",
                2, &rest) == "hello");
  CHECK(rest == "GET / HTTP/1.1");
}

TEST_CASE("a chunked body is de-chunked, whatever the pieces", "[http][body]") {
  const std::string_view wire = "4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, wire.size()}) {
    auto reader = BodyReader::start(head({}), Framing::kChunked, 0, 100);
    REQUIRE(reader);
    std::string rest;
    CHECK(readAll(*reader, wire, step, &rest) == "Wikipedia");
    CHECK(rest == "NEXT");
  }
}

TEST_CASE("a body over the limit is refused, never truncated", "[http][body]") {
  SECTION("by its Content-Length, before a byte is read") {
    auto reader = BodyReader::start(head({}), Framing::kLength, 11, 10);
    REQUIRE_FALSE(reader);
    CHECK(reader.error().code == ErrorCode::kLimit);
  }
  SECTION("chunked, once its data passes the limit") {
    auto reader = BodyReader::start(head({}), Framing::kChunked, 0, 10);
    REQUIRE(reader);
    auto used = reader->feed("6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n");
    REQUIRE_FALSE(used);
    CHECK(used.error().code == ErrorCode::kLimit);
  }
  SECTION("chunked, when its framing alone grows past twice the limit") {
    auto reader = BodyReader::start(head({}), Framing::kChunked, 0, 10);
    REQUIRE(reader);
    const std::string line = "1;" + std::string(4000, 'x') + "\r\na\r\n";
    lens::Result<std::size_t> used = std::size_t{0};
    for (int i = 0; i < 40 && used; ++i) used = reader->feed(line);
    REQUIRE_FALSE(used);
    CHECK(used.error().code == ErrorCode::kLimit);
  }
}

TEST_CASE("bodies the proxy cannot read are refused", "[http][body]") {
  for (const auto& [name, value] : std::initializer_list<std::pair<std::string, std::string>>{
           {"Content-Encoding", "gzip"},
           {"content-encoding", "br"},
           {"Content-Type", "multipart/form-data; boundary=x"},
           {"Content-Type", "Multipart/Mixed"}}) {
    auto reader = BodyReader::start(head({{name, value}}), Framing::kLength, 5, 100);
    INFO(name << ": " << value);
    REQUIRE_FALSE(reader);
    CHECK(reader.error().code == ErrorCode::kDenied);
  }
  CHECK(BodyReader::start(head({{"Content-Encoding", "identity"}}), Framing::kLength, 5, 100));
  auto bad = BodyReader::start(head({}), Framing::kChunked, 0, 100);
  REQUIRE(bad);
  auto used = bad->feed("zz\r\n");
  REQUIRE_FALSE(used);
  CHECK(used.error().code == ErrorCode::kInvalidInput);
}

TEST_CASE("a body read whole goes on with its length", "[http][body]") {
  RawRequest r = head({{"Transfer-Encoding", "chunked"}, {"Expect", "100-continue"}, {"X-A", "1"}});
  CHECK(lens::http::expectsContinue(r));
  lens::http::reframe(r, 9);
  CHECK(r.findHeader("transfer-encoding") == nullptr);
  CHECK(r.findHeader("expect") == nullptr);
  REQUIRE(r.findHeader("content-length") != nullptr);
  CHECK(r.findHeader("content-length")->value() == "9");
  CHECK(r.countHeader("x-a") == 1);
  CHECK_FALSE(lens::http::expectsContinue(head({{"Expect", "something-else"}})));
}
