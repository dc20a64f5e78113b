#include "libcommon/net/host_port.h"

#include <catch2/catch.hpp>

#include <string>

using lens::net::parseHostPort;

TEST_CASE("parseHostPort splits names, IPv4 and bracketed IPv6 from their port", "[net]") {
  struct Case {
    std::string text;
    std::string host;
    int port;  // 0 = none
  };
  const auto [text, host, port] = GENERATE(values<Case>({
      {"example.com", "example.com", 0},
      {"Example.COM:8443", "Example.COM", 8443},
      {"s3.us-east-1.amazonaws.com:443", "s3.us-east-1.amazonaws.com", 443},
      {"my_host", "my_host", 0},
      {"192.0.2.1:80", "192.0.2.1", 80},
      {"[2001:db8::1]", "2001:db8::1", 0},
      {"[2001:db8::1]:65535", "2001:db8::1", 65535},
      {"2001:db8::1", "2001:db8::1", 0},
  }));
  CAPTURE(text);
  auto parsed = parseHostPort(text);
  REQUIRE(parsed.ok());
  CHECK(parsed->host == host);
  CHECK(parsed->port.value_or(0) == port);
}

TEST_CASE("parseHostPort refuses what is not a host", "[net]") {
  struct Case {
    std::string text;
    std::string message;
  };
  const auto [text, message] = GENERATE(values<Case>({
      {"", "the host is empty"},
      {":443", "the host is empty"},
      {"a.example:0", "the port is not a number from 1 to 65535"},
      {"a.example:65536", "the port is not a number from 1 to 65535"},
      {"a.example:", "the port is not a number from 1 to 65535"},
      {"a.example:+1", "the port is not a number from 1 to 65535"},
      {"a b", "the host has a character other than letters, digits, '-', '_' and '.'"},
      {"user@a.example", "the host has a character other than letters, digits, '-', '_' and '.'"},
      {"a.example/path", "the host has a character other than letters, digits, '-', '_' and '.'"},
      {"[2001:db8::1", "'[' without a closing ']' in the host"},
      {"[192.0.2.1]", "the host in brackets is not an IPv6 address"},
      {"[2001:db8::1]x", "']' is not followed by ':' and a port"},
      {"a:b:c", "the host has several ':' but is not an IPv6 address"},
  }));
  CAPTURE(text);
  auto parsed = parseHostPort(text);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == lens::ErrorCode::kInvalidInput);
  CHECK(parsed.error().message == message);
}
