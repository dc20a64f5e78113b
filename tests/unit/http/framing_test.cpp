#include "libcommon/http/framing.h"
#include "libcommon/http/raw_request.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

using lens::ErrorCode;
using lens::http::BodyTracker;
using lens::http::ChunkedScanner;
using lens::http::findHeadEnd;
using lens::http::Framing;
using lens::http::parseResponseHead;

namespace {

// Feeds `text` in pieces of `step` bytes; returns the bytes that belonged to
// the body, or -1 on an error.
long scan(std::string_view text, std::size_t step) {
  ChunkedScanner s;
  std::size_t used = 0;
  for (std::size_t at = 0; at < text.size() && !s.done(); at += step) {
    auto n = s.feed(text.substr(at, step));
    if (!n) return -1;
    used += *n;
  }
  return s.done() ? static_cast<long>(used) : -2;
}

}  // namespace

TEST_CASE("chunked: the end is found whatever the pieces", "[http][framing]") {
  const std::string body =
      "5\r\nhello\r\n1a;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\n";
  for (std::size_t step : {1u, 2u, 3u, 7u, 1000u}) {
    INFO("step " << step);
    CHECK(scan(body + "GET next", step) == static_cast<long>(body.size()));
  }
  CHECK(scan("0\r\n\r\n", 1) == 5);
  CHECK(scan("A \r\n0123456789\r\n0\r\n\r\n", 4) == 21);
}

TEST_CASE("chunked: lenient forms are refused (they would differ from the origin's reading)",
          "[http][framing]") {
  CHECK(scan("5\nhello\r\n0\r\n\r\n", 1) == -1);     // bare LF after the size
  CHECK(scan("5\r\nhello\n0\r\n\r\n", 1) == -1);     // bare LF after the data
  CHECK(scan("5\r\nhelloX\r\n0\r\n\r\n", 1) == -1);  // data longer than announced
  CHECK(scan("\r\n", 1) == -1);                      // no size
  CHECK(scan("-5\r\n", 1) == -1);
  CHECK(scan("fffffffffffffffff\r\n", 1) == -1);  // 17 hex digits
  CHECK(scan("0\r\nBad\nTrailer\r\n\r\n", 1) == -1);
  CHECK(scan("5;a\x01\r\nhello\r\n0\r\n\r\n", 1) == -1);  // control byte in an extension
  CHECK(scan("5\r\nhello\r\n", 1) == -2);                 // not finished yet
}

TEST_CASE("body tracker: length, none, until close", "[http][framing]") {
  BodyTracker length(Framing::kLength, 5);
  CHECK_FALSE(length.done());
  CHECK(*length.feed("abc") == 3);
  CHECK(*length.feed("deGET") == 2);
  CHECK(length.done());
  BodyTracker none(Framing::kNone, 0);
  CHECK(none.done());
  CHECK(*none.feed("abc") == 0);
  BodyTracker close(Framing::kUntilClose, 0);
  CHECK(*close.feed("abc") == 3);
  CHECK_FALSE(close.done());
}

TEST_CASE("response head: framing by method and status", "[http][framing]") {
  auto head = [](std::string_view text, std::string_view method = "GET") {
    auto parsed = parseResponseHead(text, method);
    REQUIRE(parsed.ok());
    return *parsed;
  };
  const auto cl = head("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n");
  CHECK(cl.status == 200);
  CHECK(cl.framing == Framing::kLength);
  CHECK(cl.contentLength == 42);
  CHECK_FALSE(cl.close);
  CHECK(head("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", "HEAD").framing == Framing::kNone);
  CHECK(head("HTTP/1.1 204 No Content\r\n\r\n").framing == Framing::kNone);
  CHECK(head("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").framing == Framing::kNone);
  CHECK(head("HTTP/1.1 100 Continue\r\n\r\n").framing == Framing::kNone);
  CHECK(
      head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n").framing ==
      Framing::kChunked);
  const auto eof = head("HTTP/1.1 200 OK\r\n\r\n");
  CHECK(eof.framing == Framing::kUntilClose);
  CHECK(eof.close);
  CHECK(head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n").close);
  CHECK_FALSE(head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n").close);
  CHECK(head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n").close);
  CHECK(head("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n").framing == Framing::kNone);
}

TEST_CASE("response head: malformed ones are refused", "[http][framing]") {
  for (std::string_view text :
       {"HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 099 X\r\n\r\n",
        "ICY 200 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n"}) {
    INFO(text);
    auto parsed = parseResponseHead(text, "GET");
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == ErrorCode::kInvalidInput);
  }
  CHECK(findHeadEnd("HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody") == std::optional<std::size_t>(25));
  CHECK_FALSE(findHeadEnd("HTTP/1.1 200 OK\r\nA: b\r\n").has_value());
}

TEST_CASE("response head: a bare CR or a NUL is refused (RFC 9110 section 5.5)",
          "[http][framing]") {
  // A proxy that relays field lines byte for byte must not pass on a CR that
  // a client could take for a line end, nor a NUL.
  using namespace std::string_view_literals;
  for (std::string_view text : {"HTTP/1.1 200 OK\rX: y\r\nContent-Length: 0\r\n\r\n"sv,
                                "HTTP/1.1 200 OK\r\r\nContent-Length: 0\r\n\r\n"sv,
                                "HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\nContent-Length: 0\r\n\r\n"sv,
                                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\0\r\n\r\n"sv,
                                "HTTP/1.1 200 O\0K\r\nContent-Length: 0\r\n\r\n"sv}) {
    INFO(text);
    auto parsed = parseResponseHead(text, "GET");
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == ErrorCode::kInvalidInput);
  }
  // What follows the empty line is the body's, not the head's.
  CHECK(parseResponseHead("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n\r\0"sv, "GET").ok());
  // Bare LF line ends are still read.
  CHECK(parseResponseHead("HTTP/1.0 200 OK\nContent-Length: 0\n\n", "GET").ok());
}
