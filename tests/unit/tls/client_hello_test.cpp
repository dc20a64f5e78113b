#include "libcommon/tls/client_hello.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using lens::tls::HelloStatus;
using lens::tls::looksLikeTls;
using lens::tls::parseClientHello;

namespace {

std::string readCapture(const std::string& name) {
  std::ifstream in(std::string(LENS_TESTDATA_DIR) + "/tls/" + name, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string be16(std::size_t n) {
  return {static_cast<char>((n >> 8) & 0xff), static_cast<char>(n & 0xff)};
}
std::string be24(std::size_t n) {
  return {static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 8) & 0xff),
          static_cast<char>(n & 0xff)};
}

// One extension: type, length, data.
std::string extension(std::uint16_t type, const std::string& data) {
  return be16(type) + be16(data.size()) + data;
}
std::string sni(const std::string& name) {
  const std::string entry = std::string(1, '\0') + be16(name.size()) + name;
  return extension(0, be16(entry.size()) + entry);
}

std::string alpn(const std::vector<std::string>& protocols) {
  std::string list;
  for (const std::string& p : protocols) list += std::string(1, static_cast<char>(p.size())) + p;
  return extension(0x0010, be16(list.size()) + list);
}

// A ClientHello handshake message (TLS 1.2 layout) with these extensions;
// `withExtensions` false leaves the block out altogether.
std::string helloMessage(const std::string& extensions, bool withExtensions = true) {
  std::string body = "\x03\x03" + std::string(32, 'r');
  body += std::string(1, '\0');                          // empty session id
  body += be16(4) + std::string("\x13\x01\xc0\x2f", 4);  // two cipher suites
  body += std::string("\x01\x00", 2);                    // null compression
  if (withExtensions) body += be16(extensions.size()) + extensions;
  return std::string(1, '\x01') + be24(body.size()) + body;
}

// The message in handshake records of at most `fragment` bytes.
std::string records(const std::string& message, std::size_t fragment = 16384) {
  std::string out;
  for (std::size_t at = 0; at < message.size(); at += fragment) {
    const std::string piece = message.substr(at, fragment);
    out += std::string("\x16\x03\x01", 3) + be16(piece.size()) + piece;
  }
  return out;
}

// The handshake message carried by the records of a capture.
std::string messageOf(const std::string& capture) {
  std::string out;
  for (std::size_t at = 0; at + 5 <= capture.size();) {
    const std::size_t length = (static_cast<std::uint8_t>(capture[at + 3]) << 8) |
                               static_cast<std::uint8_t>(capture[at + 4]);
    out += capture.substr(at + 5, length);
    at += 5 + length;
  }
  return out;
}

}  // namespace

TEST_CASE("real ClientHellos: the SNI of openssl, curl and python", "[tls]") {
  struct Case {
    const char* file;
    const char* name;
  };
  for (const Case& c :
       {Case{"openssl-sni.bin", "allowed.example"}, Case{"openssl-tls12.bin", "www.example.com"},
        Case{"curl.bin", "origin.test"}, Case{"python.bin", "py.example.org"}}) {
    INFO(c.file);
    const std::string bytes = readCapture(c.file);
    const auto r = parseClientHello(bytes);
    REQUIRE(r.status == HelloStatus::kComplete);
    REQUIRE(r.hello.serverName);
    CHECK(*r.hello.serverName == c.name);  // lower-cased (www.Example.COM was sent)
    CHECK(r.hello.legacyVersion == 0x0303);
    CHECK(r.hello.bytes == bytes.size());
  }
}

TEST_CASE("a real ClientHello without SNI is complete with no name", "[tls]") {
  const auto r = parseClientHello(readCapture("openssl-nosni.bin"));
  REQUIRE(r.status == HelloStatus::kComplete);
  CHECK_FALSE(r.hello.serverName);
}

TEST_CASE("every prefix of a ClientHello asks for more, never fails", "[tls]") {
  const std::string bytes = readCapture("curl.bin");
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO(n);
    REQUIRE(parseClientHello(bytes.substr(0, n)).status == HelloStatus::kNeedMore);
  }
}

TEST_CASE("waitFor: no prefix shorter than it says more, and tiny records cost few parses",
          "[tls]") {
  const std::string message = messageOf(readCapture("curl.bin"));
  for (std::size_t fragment : {1u, 3u, 100u, 16384u}) {
    INFO(fragment);
    const std::string split = records(message, fragment);
    // A reader that parses only once it has waitFor bytes, as lens-tproxy
    // does, fed one byte at a time.
    std::size_t parses = 0;
    std::size_t waitFor = 0;
    lens::tls::HelloResult r;
    for (std::size_t n = 1; n <= split.size(); ++n) {
      if (n < waitFor) {
        // Nothing the parser can use: a parse here would say the same.
        if (n % 97 == 0)
          REQUIRE(parseClientHello(split.substr(0, n)).status == HelloStatus::kNeedMore);
        continue;
      }
      ++parses;
      r = parseClientHello(split.substr(0, n));
      if (r.status != HelloStatus::kNeedMore) break;
      REQUIRE(r.waitFor > n);
      waitFor = r.waitFor;
    }
    REQUIRE(r.status == HelloStatus::kComplete);
    CHECK(r.hello.bytes == split.size());
    CHECK(*r.hello.serverName == "origin.test");
    // 1-byte records: about 6 bytes per byte of message; without waitFor,
    // one parse per record (thousands), each over everything so far.
    CHECK(parses < 80);
  }
}

