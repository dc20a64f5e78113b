#include "libcommon/http/raw_request.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#ifndef LENS_SIGV4_VECTORS
#error "LENS_SIGV4_VECTORS must name the AWS SigV4 test-vector directory"
#endif

using lens::ErrorCode;
using lens::http::LineEnding;
using lens::http::parseRawRequest;
using lens::http::RawRequest;
using lens::http::RawRequestLimits;
using lens::http::serializeRawRequest;

namespace {

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

RawRequest parseOk(std::string_view text) {
  auto parsed = parseRawRequest(text);
  INFO("parse error: " << (parsed ? std::string() : parsed.error().message));
  REQUIRE(parsed.ok());
  return std::move(parsed).value();
}

struct Failure {
  ErrorCode code;
  std::string message;
};

Failure parseFails(std::string_view text, const RawRequestLimits& limits = {}) {
  auto parsed = parseRawRequest(text, limits);
  REQUIRE_FALSE(parsed.ok());
  return {parsed.error().code, parsed.error().message};
}

}  // namespace

TEST_CASE("parseRawRequest reads the request line, headers and body", "[http]") {
  const RawRequest r = parseOk(
      "POST /a/b?x=1&y HTTP/1.1\n"
      "Host:example.amazonaws.com\n"
      "My-Header: spaced value \n"
      "Content-Length:5\n"
      "\n"
      "hello");
  CHECK(r.method == "POST");
  CHECK(r.target == "/a/b?x=1&y");
  CHECK(r.version == "HTTP/1.1");
  CHECK(r.path() == "/a/b");
  REQUIRE(r.query().has_value());
  CHECK(*r.query() == "x=1&y");
  REQUIRE(r.headers.size() == 3);
  CHECK(r.headers[0].name == "Host");
  CHECK(r.headers[0].rawValue == "example.amazonaws.com");
  CHECK(r.headers[1].rawValue == " spaced value ");
  CHECK(r.headers[1].value() == "spaced value");
  CHECK(r.body == "hello");
}

TEST_CASE("parseRawRequest: a target without '?' has no query, '?' alone an empty one", "[http]") {
  CHECK_FALSE(parseOk("GET /x HTTP/1.1\nHost:h\n").query().has_value());
  const RawRequest r = parseOk("GET /x? HTTP/1.1\nHost:h\n");
  REQUIRE(r.query().has_value());
  CHECK(r.query()->empty());
  CHECK(r.path() == "/x");
}

TEST_CASE("parseRawRequest keeps duplicate headers in order and finds them case-insensitively",
          "[http]") {
  RawRequest r =
      parseOk("GET / HTTP/1.1\nHost:h\nMy-Header1:value4\nmy-header1:value1\nMY-HEADER1:value3\n");
  REQUIRE(r.headers.size() == 4);
  CHECK(r.countHeader("my-header1") == 3);
  REQUIRE(r.findHeader("My-Header1") != nullptr);
  CHECK(r.findHeader("My-Header1")->rawValue == "value4");
  CHECK(r.headers[2].name == "my-header1");
  CHECK(r.headers[3].rawValue == "value3");
  CHECK(r.findHeader("absent") == nullptr);
  CHECK(r.removeHeaders("MY-header1") == 3);
  CHECK(r.headers.size() == 1);
  r.addHeader("X-New", "v");
  CHECK(serializeRawRequest(r) == "GET / HTTP/1.1\nHost:h\nX-New:v\n\n");
}

TEST_CASE("parseRawRequest joins obsolete folded lines to their field", "[http]") {
  const std::string text =
      "GET / HTTP/1.1\n"
      "Host:example.amazonaws.com\n"
      "My-Header1:value1\n"
      "  value2\n"
      "\t   value3\n"
      "After: x\n";
  const RawRequest r = parseOk(text);
  REQUIRE(r.headers.size() == 3);
  CHECK(r.headers[1].rawValue == "value1\n  value2\n\t   value3");
  CHECK(r.headers[1].value() == "value1 value2 value3");
  CHECK(r.headers[2].value() == "x");
  CHECK(serializeRawRequest(r) == text + "\n");
}

