#include "libcommon/lockdown/allow_set.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "libcommon/policy/policy_parser.h"

namespace {

// The static elements of a policy whose egress tables are given as JSON.
std::vector<std::string> elements(const std::string& tcp, const std::string& udp = "[]") {
  const std::string json =
      R"({"network": {"defaultVerdict": "deny", "defaultTransport": "upstream", "egress": {"tcp": )" +
      tcp + R"(, "udp": )" + udp + "}}}";
  const auto outcome = lens::policy::parsePolicy(json);
  INFO(json);
  REQUIRE(outcome.ok());
  std::vector<std::string> out;
  for (const auto& e : lens::lockdown::staticAllowElements(*outcome.policy))
    out.push_back(e.toNft());
  return out;
}

}  // namespace

TEST_CASE("IP and CIDR allow rules become elements; host rules do not", "[lockdown]") {
  CHECK(elements(R"([{"match": "10.0.0.5:5432", "verdict": "allow"},
                     {"match": "db.internal:5432", "verdict": "allow"},
                     {"match": "*.example.com:22", "verdict": "allow"},
                     {"match": "[2001:db8::/48]:443", "verdict": "allow"}])",
                 R"([{"match": "192.0.2.0/24:9000", "verdict": "allow"}])") ==
        std::vector<std::string>{"10.0.0.5 . tcp . 5432", "192.0.2.0/24 . udp . 9000",
                                 "2001:db8::/48 . tcp . 443"});
}

TEST_CASE("the first matching rule wins, as in the engine", "[lockdown]") {
  // An earlier deny carves its range out of a later allow on the same port.
  CHECK(elements(R"([{"match": "10.0.0.128/25:80", "verdict": "deny"},
                     {"match": "10.0.0.0/24:80", "verdict": "allow"}])") ==
        std::vector<std::string>{"10.0.0.0/25 . tcp . 80"});
  // ask is not allow either.
  CHECK(elements(R"([{"match": "10.0.0.7:80", "verdict": "ask"},
                     {"match": "10.0.0.0/29:80", "verdict": "allow"}])") ==
        std::vector<std::string>{"10.0.0.0-10.0.0.6 . tcp . 80"});
  // An earlier rule on another port changes nothing.
  CHECK(elements(R"([{"match": "10.0.0.7:81", "verdict": "deny"},
                     {"match": "10.0.0.0/29:80", "verdict": "allow"}])") ==
        std::vector<std::string>{"10.0.0.0/29 . tcp . 80"});
  // A "*" rule decides everything on its port: later rules never match.
  CHECK(
      elements(
          R"([{"match": "*:80", "verdict": "deny"}, {"match": "10.0.0.0/8:80", "verdict": "allow"}])")
          .empty());
  // A later deny does not take back an earlier allow.
  CHECK(
      elements(
          R"([{"match": "10.0.0.0/30:80", "verdict": "allow"}, {"match": "10.0.0.1:80", "verdict": "deny"}])") ==
      std::vector<std::string>{"10.0.0.0/30 . tcp . 80"});
  // tcp and udp are separate tables.
  CHECK(elements(R"([{"match": "10.0.0.1:80", "verdict": "deny"}])",
                 R"([{"match": "10.0.0.1:80", "verdict": "allow"}])") ==
        std::vector<std::string>{"10.0.0.1 . udp . 80"});
}

TEST_CASE("rules with binaries open nothing but still shadow later rules", "[lockdown]") {
  CHECK(elements(R"([{"match": "10.0.0.1:22", "verdict": "allow", "binaries": ["/usr/bin/ssh"]},
                     {"match": "10.0.0.0/30:22", "verdict": "allow"}])") ==
        std::vector<std::string>{"10.0.0.0 . tcp . 22", "10.0.0.2/31 . tcp . 22"});
}

TEST_CASE("the safety floor is removed from the elements", "[lockdown]") {
  CHECK(elements(R"([{"match": "127.0.0.0/8:22", "verdict": "allow"},
                     {"match": "169.254.169.254:80", "verdict": "allow"},
                     {"match": "[::1]:22", "verdict": "allow"},
                     {"match": "[fe80::/10]:22", "verdict": "allow"}])")
            .empty());
  CHECK(elements(R"([{"match": "0.0.0.0/0:443", "verdict": "allow"}])") ==
        std::vector<std::string>{"1.0.0.0-126.255.255.255 . tcp . 443",
                                 "128.0.0.0-169.253.255.255 . tcp . 443",
                                 "169.255.0.0-255.255.255.255 . tcp . 443"});
  CHECK(elements(R"([{"match": "[::/0]:443", "verdict": "allow"}])") ==
        std::vector<std::string>{"::1:0:0-::fffe:ffff:ffff . tcp . 443",
                                 "::1:0:0:0-fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff . tcp . 443",
                                 "fec0::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff . tcp . 443"});
}

TEST_CASE("adjacent allows merge and elements are sorted", "[lockdown]") {
  CHECK(elements(R"([{"match": "10.0.0.2/31:80", "verdict": "allow"},
                     {"match": "10.0.0.0/31:80", "verdict": "allow"},
                     {"match": "10.0.0.4:80", "verdict": "allow"},
                     {"match": "9.9.9.9:79", "verdict": "allow"}])") ==
        std::vector<std::string>{"9.9.9.9 . tcp . 79", "10.0.0.0-10.0.0.4 . tcp . 80"});
}