TEST_CASE("a ClientHello split across many records, and bytes after it", "[tls]") {
  const std::string message = messageOf(readCapture("curl.bin"));
  for (std::size_t fragment : {1u, 7u, 100u, 300u}) {
    INFO(fragment);
    const std::string split = records(message, fragment);
    const auto r = parseClientHello(split);
    REQUIRE(r.status == HelloStatus::kComplete);
    CHECK(*r.hello.serverName == "origin.test");
    CHECK(r.hello.bytes == split.size());
    CHECK(parseClientHello(split.substr(0, split.size() - 1)).status == HelloStatus::kNeedMore);
    // A later record (early data, a change_cipher_spec) is not part of it.
    const auto more = parseClientHello(split + std::string("\x14\x03\x03\x00\x01\x01", 6));
    REQUIRE(more.status == HelloStatus::kComplete);
    CHECK(more.hello.bytes == split.size());
  }
}

TEST_CASE("synthetic ClientHellos: SNI, no extensions, unknown extensions", "[tls]") {
  auto r =
      parseClientHello(records(helloMessage(alpn({"h2", "http/1.1"}) + sni("Api.Example.com"))));
  REQUIRE(r.status == HelloStatus::kComplete);
  CHECK(*r.hello.serverName == "api.example.com");
  CHECK(r.hello.alpn == std::vector<std::string>{"h2", "http/1.1"});
  r = parseClientHello(records(helloMessage("", false)));
  REQUIRE(r.status == HelloStatus::kComplete);
  CHECK_FALSE(r.hello.serverName);
  r = parseClientHello(records(helloMessage(extension(0xff01, "\x00"))));
  REQUIRE(r.status == HelloStatus::kComplete);
  CHECK_FALSE(r.hello.serverName);
}