TEST_CASE("parseRawRequest accepts CRLF, LF and a mix of both", "[http]") {
  const std::string crlf = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n  2\r\n\r\nbody\r\n";
  const RawRequest r = parseOk(crlf);
  REQUIRE(r.headers.size() == 2);
  CHECK(r.headers[0].rawValue == " h");
  CHECK(r.headers[1].rawValue == " 1\n  2");
  CHECK(r.body == "body\r\n");
  CHECK(serializeRawRequest(r, LineEnding::kCrLf) == crlf);
  CHECK(serializeRawRequest(r) == "GET / HTTP/1.1\nHost: h\nA: 1\n  2\n\nbody\r\n");

  const RawRequest mixed = parseOk("GET / HTTP/1.1\r\nHost: h\nB:2\r\n");
  CHECK(mixed.headers.size() == 2);
  CHECK(mixed.headers[1].rawValue == "2");
}

TEST_CASE("parseRawRequest: the header section may end at the end of the input", "[http]") {
  const RawRequest noNewline = parseOk("GET / HTTP/1.1\nHost:h");
  REQUIRE(noNewline.headers.size() == 1);
  CHECK(noNewline.headers[0].rawValue == "h");
  CHECK(noNewline.body.empty());
  const RawRequest requestLineOnly = parseOk("GET / HTTP/1.0");
  CHECK(requestLineOnly.headers.empty());
  CHECK(requestLineOnly.version == "HTTP/1.0");
  CHECK(serializeRawRequest(requestLineOnly) == "GET / HTTP/1.0\n\n");
}

TEST_CASE("parseRawRequest accepts a target with spaces and raw UTF-8, as the vectors have",
          "[http]") {
  const RawRequest r = parseOk("GET /example space/\xe1\x88\xb4 HTTP/1.1\nHost:h\n");
  CHECK(r.target == "/example space/\xe1\x88\xb4");
}

TEST_CASE("parseRawRequest keeps a chunked body as received", "[http]") {
  const RawRequest r =
      parseOk("POST / HTTP/1.1\nHost:h\nTransfer-Encoding: chunked\n\n5\r\nhello\r\n0\r\n\r\n");
  CHECK(r.body == "5\r\nhello\r\n0\r\n\r\n");
}

TEST_CASE("every test-vector request parses and serialises back unchanged", "[http]") {
  const std::filesystem::path root = LENS_SIGV4_VECTORS;
  REQUIRE(std::filesystem::is_directory(root));
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    const std::string text = readFile(entry.path() / "request.txt");
    DYNAMIC_SECTION(entry.path().filename().string()) {
      const RawRequest r = parseOk(text);
      // The vectors leave out the empty line when there is no body.
      const bool hasEmptyLine = text.find("\n\n") != std::string::npos;
      CHECK(serializeRawRequest(r) == (hasEmptyLine ? text : text + "\n"));
    }
    ++count;
  }
  CHECK(count > 0);
}

