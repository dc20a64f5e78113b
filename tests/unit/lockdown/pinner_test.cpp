#include "libcommon/lockdown/pinner.h"

#include <catch2/catch.hpp>

#include "libcommon/decision/engine.h"
#include "libcommon/policy/policy_parser.h"

using lens::lockdown::Pin;
using lens::lockdown::Protocol;
using lens::net::IpAddress;

TEST_CASE("pin timeouts are the TTL clamped to [30 s, 3600 s]", "[lockdown][dns]") {
  CHECK(lens::lockdown::pinTimeout(0) == 30);
  CHECK(lens::lockdown::pinTimeout(29) == 30);
  CHECK(lens::lockdown::pinTimeout(300) == 300);
  CHECK(lens::lockdown::pinTimeout(3601) == 3600);
  CHECK(lens::lockdown::pinTimeout(86400) == 3600);
}

TEST_CASE("loopback, link-local and unspecified addresses are never pinned", "[lockdown][dns]") {
  for (const char* a : {"127.0.0.1", "127.9.9.9", "0.0.0.0", "169.254.169.254", "::1",
                        "::", "fe80::1", "::ffff:127.0.0.1"}) {
    INFO(a);
    CHECK_FALSE(lens::lockdown::pinnable(*IpAddress::parse(a)));
  }
  CHECK(lens::lockdown::pinnable(*IpAddress::parse("192.0.2.1")));
  CHECK(lens::lockdown::pinnable(*IpAddress::parse("2001:db8::1")));
}

TEST_CASE("a pin refreshes its element atomically: add, delete, add with the timeout",
          "[lockdown][dns]") {
  const std::string script =
      lens::lockdown::Pinner::script({Pin{*IpAddress::parse("192.0.2.1"), Protocol::kTcp, 5432},
                                      Pin{*IpAddress::parse("2001:db8::1"), Protocol::kUdp, 9}},
                                     300);
  CHECK(script ==
        "add element inet lens_sandbox raw4 { 192.0.2.1 . tcp . 5432 timeout 1s }\n"
        "delete element inet lens_sandbox raw4 { 192.0.2.1 . tcp . 5432 }\n"
        "add element inet lens_sandbox raw4 { 192.0.2.1 . tcp . 5432 timeout 300s }\n"
        "add element inet lens_sandbox raw6 { 2001:db8::1 . udp . 9 timeout 1s }\n"
        "delete element inet lens_sandbox raw6 { 2001:db8::1 . udp . 9 }\n"
        "add element inet lens_sandbox raw6 { 2001:db8::1 . udp . 9 timeout 300s }\n");
}

TEST_CASE("names are pinned for the ports of their first matching allow rule", "[lockdown][dns]") {
  const auto outcome = lens::policy::parsePolicy(
      R"({"network": {"defaultVerdict": "deny", "defaultTransport": "upstream",
    "egress": {
      "http": [{"match": "web.example", "verdict": "allow", "transport": "upstream"}],
      "tcp": [
        {"match": "db.example:5432", "verdict": "allow"},
        {"match": "*.example:6379", "verdict": "deny"},
        {"match": "cache.example:6379", "verdict": "allow"},
        {"match": "git.example:22", "verdict": "allow", "binaries": ["/usr/bin/git"]},
        {"match": "ask.example:22", "verdict": "ask"},
        {"match": "*.db.example:5433", "verdict": "allow"},
        {"match": "db.example:5432", "verdict": "deny"}],
      "udp": [{"match": "db.example:9000", "verdict": "allow"}]}}})");
  REQUIRE(outcome.ok());
  const lens::decision::Engine engine(outcome.policy);
  using RawPort = lens::decision::Engine::RawPort;
  using lens::decision::Table;
  CHECK(engine.pinnablePorts("DB.example.") ==
        std::vector<RawPort>{{Table::kTcp, 5432}, {Table::kTcp, 5433}, {Table::kUdp, 9000}});
  CHECK(engine.pinnablePorts("cache.example").empty());  // an earlier deny decides 6379
  CHECK(engine.pinnablePorts("git.example").empty());    // binaries: not in the kernel
  CHECK(engine.pinnablePorts("ask.example").empty());
  CHECK(engine.pinnablePorts("web.example").empty());  // http rules never pin
  CHECK(lens::decision::Engine(nullptr).pinnablePorts("db.example").empty());
}