TEST_CASE("not TLS, or not a ClientHello: invalid", "[tls]") {
  CHECK(parseClientHello("GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == HelloStatus::kInvalid);
  CHECK(parseClientHello(std::string("\x17\x03\x03\x00\x05hello", 10)).status ==
        HelloStatus::kInvalid);
  CHECK(parseClientHello(std::string("\x16\x03\x05\x00\x05hello", 10)).status ==
        HelloStatus::kInvalid);
  CHECK(parseClientHello(std::string("\x16\x03\x01\x00\x00", 5)).status == HelloStatus::kInvalid);
  CHECK(parseClientHello(std::string("\x16\x03\x01\xff\xff", 5)).status == HelloStatus::kInvalid);
  // A ServerHello (type 2) in a handshake record.
  std::string message = helloMessage(sni("a.example"));
  message[0] = '\x02';
  CHECK(parseClientHello(records(message)).status == HelloStatus::kInvalid);
  // A second handshake message in the ClientHello's record.
  CHECK(
      parseClientHello(records(helloMessage(sni("a.example")) + std::string("\x01\x00\x00\x00", 4)))
          .status == HelloStatus::kInvalid);
  // Two bytes in: already not a TLS record.
  CHECK(parseClientHello("\x16\x04").status == HelloStatus::kInvalid);
}

TEST_CASE("malformed ClientHello bodies are invalid, not read past their end", "[tls]") {
  const std::string good = helloMessage(sni("a.example"));
  // Every shorter handshake length claims less than the body has: the
  // vectors inside then overrun it.
  for (std::size_t cut = 1; cut + 4 < good.size(); cut += 3) {
    std::string body = good.substr(4, good.size() - 4 - cut);
    std::string message = std::string(1, '\x01') + be24(body.size()) + body;
    INFO(cut);
    CHECK(parseClientHello(records(message)).status == HelloStatus::kInvalid);
  }
  // Session id longer than 32.
  std::string body = "\x03\x03" + std::string(32, 'r') + std::string(1, '\x21') +
                     std::string(33, 's') + be16(2) + std::string("\x13\x01", 2) +
                     std::string("\x01\x00", 2);
  CHECK(parseClientHello(records(std::string(1, '\x01') + be24(body.size()) + body)).status ==
        HelloStatus::kInvalid);
  // Odd cipher suite length, no compression method.
  body = "\x03\x03" + std::string(32, 'r') + std::string(1, '\0') + be16(3) +
         std::string("\x13\x01\x00", 3) + std::string("\x01\x00", 2);
  CHECK(parseClientHello(records(std::string(1, '\x01') + be24(body.size()) + body)).status ==
        HelloStatus::kInvalid);
  body = "\x03\x03" + std::string(32, 'r') + std::string(1, '\0') + be16(2) +
         std::string("\x13\x01", 2) + std::string(1, '\0');
  CHECK(parseClientHello(records(std::string(1, '\x01') + be24(body.size()) + body)).status ==
        HelloStatus::kInvalid);
  // An extension longer than its block; a repeated extension.
  CHECK(parseClientHello(records(helloMessage(be16(0x0010) + be16(40) + "ab"))).status ==
        HelloStatus::kInvalid);
  CHECK(parseClientHello(records(helloMessage(sni("a.example") + sni("b.example")))).status ==
        HelloStatus::kInvalid);
}

TEST_CASE("server_name must be one valid host name", "[tls]") {
  for (const std::string& bad :
       {std::string("a..example"), std::string("example."), std::string(".example"),
        std::string("exa mple"), std::string("ex\x00mple", 8), std::string("ex/ample"),
        std::string(64, 'a') + ".example", std::string(254, 'a'), std::string()}) {
    INFO(bad);
    CHECK(parseClientHello(records(helloMessage(sni(bad)))).status == HelloStatus::kInvalid);
  }
  // Two host_name entries in one list.
  const std::string entries =
      std::string(1, '\0') + be16(1) + "a" + std::string(1, '\0') + be16(1) + "b";
  CHECK(parseClientHello(records(helloMessage(extension(0, be16(entries.size()) + entries))))
            .status == HelloStatus::kInvalid);
  // An empty list; a list whose length disagrees with the extension's.
  CHECK(parseClientHello(records(helloMessage(extension(0, be16(0))))).status ==
        HelloStatus::kInvalid);
  CHECK(parseClientHello(
            records(helloMessage(extension(0, be16(9) + std::string(1, '\0') + be16(1) + "a"))))
            .status == HelloStatus::kInvalid);
  CHECK(parseClientHello(records(helloMessage(sni("under_score.example-1.test")))).status ==
        HelloStatus::kComplete);
}

TEST_CASE("ALPN: the protocols offered, in order; a malformed list is invalid", "[tls]") {
  // curl offers h2 and http/1.1; openssl s_client offers none unless asked.
  auto r = parseClientHello(readCapture("curl.bin"));
  REQUIRE(r.status == HelloStatus::kComplete);
  CHECK(r.hello.alpn == std::vector<std::string>{"h2", "http/1.1"});
  r = parseClientHello(readCapture("openssl-sni.bin"));
  REQUIRE(r.status == HelloStatus::kComplete);
  CHECK(r.hello.alpn.empty());
  r = parseClientHello(records(helloMessage(alpn({"http/1.1"}))));
  REQUIRE(r.status == HelloStatus::kComplete);
  CHECK(r.hello.alpn == std::vector<std::string>{"http/1.1"});
  CHECK_FALSE(r.hello.serverName);
  for (const std::string& bad : {
           extension(0x0010, ""),                                        // no list
           extension(0x0010, be16(0)),                                   // an empty list
           extension(0x0010, be16(3) + std::string("\x02h2", 3) + "x"),  // bytes after the list
           extension(0x0010, be16(4) + std::string("\x05h2", 3) + "x"),  // a name overruns it
           extension(0x0010, be16(4) + std::string("\x02h2\x00", 4)),    // an empty name
           alpn({"h2"}) + alpn({"http/1.1"}),                            // twice
       }) {
    CHECK(parseClientHello(records(helloMessage(bad))).status == HelloStatus::kInvalid);
  }
}

TEST_CASE("a ClientHello over the limit is too large, whatever has arrived", "[tls]") {
  lens::tls::HelloLimits limits;
  limits.maxHandshakeBytes = 256;
  const std::string bytes = readCapture("curl.bin");  // a 508-byte message
  CHECK(parseClientHello(bytes, limits).status == HelloStatus::kTooLarge);
  CHECK(parseClientHello(bytes.substr(0, 9), limits).status == HelloStatus::kTooLarge);
  limits.maxHandshakeBytes = 508;
  CHECK(parseClientHello(bytes, limits).status == HelloStatus::kComplete);
}

TEST_CASE("looksLikeTls: a handshake record header, or not yet known", "[tls]") {
  CHECK_FALSE(looksLikeTls(""));
  CHECK_FALSE(looksLikeTls("\x16").has_value());
  CHECK_FALSE(looksLikeTls("\x16\x03").has_value());
  CHECK(looksLikeTls("\x16\x03\x01") == true);
  CHECK(looksLikeTls(std::string("\x16\x03\x00", 3)) == true);
  CHECK(looksLikeTls("\x16\x03\x04") == true);
  CHECK(looksLikeTls("\x16\x03\x05") == false);
  CHECK(looksLikeTls("\x16\x02") == false);
  CHECK(looksLikeTls("GET ") == false);
  CHECK(looksLikeTls("SSH-2.0") == false);
}