TEST_CASE("parseRawRequest rejects malformed requests with a precise message", "[http]") {
  struct Case {
    std::string text;
    std::string message;
  };
  const auto [text, message] = GENERATE(values<Case>({
      {"", "empty request: missing request line"},
      {"\nGET / HTTP/1.1\n",
       "line 1: missing request line (the request starts with an empty line)"},
      {"GET\n", "line 1: malformed request line, expected METHOD SP TARGET SP HTTP-VERSION"},
      {"GET /\n", "line 1: malformed request line, expected METHOD SP TARGET SP HTTP-VERSION"},
      {" / HTTP/1.1\n", "line 1, column 1: empty method in request line"},
      {"GE(T / HTTP/1.1\n", "line 1, column 3: invalid character in method"},
      {"GET / HTTP/2\n",
       "line 1, column 7: unsupported HTTP version (expected HTTP/1.1 or HTTP/1.0)"},
      {"GET / http/1.1\n",
       "line 1, column 7: unsupported HTTP version (expected HTTP/1.1 or HTTP/1.0)"},
      {"GET  / HTTP/1.1\n",
       "line 1: malformed request line: empty request target or extra spaces around it"},
      {"GET /a\tb HTTP/1.1\n", "line 1, column 7: control character in request target"},
      {"GET / HTTP/1.1\rHost: h\n",
       "line 1, column 15: carriage return not followed by a line feed"},
      {"GET / HTTP/1.1\nHost h\n", "line 2: header line has no ':'"},
      {"GET / HTTP/1.1\n:h\n", "line 2, column 1: empty header name"},
      {"GET / HTTP/1.1\nHost :h\n", "line 2, column 5: whitespace in header name or before ':'"},
      {"GET / HTTP/1.1\nHo@st:h\n", "line 2, column 3: invalid character in header name"},
      {"GET / HTTP/1.1\n folded\n",
       "line 2, column 1: continuation line before the first header field"},
      {"GET / HTTP/1.1\nHost:h\nA: x\x01y\n",
       "line 3, column 5: control character in header value"},
      {"GET / HTTP/1.1\nHost:h\nA: x\n  \x7f\n",
       "line 4, column 3: control character in header value"},
      {"GET / HTTP/1.1\nHost:h\nA: x\ry\n",
       "line 3, column 5: carriage return not followed by a line feed"},
      {"GET / HTTP/1.1\nHost:h\nContent-Length: 1x\n\nb",
       "line 3: Content-Length is not a decimal number"},
      {"GET / HTTP/1.1\nHost:h\nContent-Length: -1\n\n",
       "line 3: Content-Length is not a decimal number"},
      {"GET / HTTP/1.1\nContent-Length: 1\nHost:h\nContent-Length: 2\n\nb",
       "line 4: Content-Length differs from the one on line 2"},
      {"GET / HTTP/1.1\nHost:h\nContent-Length: 3\n\nab",
       "line 3: body is 2 bytes but Content-Length is 3"},
      {"GET / HTTP/1.1\nHost:h\nContent-Length: 1\n\nab",
       "line 3: body is 2 bytes but Content-Length is 1"},
      {"GET / HTTP/1.1\nHost:h\nContent-Length: 2\nTransfer-Encoding: chunked\n\nab",
       "line 3: Content-Length together with Transfer-Encoding (ambiguous framing)"},
  }));
  CAPTURE(text);
  const Failure failure = parseFails(text);
  CHECK(failure.code == ErrorCode::kInvalidInput);
  CHECK(failure.message == message);
}

TEST_CASE("parseRawRequest enforces its limits with ErrorCode::kLimit", "[http]") {
  RawRequestLimits limits;
  limits.maxHeadBytes = 40;
  limits.maxHeaderCount = 2;
  limits.maxBodyBytes = 4;

  SECTION("a head of exactly the limit is accepted") {
    const std::string text = "GET / HTTP/1.1\nHost:h\nA:0123456789abcd\n\nbody";
    REQUIRE(text.find("\n\n") + 2 == 40);
    CHECK(parseRawRequest(text, limits).ok());
  }
  SECTION("one byte more is not") {
    const Failure f = parseFails("GET / HTTP/1.1\nHost:h\nA:0123456789abcde\n\nbody", limits);
    CHECK(f.code == ErrorCode::kLimit);
    CHECK(f.message == "line 4: request head exceeds the limit of 40 bytes");
  }
  SECTION("a long line without a line break is stopped at the limit") {
    const Failure f = parseFails("GET /" + std::string(100, 'a') + " HTTP/1.1\n", limits);
    CHECK(f.code == ErrorCode::kLimit);
    CHECK(f.message == "line 1: request head exceeds the limit of 40 bytes");
  }
  SECTION("header count") {
    const Failure f = parseFails("GET / HTTP/1.1\nA:1\nB:2\nC:3\n", limits);
    CHECK(f.code == ErrorCode::kLimit);
    CHECK(f.message == "line 4: more than 2 header fields");
  }
  SECTION("a folded field counts once") {
    CHECK(parseRawRequest("GET / HTTP/1.1\nA:1\n 1\nB:2\n", limits).ok());
  }
  SECTION("body") {
    const Failure f = parseFails("GET / HTTP/1.1\nA:1\n\nhello", limits);
    CHECK(f.code == ErrorCode::kLimit);
    CHECK(f.message == "body of 5 bytes exceeds the limit of 4 bytes");
  }
  SECTION("a Content-Length over the body limit") {
    const Failure f = parseFails("GET / HTTP/1.1\nContent-Length:99\n\nhi", limits);
    CHECK(f.code == ErrorCode::kLimit);
    CHECK(f.message == "line 2: Content-Length 99 exceeds the body limit of 4 bytes");
  }
}

TEST_CASE("parseRawRequest error messages never quote header values or the target", "[http]") {
  const std::string secret = "AKIAREALSECRET0123456789";
  const std::vector<std::string> inputs = {
      "GET /" + secret + "\x01 HTTP/1.1\n",
      "GET / HTTP/1.1\nAuthorization Bearer " + secret + "\n",
      "GET / HTTP/1.1\nAuthorization: Bearer " + secret + "\x02\n",
      "GET / HTTP/1.1\nX-" + secret + " : v\n",
  };
  for (const std::string& text : inputs) {
    auto parsed = parseRawRequest(text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().message.find(secret) == std::string::npos);
  }
}

TEST_CASE("HeaderField::value trims and unfolds but keeps inner spacing", "[http]") {
  lens::http::HeaderField field{"A", " \t a   b \t"};
  CHECK(field.value() == "a   b");
  field.rawValue = "a \n \t b";
  CHECK(field.value() == "a b");
  field.rawValue = "   ";
  CHECK(field.value().empty());
}

TEST_CASE("parseRawRequestHead stops at the empty line and leaves the body unread", "[http]") {
  using lens::http::parseRawRequestHead;
  const std::string text = "PUT /k HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc";
  auto head = parseRawRequestHead(text);
  REQUIRE(head.ok());
  CHECK(head->request.method == "PUT");
  CHECK(head->request.headers.size() == 2);
  CHECK(head->request.body.empty());
  CHECK(head->bodyOffset == text.size() - 3);
  REQUIRE(head->contentLength.has_value());
  CHECK(*head->contentLength == 10);

  // parseRawRequest refuses the same text: its body is short.
  auto whole = parseRawRequest(text);
  REQUIRE_FALSE(whole.ok());
  CHECK(whole.error().message == "line 3: body is 3 bytes but Content-Length is 10");

  auto noLength = parseRawRequestHead("GET / HTTP/1.1\nHost: h\n");
  REQUIRE(noLength.ok());
  CHECK_FALSE(noLength->contentLength.has_value());
  CHECK(noLength->bodyOffset == 23);
}

TEST_CASE("parseRawRequestHead checks the framing headers it can see", "[http]") {
  using lens::http::parseRawRequestHead;
  RawRequestLimits limits;
  limits.maxBodyBytes = 100;
  auto over = parseRawRequestHead("PUT / HTTP/1.1\nHost: h\nContent-Length: 101\n\n", limits);
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().code == ErrorCode::kLimit);
  CHECK(over.error().message == "line 3: Content-Length 101 exceeds the body limit of 100 bytes");
  auto both = parseRawRequestHead(
      "PUT / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\nContent-Length: 1\n\n");
  REQUIRE_FALSE(both.ok());
  CHECK(both.error().message ==
        "line 4: Content-Length together with Transfer-Encoding (ambiguous framing)");
}

TEST_CASE("findHeadEnd finds the empty line after the header section", "[http]") {
  using lens::http::findHeadEnd;
  CHECK(findHeadEnd("GET / HTTP/1.1\nHost: h\n\nbody") == std::optional<std::size_t>(24));
  CHECK(findHeadEnd("GET / HTTP/1.1\r\nHost: h\r\n\r\nbody") == std::optional<std::size_t>(27));
  CHECK(findHeadEnd("GET / HTTP/1.1\r\nHost: h\r\n\r") == std::nullopt);
  CHECK(findHeadEnd("GET / HTTP/1.1\nHost: h\n") == std::nullopt);
  CHECK(findHeadEnd("") == std::nullopt);
}

TEST_CASE("detectLineEnding looks at the request line", "[http]") {
  using lens::http::detectLineEnding;
  CHECK(detectLineEnding("GET / HTTP/1.1\r\nHost: h\n") == LineEnding::kCrLf);
  CHECK(detectLineEnding("GET / HTTP/1.1\nHost: h\r\n") == LineEnding::kLf);
  CHECK(detectLineEnding("GET / HTTP/1.1") == LineEnding::kLf);
}
