#include "libcommon/policy/policy_parser.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/util/hash.h"

using lens::policy::Diagnostic;
using lens::policy::InjectionType;
using lens::policy::MatchPattern;
using lens::policy::ParseOptions;
using lens::policy::ParseOutcome;
using lens::policy::Scheme;
using lens::policy::Transport;
using lens::policy::Verdict;

namespace {

ParseOptions named(std::string fileName = "p.json") {
  ParseOptions o;
  o.fileName = std::move(fileName);
  return o;
}

ParseOutcome parse(std::string_view text, const ParseOptions& options = named()) {
  return lens::policy::parsePolicy(text, options);
}

std::vector<std::string> formatAll(const std::vector<Diagnostic>& list) {
  std::vector<std::string> out;
  for (const Diagnostic& d : list) out.push_back(d.format());
  return out;
}

// Every error, formatted as lens-schema prints it.
std::vector<std::string> errors(std::string_view text, const ParseOptions& options = named()) {
  return formatAll(parse(text, options).errors);
}
std::vector<std::string> warnings(std::string_view text, const ParseOptions& options = named()) {
  return formatAll(parse(text, options).warnings);
}

// Every error as "PATH: message" (for checks that do not care about columns).
std::vector<std::string> problems(std::string_view text, const ParseOptions& options = named()) {
  std::vector<std::string> out;
  for (const Diagnostic& d : parse(text, options).errors)
    out.push_back((d.path.empty() ? "$" : d.path) + ": " + d.message);
  return out;
}

std::shared_ptr<const lens::policy::PolicyDocument> parseOk(std::string_view text,
                                                            const ParseOptions& options = named()) {
  ParseOutcome out = parse(text, options);
  INFO("text: " << text);
  for (const auto& e : out.errors) UNSCOPED_INFO(e.format());
  REQUIRE(out.ok());
  REQUIRE(out.errors.empty());
  return out.policy;
}

using Strings = std::vector<std::string>;

// A policy whose network section holds `egress` (the inside of "egress": {...}).
std::string withEgress(const std::string& egress) {
  return R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {)" +
         egress + "}}}";
}
std::string tcpRule(const std::string& match) {
  return withEgress(R"("tcp": [{"match": ")" + match + R"(", "verdict": "allow"}])");
}
std::string udpRule(const std::string& match) {
  return withEgress(R"("udp": [{"match": ")" + match + R"(", "verdict": "allow"}])");
}
std::string httpRule(const std::string& fields) {
  return withEgress(
      R"("http": [{"match": "api.example.com", "verdict": "allow", "transport": "direct", )" +
      fields + "}]");
}
std::string credentials(const std::string& list) { return R"({"credentials": [)" + list + "]}"; }
std::string awsCredential(const std::string& placeholder, const std::string& injectionFields) {
  return credentials(R"({"id": "aws", "envVar": "AWS_ACCESS_KEY_ID", )" + placeholder +
                     R"("injections": [{"injectionType": "awsSigv4", "domain": "*.amazonaws.com")" +
                     injectionFields + "}]}");
}
std::string file(const std::string& path) {
  return R"({"files": [{"path": ")" + path + R"(", "content": "x"}]})";
}

class TempDir {
 public:
  TempDir() {
    path_ =
        std::filesystem::temp_directory_path() / ("lens-policy-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string write(const std::string& name, std::string_view content) const {
    const auto p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  [[nodiscard]] std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace

// ---- a valid policy, read into the typed model ---------------------------

TEST_CASE("a complete policy is read into the typed model", "[policy][parser]") {
  const auto p = parseOk(R"({
  "network": {
    "defaultVerdict": "ask",
    "defaultTransport": "upstream",
    "egress": {
      "http": [
        {"match": "api.github.com", "verdict": "allow", "transport": "direct",
         "description": "GitHub API for gh", "binaries": ["/usr/bin/gh"],
         "rules": [{"method": "get", "path": "/repos/**"}, {"method": "*", "path": "/graphql"}, {"path": "/zen"}]},
        {"match": "*.npmjs.org", "verdict": "ask", "transport": "upstream", "scheme": "https", "tlsTerminate": true},
        {"match": "[2001:db8::1]:8443", "verdict": "deny", "transport": "upstream"}
      ],
      "tcp": [
        {"match": "db.internal:5432", "verdict": "allow", "binaries": ["/usr/bin/psql"]},
        {"match": "10.20.0.0/16:6379", "verdict": "deny", "description": "no redis"},
        {"match": "[2001:db8::/32]:5432", "verdict": "allow"}
      ],
      "udp": [{"match": "ntp.internal:123", "verdict": "allow"}]
    }
  },
  "credentials": [
    {"id": "github", "envVar": "GH_TOKEN", "placeholder": "ghp_LNSPLACEHOLDER",
     "injections": [{"injectionType": "header", "domain": "api.github.com", "header": "Authorization",
                     "value": "Bearer ghp_real", "rules": [{"path": "/repos/**"}]}]},
    {"id": "telegram", "envVar": "TG_TOKEN", "placeholder": "__lens_cred:telegram__",
     "injections": [{"injectionType": "uriPlaceholder", "domain": "api.telegram.org", "value": "123:ABC"}]},
    {"id": "aws-prod", "envVar": "AWS_ACCESS_KEY_ID", "placeholder": "LENSFAKE00AABB0000CC",
     "injections": [{"injectionType": "awsSigv4", "domain": "*.amazonaws.com", "accessKeyId": "ASIAEXAMPLE",
                     "secretAccessKey": "s", "sessionToken": "t"}]}
  ],
  "env": {"FOO": "bar", "_X1": ""},
  "files": [{"path": "/tmp/creds/config.json", "content": "{}", "mode": 384}, {"path": "notes.txt", "content": ""}]
})");
  REQUIRE(p->network);
  const auto& net = *p->network;
  CHECK(net.defaultVerdict == Verdict::kAsk);
  CHECK(net.defaultTransport == Transport::kUpstream);
  CHECK_FALSE(net.fromAllowedRoutes);

  REQUIRE(net.http.size() == 3);
  CHECK(net.http[0].match.kind() == MatchPattern::Kind::kExact);
  CHECK(net.http[0].match.host() == "api.github.com");
  CHECK(net.http[0].verdict == Verdict::kAllow);
  CHECK(net.http[0].transport == Transport::kDirect);
  CHECK(net.http[0].description == "GitHub API for gh");
  CHECK(net.http[0].binaries == Strings{"/usr/bin/gh"});
  CHECK_FALSE(net.http[0].scheme);
  CHECK_FALSE(net.http[0].tlsTerminate);
  REQUIRE(net.http[0].rules.size() == 3);
  CHECK(net.http[0].rules[0].method == "GET");
  CHECK(net.http[0].rules[0].path);
  CHECK(net.http[0].rules[1].method.empty());  // "*" = any
  CHECK(net.http[0].rules[2].method.empty());
  CHECK(net.http[1].match.kind() == MatchPattern::Kind::kSuffix);
  CHECK(net.http[1].scheme == Scheme::kHttps);
  CHECK(net.http[1].tlsTerminate);
  CHECK(net.http[2].match.kind() == MatchPattern::Kind::kCidr);
  CHECK(net.http[2].match.port() == 8443);

  REQUIRE(net.tcp.size() == 3);
  CHECK(net.tcp[0].match.port() == 5432);
  CHECK(net.tcp[0].binaries == Strings{"/usr/bin/psql"});
  CHECK(net.tcp[1].match.kind() == MatchPattern::Kind::kCidr);
  CHECK(net.tcp[1].match.port() == 6379);
  CHECK(net.tcp[1].verdict == Verdict::kDeny);
  CHECK(net.tcp[1].description == "no redis");
  CHECK(net.tcp[2].match.port() == 5432);
  REQUIRE(net.udp.size() == 1);
  CHECK(net.udp[0].match.port() == 123);

  REQUIRE(p->credentials.size() == 3);
  CHECK(p->credentials[0].id == "github");
  CHECK(p->credentials[0].envVar == "GH_TOKEN");
  REQUIRE(p->credentials[0].injections.size() == 1);
  CHECK(p->credentials[0].injections[0].type == InjectionType::kHeader);
  CHECK(p->credentials[0].injections[0].header == "Authorization");
  CHECK(p->credentials[0].injections[0].value == "Bearer ghp_real");
  CHECK(p->credentials[0].injections[0].rules.size() == 1);
  CHECK(p->credentials[1].injections[0].type == InjectionType::kUriPlaceholder);
  CHECK(p->credentials[1].injections[0].value == "123:ABC");
  const auto& aws = p->credentials[2].injections.at(0);
  CHECK(aws.type == InjectionType::kAwsSigv4);
  CHECK(aws.domain.kind() == MatchPattern::Kind::kSuffix);
  CHECK(aws.accessKeyId == "ASIAEXAMPLE");
  CHECK(aws.secretAccessKey == "s");
  CHECK(aws.sessionToken == "t");

  CHECK(p->env == std::map<std::string, std::string>{{"FOO", "bar"}, {"_X1", ""}});
  REQUIRE(p->files.size() == 2);
  CHECK(p->files[0].path == "/tmp/creds/config.json");
  CHECK(p->files[0].mode == 0600);
  CHECK(p->files[1].path == "/tmp/notes.txt");  // relative paths are placed under /tmp
  CHECK(p->files[1].mode == 0600);              // the default
}

TEST_CASE("an empty document or a missing network means allow-all", "[policy][parser]") {
  CHECK_FALSE(parseOk("{}")->network);
  CHECK_FALSE(parseOk(R"({"network": null})")->network);
  const auto p =
      parseOk(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct"}})");
  REQUIRE(p->network);
  CHECK(p->network->http.empty());
  CHECK(p->network->defaultVerdict == Verdict::kDeny);
  CHECK(p->network->defaultTransport == Transport::kDirect);
}

// ---- located messages, byte for byte -------------------------------------

TEST_CASE("errors carry file, line, column and JSON path", "[policy][parser]") {
  SECTION("a misspelt key gets a suggestion") {
    CHECK(errors(R"({
  "network": {
    "defaultVerdict": "deny",
    "defaultTransport": "upstream",
    "egress": {
      "http": [
        {"match": "api.github.com", "verdcit": "allow", "transport": "direct"}
      ]
    }
  }
})") == Strings{
            "p.json:7:9: network.egress.http[0]: missing required key \"verdict\"",
            "p.json:7:37: network.egress.http[0].verdcit: unknown key \"verdcit\" (did you mean "
            "\"verdict\"?)",
        });
  }
  SECTION("two swapped letters in a short key are still recognised") {
    CHECK(errors(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct",
  "egress": {"tcp": [{"mathc": "db:5432", "verdict": "allow"}]}}})") ==
          Strings{
              "p.json:2:22: network.egress.tcp[0]: missing required key \"match\"",
              "p.json:2:23: network.egress.tcp[0].mathc: unknown key \"mathc\" (did you mean "
              "\"match\"?)",
          });
    CHECK(errors(R"({"files": [{"paht": "a", "content": ""}]})") ==
          Strings{
              "p.json:1:12: files[0]: missing required key \"path\"",
              "p.json:1:13: files[0].paht: unknown key \"paht\" (did you mean \"path\"?)",
          });
  }
  SECTION("unrelated keys get no suggestion") {
    CHECK(errors(R"({"hostname": "x"})") ==
          Strings{"p.json:1:2: hostname: unknown key \"hostname\""});
  }
  SECTION("an enum value is checked and the closest value suggested") {
    CHECK(errors(R"({"network": {"defaultVerdict": "alow", "defaultTransport": "Direct"}})") ==
          Strings{
              "p.json:1:32: network.defaultVerdict: unknown value \"alow\" (expected allow, deny "
              "or ask); did you mean \"allow\"?",
              "p.json:1:60: network.defaultTransport: unknown value \"Direct\" (expected upstream "
              "or direct); did you mean \"direct\"?",
          });
  }
  SECTION("a wrong kind of value names both kinds") {
    CHECK(errors("{\n  \"env\": [],\n  \"files\": {},\n  \"credentials\": \"none\",\n  "
                 "\"network\": 7\n}") ==
          Strings{
              "p.json:2:10: env: expected an object, found an array",
              "p.json:3:12: files: expected an array, found an object",
              "p.json:4:18: credentials: expected an array, found a string",
              "p.json:5:14: network: expected an object, found a number",
          });
  }
  SECTION("a syntax error is located too") {
    CHECK(errors("{\n  \"env\": {\"A\": \"1\",}\n}") ==
          Strings{"p.json:2:20: env: unexpected '}', expected a string key"});
  }
  SECTION("the document itself is \"$\"") {
    CHECK(errors("[]") == Strings{"p.json:1:1: $: a policy must be a JSON object, not an array"});
    CHECK(errors("null") == Strings{"p.json:1:1: $: a policy must be a JSON object, not null"});
    CHECK(errors("\n  42") ==
          Strings{"p.json:2:3: $: a policy must be a JSON object, not a number"});
    CHECK(errors("-1") == Strings{"p.json:1:1: $: a policy must be a JSON object, not a number"});
    CHECK(errors("\"policy\"") ==
          Strings{"p.json:1:1: $: a policy must be a JSON object, not a string"});
    CHECK(errors("false") ==
          Strings{"p.json:1:1: $: a policy must be a JSON object, not a boolean"});
    CHECK(errors("\xef\xbb\xbf[{}]") ==
          Strings{"p.json:1:1: $: a policy must be a JSON object, not an array"});
  }
}

TEST_CASE("every error in a file is reported, in document order", "[policy][parser]") {
  const std::string text = R"({
  "network": {
    "defaultVerdict": "deny",
    "egress": {
      "http": [
        {"match": "a.example.com", "verdict": "allow", "transport": "direct", "rules": [{}]},
        {"match": "b.example.com", "verdict": "maybe", "transport": "direct", "binaries": ["gh"]}
      ],
      "tcp": [
        {"match": "db.internal", "verdict": "allow"},
        {"match": "db.internal:0", "verdict": "allow"},
        {"match": "2001:db8::/32:5432", "verdict": "allow"}
      ],
      "udp": [{"match": "resolver.internal:53", "verdict": "allow"}]
    }
  },
  "credentials": [
    {"id": "aws", "placeholder": "AKIAFAKE", "injections": [{"injectionType": "awsSigv4", "domain": "*.amazonaws.com"}]},
    {"id": "aws"}
  ],
  "files": [{"path": "/etc/passwd", "content": ""}],
  "extra": true
})";
  CHECK(
      errors(text) ==
      Strings{
          "p.json:2:14: network: missing required key \"defaultTransport\"",
          "p.json:6:89: network.egress.http[0].rules[0]: a rule needs a method, a path, graphql or "
          "mcp "
          "(an empty rule would match every request)",
          "p.json:7:47: network.egress.http[1].verdict: unknown value \"maybe\" (expected allow, "
          "deny or ask)",
          "p.json:7:92: network.egress.http[1].binaries[0]: binary \"gh\" must be an absolute path",
          "p.json:10:19: network.egress.tcp[0].match: tcp rule \"db.internal\" needs a port "
          "(host:port, cidr:port or [ipv6]:port)",
          "p.json:11:19: network.egress.tcp[1].match: port 0 is not a valid port in "
          "\"db.internal:0\"",
          "p.json:12:19: network.egress.tcp[2].match: ambiguous match \"2001:db8::/32:5432\": an "
          "IPv6 address with a port must be written [address]:port",
          "p.json:14:25: network.egress.udp[0].match: udp rules may not use port 53: DNS always "
          "goes through lens-dns",
          "p.json:18:61: credentials[0].injections[0]: missing required key \"accessKeyId\"",
          "p.json:18:61: credentials[0].injections[0]: missing required key \"secretAccessKey\"",
          "p.json:18:61: credentials[0].injections[0]: missing required key \"sessionToken\"",
          "p.json:18:61: credentials[0].injections[0]: an awsSigv4 injection needs a credential "
          "placeholder starting with \"LENSFAKE\" (the fake access key id the sandbox uses)",
          "p.json:19:12: credentials[1].id: duplicate credential id \"aws\" (first used at line "
          "18)",
          "p.json:21:22: files[0].path: file path \"/etc/passwd\" must name a file under /tmp",
          "p.json:22:3: extra: unknown key \"extra\"",
      });
  CHECK_FALSE(parse(text).ok());
}

// ---- each rejection rule --------------------------------------------------

TEST_CASE("tcp and udp rules must carry a valid port", "[policy][parser]") {
  CHECK(problems(tcpRule("db.internal")) ==
        Strings{"network.egress.tcp[0].match: tcp rule \"db.internal\" needs a port (host:port, "
                "cidr:port or [ipv6]:port)"});
  CHECK(problems(udpRule("10.0.0.0/8")) ==
        Strings{"network.egress.udp[0].match: udp rule \"10.0.0.0/8\" needs a port (host:port, "
                "cidr:port or [ipv6]:port)"});
  CHECK(problems(tcpRule("*.example.com")) ==
        Strings{"network.egress.tcp[0].match: tcp rule \"*.example.com\" needs a port (host:port, "
                "cidr:port or [ipv6]:port)"});
  CHECK(problems(tcpRule("db.internal:0")) ==
        Strings{"network.egress.tcp[0].match: port 0 is not a valid port in \"db.internal:0\""});
  CHECK(problems(tcpRule("db.internal:65536")) ==
        Strings{"network.egress.tcp[0].match: invalid port \"65536\" in \"db.internal:65536\" "
                "(expected 1-65535)"});
  CHECK(problems(udpRule("[2001:db8::1]:99999")) ==
        Strings{"network.egress.udp[0].match: invalid port \"99999\" in \"[2001:db8::1]:99999\" "
                "(expected 1-65535)"});
  CHECK(
      problems(tcpRule("db.internal:")) ==
      Strings{
          "network.egress.tcp[0].match: invalid port \"\" in \"db.internal:\" (expected 1-65535)"});
  CHECK(problems(tcpRule("db.internal:0443")) ==
        Strings{"network.egress.tcp[0].match: invalid port \"0443\" in \"db.internal:0443\" "
                "(expected 1-65535)"});
  parseOk(tcpRule("db.internal:1"));
  parseOk(tcpRule("db.internal:65535"));
  parseOk(tcpRule("*.example.com:443"));
  parseOk(tcpRule("*:8443"));
  parseOk(tcpRule("10.0.0.5:5432"));
  parseOk(udpRule("[2001:db8::/32]:123"));
}

TEST_CASE("udp rules may not use port 53", "[policy][parser]") {
  CHECK(problems(udpRule("resolver.internal:53")) ==
        Strings{"network.egress.udp[0].match: udp rules may not use port 53: DNS always goes "
                "through lens-dns"});
  CHECK(problems(udpRule("0.0.0.0/0:53")) ==
        Strings{"network.egress.udp[0].match: udp rules may not use port 53: DNS always goes "
                "through lens-dns"});
  CHECK(problems(udpRule("[2001:db8::1]:53")) ==
        Strings{"network.egress.udp[0].match: udp rules may not use port 53: DNS always goes "
                "through lens-dns"});
  parseOk(
      tcpRule("resolver.internal:53"));  // DNS over TCP to a named server is a tcp rule's business
  parseOk(udpRule("resolver.internal:5353"));
  parseOk(udpRule("resolver.internal:530"));
}

TEST_CASE("an IPv6 address with a port must be bracketed", "[policy][parser]") {
  CHECK(
      problems(withEgress(
          R"("http": [{"match": "2001:db8::/32:443", "verdict": "allow", "transport": "direct"}])")) ==
      Strings{"network.egress.http[0].match: ambiguous match \"2001:db8::/32:443\": an IPv6 "
              "address with a port must be written [address]:port"});
  CHECK(problems(tcpRule("fe80::1%eth0:22")) ==
        Strings{"network.egress.tcp[0].match: ambiguous match \"fe80::1%eth0:22\": an IPv6 address "
                "with a port must be written [address]:port"});
  // Without brackets this is an address; a tcp rule then has no port.
  CHECK(problems(tcpRule("2001:db8::1:443")) ==
        Strings{"network.egress.tcp[0].match: tcp rule \"2001:db8::1:443\" needs a port; an IPv6 "
                "address with a port must be written [address]:port"});
  CHECK(
      problems(tcpRule("[2001:db8::1]")) ==
      Strings{
          "network.egress.tcp[0].match: invalid match \"[2001:db8::1]\": expected [address]:port"});
  CHECK(problems(tcpRule("[10.0.0.1]:443")) ==
        Strings{"network.egress.tcp[0].match: invalid match \"[10.0.0.1]:443\": expected an IPv6 "
                "address or prefix inside [ ]"});
  parseOk(tcpRule("[2001:db8::1]:443"));
  // An unbracketed IPv6 address (no port) is fine where a port is optional.
  parseOk(withEgress(
      R"("http": [{"match": "2001:db8::1", "verdict": "allow", "transport": "direct"}])"));
}

TEST_CASE("a match pattern is validated", "[policy][parser]") {
  CHECK(
      problems(withEgress(
          R"("http": [{"match": "api.example.com/v1", "verdict": "allow", "transport": "direct"}])")) ==
      Strings{"network.egress.http[0].match: invalid match \"api.example.com/v1\": expected a "
              "host, address or prefix, not a URL"});
  CHECK(
      problems(withEgress(
          R"("http": [{"match": "a..example.com", "verdict": "allow", "transport": "direct"}])")) ==
      Strings{"network.egress.http[0].match: invalid match \"a..example.com\": empty label"});
  CHECK(problems(
            withEgress(R"("http": [{"match": "", "verdict": "allow", "transport": "direct"}])")) ==
        Strings{"network.egress.http[0].match: must not be empty"});
  CHECK(
      problems(withEgress(
          R"("http": [{"match": "*.*.example.com", "verdict": "allow", "transport": "direct"}])")) ==
      Strings{"network.egress.http[0].match: invalid match \"*.*.example.com\": at most one '*' is "
              "allowed"});
  parseOk(withEgress(
      R"("http": [{"match": "bedrock-runtime.*.amazonaws.com", "verdict": "allow", "transport": "direct"}])"));
  parseOk(withEgress(
      R"("http": [{"match": "API.Example.COM.", "verdict": "allow", "transport": "direct"}])"));
}

TEST_CASE("an entry of a rules list needs a method or a path", "[policy][parser]") {
  CHECK(problems(httpRule(R"("rules": [{}])")) ==
        Strings{"network.egress.http[0].rules[0]: a rule needs a method, a path, graphql or mcp "
                "(an empty rule would match every request)"});
  // null is absent: this is the same empty rule and must not turn into "allow every request".
  CHECK(problems(httpRule(R"("rules": [{"method": null, "path": null}])")) ==
        Strings{"network.egress.http[0].rules[0]: a rule needs a method, a path, graphql or mcp "
                "(an empty rule would match every request)"});
  CHECK(problems(httpRule(R"("rules": [{"method": null}])")) ==
        Strings{"network.egress.http[0].rules[0]: a rule needs a method, a path, graphql or mcp "
                "(an empty rule would match every request)"});
  // A present but wrong value is reported once, as what it is.
  CHECK(problems(httpRule(R"("rules": [{"method": 5}])")) ==
        Strings{"network.egress.http[0].rules[0].method: expected a string, found a number"});
  CHECK(
      problems(httpRule(R"("rules": [{"method": "GET", "pth": "/x"}])")) ==
      Strings{"network.egress.http[0].rules[0].pth: unknown key \"pth\" (did you mean \"path\"?)"});
  CHECK(problems(httpRule(R"("rules": [{"method": "GE T", "path": "repos"}])")) ==
        Strings{"network.egress.http[0].rules[0].method: invalid HTTP method \"GE T\"",
                "network.egress.http[0].rules[0].path: path \"repos\" must start with '/' (or be "
                "\"*\" or \"**\")"});
  CHECK(problems(httpRule(R"("rules": [{"path": "/search?q=x"}])")) ==
        Strings{"network.egress.http[0].rules[0].path: path \"/search?q=x\" must not contain a "
                "query or fragment"});
  CHECK(problems(httpRule(R"("rules": [{"method": ""}])")) ==
        Strings{"network.egress.http[0].rules[0].method: must not be empty"});
  CHECK(problems(httpRule(R"("rules": ["GET /"])")) ==
        Strings{"network.egress.http[0].rules[0]: expected an object, found a string"});

  const auto p = parseOk(httpRule(
      R"("rules": [{"method": "post", "path": null}, {"method": null, "path": "**"}, {"path": "*"}])"));
  const auto& rules = p->network->http.at(0).rules;
  REQUIRE(rules.size() == 3);
  CHECK(rules[0].method == "POST");
  CHECK_FALSE(rules[0].path);
  CHECK(rules[1].method.empty());
  CHECK(rules[1].path);
  CHECK(parseOk(httpRule(R"("rules": [])"))->network->http.at(0).rules.empty());
}

TEST_CASE("binaries must be absolute paths", "[policy][parser]") {
  CHECK(problems(httpRule(R"("binaries": ["/usr/bin/gh", "gh", "./bin/tool", ""])")) ==
        Strings{
            "network.egress.http[0].binaries[1]: binary \"gh\" must be an absolute path",
            "network.egress.http[0].binaries[2]: binary \"./bin/tool\" must be an absolute path",
            "network.egress.http[0].binaries[3]: binary \"\" must be an absolute path",
        });
  CHECK(problems(withEgress(
            R"("tcp": [{"match": "db:5432", "verdict": "allow", "binaries": ["psql", 7]}])")) ==
        Strings{
            "network.egress.tcp[0].binaries[0]: binary \"psql\" must be an absolute path",
            "network.egress.tcp[0].binaries[1]: expected a string, found a number",
        });
  CHECK(problems(httpRule(R"("binaries": "/usr/bin/gh")")) ==
        Strings{"network.egress.http[0].binaries: expected an array, found a string"});
  CHECK(parseOk(httpRule(R"("binaries": ["/usr/bin/gh", "/usr/local/bin/claude"])"))
            ->network->http.at(0)
            .binaries.size() == 2);
}

TEST_CASE("awsSigv4 injections need a key, a secret, a token and a LENSFAKE placeholder",
          "[policy][parser]") {
  const std::string real =
      R"(, "accessKeyId": "ASIAEXAMPLE", "secretAccessKey": "s", "sessionToken": "t")";
  parseOk(awsCredential(R"("placeholder": "LENSFAKE00AABB0000CC", )", real));

  CHECK(problems(awsCredential(R"("placeholder": "LENSFAKE00AABB0000CC", )", "")) ==
        Strings{
            "credentials[0].injections[0]: missing required key \"accessKeyId\"",
            "credentials[0].injections[0]: missing required key \"secretAccessKey\"",
            "credentials[0].injections[0]: missing required key \"sessionToken\"",
        });
  CHECK(problems(awsCredential(
            R"("placeholder": "LENSFAKE00AABB0000CC", )",
            R"(, "accessKeyId": "", "secretAccessKey": "s", "sessionToken": null)")) ==
        Strings{
            "credentials[0].injections[0].accessKeyId: must not be empty",
            "credentials[0].injections[0].sessionToken: must not be null",
        });
  CHECK(problems(awsCredential(R"("placeholder": "AKIAIOSFODNN7EXAMPLE", )", real)) ==
        Strings{"credentials[0].injections[0]: an awsSigv4 injection needs a credential "
                "placeholder starting with "
                "\"LENSFAKE\" (the fake access key id the sandbox uses)"});
  CHECK(problems(awsCredential("", real)) ==
        Strings{"credentials[0].injections[0]: an awsSigv4 injection needs a credential "
                "placeholder starting with "
                "\"LENSFAKE\" (the fake access key id the sandbox uses)"});
  CHECK(problems(awsCredential(R"("placeholder": "lensfake00", )", real)).size() ==
        1);  // case matters

  SECTION("legacy region and rules keys are accepted with a warning, but rules are still checked") {
    const std::string text =
        awsCredential(R"("placeholder": "LENSFAKE00AABB0000CC", )",
                      real + R"(, "region": "us-east-1", "rules": [{"path": "/"}])");
    parseOk(text);
    const Strings w = warnings(text);
    REQUIRE(w.size() == 2);
    CHECK(w[0].find("credentials[0].injections[0].region: warning: key \"region\" is deprecated") !=
          std::string::npos);
    CHECK(w[1].find("credentials[0].injections[0].rules: warning: key \"rules\" is deprecated") !=
          std::string::npos);
    CHECK(problems(awsCredential(R"("placeholder": "LENSFAKE00AABB0000CC", )",
                                 real + R"(, "rules": [{"paht": "/"}])")) ==
          Strings{"credentials[0].injections[0].rules[0]: a rule needs a method or a path (an "
                  "empty rule would match every request)",
                  "credentials[0].injections[0].rules[0].paht: unknown key \"paht\" (did you mean "
                  "\"path\"?)"});
  }
}

TEST_CASE("credential injections are checked by type", "[policy][parser]") {
  SECTION("header") {
    const auto p = parseOk(credentials(
        R"({"id": "gh", "placeholder": "ghp_x", "injections": [{"injectionType": "header", "domain": "api.github.com", "header": "Authorization", "value": ""}]})"));
    CHECK(p->credentials.at(0).injections.at(0).value.empty());  // unarmed
    CHECK(
        problems(credentials(
            R"({"id": "gh", "injections": [{"injectionType": "header", "domain": "a..com", "header": "Bad Header", "value": "x\r\ny"}]})")) ==
        Strings{
            "credentials[0].injections[0].domain: invalid match \"a..com\": empty label",
            "credentials[0].injections[0].header: invalid header name \"Bad Header\"",
            "credentials[0].injections[0].value: header value must not contain CR or LF",
        });
    CHECK(
        problems(credentials(
            R"({"id": "gh", "injections": [{"injectionType": "header", "domain": "api.github.com", "header": "X", "value": "v", "rules": [{}]}]})")) ==
        Strings{"credentials[0].injections[0].rules[0]: a rule needs a method or a path (an empty "
                "rule would match every request)"});
  }
  SECTION("uriPlaceholder") {
    parseOk(credentials(
        R"({"id": "tg", "placeholder": "__lens_cred:tg__", "injections": [{"injectionType": "uriPlaceholder", "domain": "api.telegram.org", "value": "123:ABC"}]})"));
    CHECK(
        problems(credentials(
            R"({"id": "tg", "injections": [{"injectionType": "uriPlaceholder", "domain": "api.telegram.org", "value": "a b"}]})")) ==
        Strings{
            "credentials[0].injections[0]: a uriPlaceholder injection needs the credential's "
            "placeholder",
            "credentials[0].injections[0].value: a URI value must not contain spaces, CR or LF",
        });
  }
  SECTION("the injection type") {
    CHECK(problems(credentials(
              R"({"id": "x", "injections": [{"injectionType": "heder", "domain": "a.com"}]})")) ==
          Strings{"credentials[0].injections[0].injectionType: unknown injection type \"heder\" "
                  "(expected header, "
                  "uriPlaceholder, awsSigv4 or oauthClientCredentials); did you mean \"header\"?"});
    CHECK(problems(credentials(R"({"id": "x", "injections": [{"injectionType": 1}]})")) ==
          Strings{"credentials[0].injections[0].injectionType: expected a string, found a number"});
    CHECK(
        problems(credentials(
            R"({"id": "x", "injections": [{"injectonType": "header", "domain": "a.com", "header": "X", "value": "", "vaule": 1}]})")) ==
        Strings{
            "credentials[0].injections[0]: missing required key \"injectionType\" (header, "
            "uriPlaceholder, awsSigv4 or "
            "oauthClientCredentials)",
            "credentials[0].injections[0].injectonType: unknown key \"injectonType\" (did you mean "
            "\"injectionType\"?)",
            "credentials[0].injections[0].vaule: unknown key \"vaule\" (did you mean \"value\"?)",
        });
    CHECK(problems(credentials(R"({"id": "x", "injections": [null]})")) ==
          Strings{"credentials[0].injections[0]: expected an object, found null"});
    CHECK(
        problems(credentials(
            R"({"id": "x", "injections": [{"injectionType": "header", "domain": "a.com", "header": "X", "value": "", "accessKeyId": "A"}]})")) ==
        Strings{"credentials[0].injections[0].accessKeyId: unknown key \"accessKeyId\""});
  }
}

TEST_CASE("oauthClientCredentials injections name a token endpoint, a client and its scopes",
          "[policy][parser]") {
  const std::string crm =
      R"({"id": "crm", "placeholder": "crm-token", "injections": [{"injectionType": "oauthClientCredentials", )"
      R"("domain": "auth.example.com", "tokenPath": "/oauth2//token/", "clientId": "agent")";
  SECTION(
      "read into the model: the path normalised, the scopes a sorted set, expiresIn 3600 by "
      "default") {
    const auto p = parseOk(credentials(crm + R"(, "scope": "b a  b"}]})"));
    const auto& inj = p->credentials.at(0).injections.at(0);
    CHECK(inj.type == InjectionType::kOauthClientCredentials);
    CHECK(inj.tokenPath == "/oauth2/token");
    CHECK(inj.clientId == "agent");
    CHECK(inj.scopes == Strings{"a", "b"});
    CHECK(inj.expiresIn == 3600);
    CHECK(parseOk(credentials(crm + R"(, "expiresIn": 60}]})"))
              ->credentials.at(0)
              .injections.at(0)
              .expiresIn == 60);
    CHECK(parseOk(credentials(crm + "}]}"))->credentials.at(0).injections.at(0).scopes.empty());
  }
  SECTION("refused") {
    CHECK(problems(credentials(crm + R"(, "expiresIn": 0}]})")) ==
          Strings{"credentials[0].injections[0].expiresIn: must be between 1 and 86400"});
    CHECK(problems(credentials(crm + R"(, "rules": [{"path": "/x"}]}]})")) ==
          Strings{"credentials[0].injections[0].rules: unknown key \"rules\""});
    CHECK(problems(credentials(
              R"({"id": "crm", "injections": [{"injectionType": "oauthClientCredentials", )"
              R"("domain": "auth.example.com", "tokenPath": "/t", "clientId": ""}]})")) ==
          Strings{"credentials[0].injections[0]: an oauthClientCredentials injection needs the "
                  "credential's "
                  "placeholder (the token it answers)",
                  "credentials[0].injections[0].clientId: must not be empty"});
  }
}

TEST_CASE("a forward bridge is read from a host:port rule; a broken one makes its rule deny",
          "[policy][parser]") {
  namespace fs = std::filesystem;
  // The committed example carries a valid certificate, key and CA.
  std::ifstream in(fs::path(LENS_EXAMPLES_DIR) / "forward-bridge.json");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(!text.empty());
  SECTION("valid") {
    const auto p = parseOk(text);
    const auto& rule = p->network->http.at(0);
    REQUIRE(rule.forward);
    CHECK(rule.verdict == Verdict::kAllow);
    CHECK(rule.forward->dialHost == "10.20.0.5");
    CHECK(rule.forward->dialPort == 6443);
    CHECK(rule.forward->tlsServerName == "kube-apiserver.cluster.local");
    CHECK(rule.forward->upstreamHostHeader == "kube-apiserver.cluster.local:6443");
    CHECK(rule.forward->certPem.starts_with("-----BEGIN CERTIFICATE-----"));
    CHECK(parse(text).warnings.empty());
  }
  auto broken = [&](const std::string& from, const std::string& to) {
    std::string changed = text;
    const std::size_t at = changed.find(from);
    REQUIRE(at != std::string::npos);
    changed.replace(at, from.size(), to);
    const ParseOutcome out = parse(changed);
    REQUIRE(out.ok());
    const auto& rule = out.policy->network->http.at(0);
    CHECK_FALSE(rule.forward);
    CHECK(rule.verdict == Verdict::kDeny);
    REQUIRE(out.warnings.size() == 1);
    return out.warnings[0].path + ": " + out.warnings[0].message;
  };
  SECTION("a rule without a port") {
    CHECK(broken("kubernetes.internal:6443", "kubernetes.internal") ==
          "network.egress.http[0].forward: forward bridge refused, the rule denies: a forward "
          "bridge needs a rule "
          "matching one host:port, not \"kubernetes.internal\"");
    CHECK(broken("\"kubernetes.internal:6443\"", "\"*.internal:6443\"")
              .ends_with("not \"*.internal:6443\""));
  }
  SECTION("a dialAddr without a port") {
    CHECK(broken("10.20.0.5:6443", "10.20.0.5").ends_with("dialAddr must be host:port"));
  }
  SECTION("a key that is not the certificate's") {
    CHECK(broken("\"keyPem\": \"-----BEGIN PRIVATE KEY-----\\n",
                 "\"keyPem\": \"-----BEGIN PRIVATE KEY-----\\nAA")
              .ends_with("keyPem: no unencrypted PEM private key in it"));
  }
  SECTION("no certificate") {
    CHECK(broken("\"certPem\": \"-----BEGIN", "\"certPem\": \"x-----BEGIN-")
              .ends_with("certPem: no PEM certificate in it"));
  }
  SECTION("a server name with a port, a Host that is no host") {
    CHECK(broken("\"tlsServerName\": \"kube-apiserver.cluster.local\"",
                 "\"tlsServerName\": \"kube-apiserver.cluster.local:6443\"")
              .ends_with("tlsServerName must be a host name or an address, without a port"));
    CHECK(broken("\"upstreamHostHeader\": \"kube-apiserver.cluster.local:6443\"",
                 "\"upstreamHostHeader\": \"kube apiserver\"")
              .ends_with("upstreamHostHeader must be host or host:port"));
  }
}

TEST_CASE("credential ids must be unique", "[policy][parser]") {
  CHECK(errors("{\"credentials\": [\n  {\"id\": \"a\"},\n  {\"id\": \"b\"},\n  {\"id\": \"a\"},\n  "
               "{\"id\": \"a\"}\n]}") ==
        Strings{
            "p.json:4:10: credentials[2].id: duplicate credential id \"a\" (first used at line 2)",
            "p.json:5:10: credentials[3].id: duplicate credential id \"a\" (first used at line 2)",
        });
  CHECK(problems(credentials(R"({"id": ""})")) == Strings{"credentials[0].id: must not be empty"});
  CHECK(problems(credentials(R"({"envVar": "X"})")) ==
        Strings{"credentials[0]: missing required key \"id\""});
  CHECK(problems(credentials(R"({"id": "x", "envVar": "1-BAD"})")) ==
        Strings{"credentials[0].envVar: invalid environment variable name \"1-BAD\""});
  parseOk(credentials(R"({"id": "a"}, {"id": "A"})"));  // ids are case-sensitive
}

TEST_CASE("files must stay under /tmp", "[policy][parser]") {
  CHECK(problems(file("/etc/passwd")) ==
        Strings{"files[0].path: file path \"/etc/passwd\" must name a file under /tmp"});
  CHECK(problems(file("/tmpfoo/x")) ==
        Strings{"files[0].path: file path \"/tmpfoo/x\" must name a file under /tmp"});
  CHECK(problems(file("/tmp")) ==
        Strings{"files[0].path: file path \"/tmp\" must name a file under /tmp"});
  CHECK(problems(file("/tmp/")) ==
        Strings{"files[0].path: file path \"/tmp/\" must name a file under /tmp"});
  CHECK(problems(file("/tmp/dir/")) ==
        Strings{"files[0].path: file path \"/tmp/dir/\" must name a file under /tmp"});
  CHECK(problems(file("/tmp/../etc/passwd")) ==
        Strings{"files[0].path: file path \"/tmp/../etc/passwd\" must not contain \"..\""});
  CHECK(problems(file("../etc/passwd")) ==
        Strings{"files[0].path: file path \"../etc/passwd\" must not contain \"..\""});
  CHECK(problems(file("a/..")) ==
        Strings{"files[0].path: file path \"a/..\" must not contain \"..\""});
  CHECK(problems(file("")) == Strings{"files[0].path: must not be empty"});
  CHECK(problems(file("/tmp/./x")) ==
        Strings{"files[0].path: file path \"/tmp/./x\" must not contain \".\" or empty segments"});
  CHECK(problems(file("/tmp//x")) ==
        Strings{"files[0].path: file path \"/tmp//x\" must not contain \".\" or empty segments"});
  CHECK(problems(file(".")) ==
        Strings{"files[0].path: file path \".\" must not contain \".\" or empty segments"});
  CHECK(problems(file("a//b")) ==
        Strings{"files[0].path: file path \"a//b\" must not contain \".\" or empty segments"});
  CHECK(problems(file("//tmp/x")) ==
        Strings{"files[0].path: file path \"//tmp/x\" must name a file under /tmp"});
  CHECK(parseOk(file("/tmp/a/b.json"))->files.at(0).path == "/tmp/a/b.json");
  CHECK(parseOk(file("a/b.json"))->files.at(0).path == "/tmp/a/b.json");
  CHECK(parseOk(file("..hidden"))->files.at(0).path == "/tmp/..hidden");

  SECTION("every problem of a file entry is reported") {
    CHECK(problems(R"({"files": [{"path": "/etc/shadow"}]})") ==
          Strings{"files[0]: missing required key \"content\"",
                  "files[0].path: file path \"/etc/shadow\" must name a file under /tmp"});
  }
  SECTION("mode") {
    CHECK(parseOk(R"({"files": [{"path": "a", "content": "", "mode": 493}]})")->files.at(0).mode ==
          0755);
    CHECK(parseOk(R"({"files": [{"path": "a", "content": "", "mode": 0}]})")->files.at(0).mode ==
          0);
    CHECK(problems(R"({"files": [{"path": "a", "content": "", "mode": 4096}]})") ==
          Strings{"files[0].mode: must be between 0 and 4095"});
    CHECK(problems(R"({"files": [{"path": "a", "content": "", "mode": -1}]})") ==
          Strings{"files[0].mode: must be between 0 and 4095"});
    CHECK(problems(R"({"files": [{"path": "a", "content": "", "mode": 420.5}]})") ==
          Strings{"files[0].mode: expected an integer, found a number"});
    CHECK(problems(R"({"files": [{"path": "a", "content": "", "mode": "0644"}]})") ==
          Strings{"files[0].mode: expected an integer, found a string"});
    // Poco would wrap 2^64 to 0; the scanner refuses it first.
    CHECK(problems(R"({"files": [{"path": "a", "content": "", "mode": 18446744073709551616}]})") ==
          Strings{"files[0].mode: number 18446744073709551616 is out of range"});
    CHECK(problems(R"({"files": [{"path": "a", "content": "", "mode": 18446744073709551615}]})") ==
          Strings{"files[0].mode: number out of range"});
  }
}

TEST_CASE("env names and values are checked together", "[policy][parser]") {
  CHECK(errors(R"({"env": {"GOOD": "1", "1BAD": "x", "ALSO-BAD": "y", "NUM": 5}})") ==
        Strings{
            "p.json:1:23: env.1BAD: invalid environment variable name \"1BAD\"",
            "p.json:1:36: env.ALSO-BAD: invalid environment variable name \"ALSO-BAD\"",
            "p.json:1:60: env.NUM: expected a string, found a number",
        });
  CHECK(problems(R"({"env": {"A.B": "x"}})") ==
        Strings{"env[\"A.B\"]: invalid environment variable name \"A.B\""});
  CHECK(problems(R"({"env": {"A": null}})") == Strings{"env.A: expected a string, found null"});
}

TEST_CASE("unknown keys are errors at every level", "[policy][parser]") {
  CHECK(problems(R"({"netwrok": {}, "version": 2})") ==
        Strings{"netwrok: unknown key \"netwrok\" (did you mean \"network\"?)",
                "version: unknown key \"version\""});
  CHECK(
      problems(
          R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "defaultVerdicts": "allow"}})") ==
      Strings{"network.defaultVerdicts: unknown key \"defaultVerdicts\" (did you mean "
              "\"defaultVerdict\"?)"});
  CHECK(problems(withEgress(R"("htpp": [], "dns": [])")) ==
        Strings{"network.egress.htpp: unknown key \"htpp\" (did you mean \"http\"?)",
                "network.egress.dns: unknown key \"dns\""});
  CHECK(problems(httpRule(R"("tlsTerminates": true)")) ==
        Strings{"network.egress.http[0].tlsTerminates: unknown key \"tlsTerminates\" (did you mean "
                "\"tlsTerminate\"?)"});
  CHECK(problems(withEgress(
            R"("tcp": [{"match": "db:5432", "verdict": "allow", "transport": "direct"}])")) ==
        Strings{"network.egress.tcp[0].transport: unknown key \"transport\""});
  CHECK(problems(credentials(R"({"id": "x", "envvar": "X"})")) ==
        Strings{"credentials[0].envvar: unknown key \"envvar\" (did you mean \"envVar\"?)"});
  CHECK(problems(R"({"files": [{"path": "a", "content": "", "owner": "root"}]})") ==
        Strings{"files[0].owner: unknown key \"owner\""});
  // An unknown key is an error even when its value is null.
  CHECK(problems(R"({"llm": null})") == Strings{"llm: unknown key \"llm\""});
}

TEST_CASE("null is tolerated for optional fields and refused for required ones",
          "[policy][parser]") {
  const auto p = parseOk(R"({
    "network": {
      "defaultVerdict": "deny", "defaultTransport": "direct", "allowedRoutes": null,
      "egress": {
        "http": [{"match": "a.example.com", "verdict": "allow", "transport": "direct", "scheme": null,
                  "description": null, "tlsTerminate": null, "rules": null, "binaries": null}],
        "tcp": [{"match": "db:5432", "verdict": "allow", "binaries": null, "description": null}],
        "udp": null
      }
    },
    "credentials": [{"id": "x", "envVar": null, "placeholder": null, "injections": null}],
    "env": null,
    "files": [{"path": "a", "content": "", "mode": null}]
  })");
  REQUIRE(p->network);
  CHECK(p->network->http.size() == 1);
  CHECK_FALSE(p->network->http[0].scheme);
  CHECK(p->network->http[0].rules.empty());
  CHECK(p->network->udp.empty());
  CHECK(p->credentials.at(0).injections.empty());
  CHECK(p->files.at(0).mode == 0600);
  CHECK(parseOk(R"({"network": null, "credentials": null, "env": null, "files": null})")
            ->credentials.empty());

  CHECK(problems(R"({"network": {"defaultVerdict": null, "defaultTransport": "direct"}})") ==
        Strings{"network.defaultVerdict: must not be null"});
  CHECK(problems(withEgress(
            R"("http": [{"match": null, "verdict": "allow", "transport": "direct"}])")) ==
        Strings{"network.egress.http[0].match: must not be null"});
  CHECK(problems(R"({"files": [{"path": "a", "content": null}]})") ==
        Strings{"files[0].content: must not be null"});
  CHECK(problems(withEgress(R"("http": [null])")) ==
        Strings{"network.egress.http[0]: expected an object, found null"});
}

TEST_CASE("legacy allowedRoutes is accepted; egress.http wins with a warning", "[policy][parser]") {
  const std::string legacyRoute =
      R"({"match": "legacy.example.com", "verdict": "allow", "transport": "direct"})";
  SECTION("allowedRoutes alone is used") {
    const std::string text =
        R"({"network": {"defaultVerdict": "deny", "defaultTransport": "upstream", "allowedRoutes": [)" +
        legacyRoute + "]}}";
    const auto p = parseOk(text);
    REQUIRE(p->network->http.size() == 1);
    CHECK(p->network->http[0].match.host() == "legacy.example.com");
    CHECK(p->network->fromAllowedRoutes);
    CHECK(warnings(text) == Strings{"p.json:1:72: network.allowedRoutes: warning: key "
                                    "\"allowedRoutes\" is deprecated: Legacy spelling of "
                                    "egress.http; egress.http wins when both are present."});
  }
  SECTION("both present: egress.http is used and a warning says so") {
    const std::string text =
        R"({"network": {"defaultVerdict": "deny", "defaultTransport": "upstream",
  "allowedRoutes": [)" +
        legacyRoute + R"(],
  "egress": {"http": [{"match": "new.example.com", "verdict": "allow", "transport": "direct"}], "tcp": [{"match": "db:5432", "verdict": "allow"}]}}})";
    const auto p = parseOk(text);
    REQUIRE(p->network->http.size() == 1);
    CHECK(p->network->http[0].match.host() == "new.example.com");
    CHECK_FALSE(p->network->fromAllowedRoutes);
    CHECK(p->network->tcp.size() == 1);
    const Strings w = warnings(text);
    CHECK(std::find(w.begin(), w.end(),
                    "p.json:2:3: network.allowedRoutes: warning: both allowedRoutes and "
                    "egress.http are present; "
                    "egress.http is used and allowedRoutes ignored") != w.end());
  }
  SECTION("an empty egress.http still wins") {
    const auto p = parseOk(
        R"({"network": {"defaultVerdict": "deny", "defaultTransport": "upstream", "allowedRoutes": [)" +
        legacyRoute + R"(], "egress": {"http": []}}})");
    CHECK(p->network->http.empty());
  }
  SECTION("egress without http leaves allowedRoutes in force") {
    const auto p = parseOk(
        R"({"network": {"defaultVerdict": "deny", "defaultTransport": "upstream", "allowedRoutes": [)" +
        legacyRoute + R"(], "egress": {"tcp": []}}})");
    CHECK(p->network->http.size() == 1);
    CHECK(p->network->fromAllowedRoutes);
  }
  SECTION("ignored allowedRoutes must still be valid") {
    CHECK(problems(R"({"network": {"defaultVerdict": "deny", "defaultTransport": "upstream",
      "allowedRoutes": [{"match": "x.example.com", "verdict": "allow", "transprot": "direct"}],
      "egress": {"http": []}}})") ==
          Strings{"network.allowedRoutes[0]: missing required key \"transport\"",
                  "network.allowedRoutes[0].transprot: unknown key \"transprot\" (did you mean "
                  "\"transport\"?)"});
  }
}

TEST_CASE("other type errors in rules", "[policy][parser]") {
  CHECK(problems(httpRule(R"("tlsTerminate": "yes")")) ==
        Strings{"network.egress.http[0].tlsTerminate: expected true or false, found a string"});
  CHECK(problems(httpRule(R"("scheme": "HTTPS")")) ==
        Strings{"network.egress.http[0].scheme: unknown value \"HTTPS\" (expected http or https); "
                "did you mean \"https\"?"});
  CHECK(problems(httpRule(R"("description": 42)")) ==
        Strings{"network.egress.http[0].description: expected a string, found a number"});
  CHECK(problems(withEgress(R"("http": [{"match": "a.com", "verdict": "allow"}])")) ==
        Strings{"network.egress.http[0]: missing required key \"transport\""});
}

// ---- the JSON layer --------------------------------------------------------

TEST_CASE("duplicate keys are refused", "[policy][parser]") {
  CHECK(errors("{\"network\": {\"defaultVerdict\": \"allow\",\n              \"defaultVerdict\": "
               "\"deny\"}}") ==
        Strings{"p.json:2:15: network.defaultVerdict: duplicate key \"defaultVerdict\""});
  CHECK(errors(R"({"env": {}, "env": {}})") == Strings{"p.json:1:13: env: duplicate key \"env\""});
}

TEST_CASE("malformed text is refused with one located error", "[policy][parser]") {
  CHECK(errors(R"({"env": {}} trailing)") ==
        Strings{"p.json:1:13: $: unexpected data after the JSON value"});
  CHECK(errors("{\"env\": {}}\n{}") ==
        Strings{"p.json:2:1: $: unexpected data after the JSON value"});
  CHECK(errors("") == Strings{"p.json:1:1: $: empty document, expected a JSON value"});
  CHECK(errors("{\"env\": {\"A\": \"\xc3\x28\"}}") ==
        Strings{"p.json:1:16: env.A: invalid UTF-8 in string"});
  CHECK(errors("{\"env\": {\"A\": \"\\udead\"}}") ==
        Strings{"p.json:1:22: env.A: unpaired surrogate in \\u escape"});
  CHECK(errors("{\"env\": {\"A\": \"\\ud83d\"}}") ==
        Strings{"p.json:1:22: env.A: unpaired surrogate in \\u escape"});
  CHECK(errors("{\"env\": {\"A\": \"\\u0000\"}}") ==
        Strings{"p.json:1:22: env.A: NUL character (\\u0000) is not allowed"});
  CHECK(errors("{\"env\": {\"A\": \"x\ny\"}}") ==
        Strings{"p.json:1:17: env.A: control character in string (escape it as \\u00XX)"});
  CHECK(parseOk("{\"env\": {\"A\": \"\\ud83d\\ude00 caf\xc3\xa9\"}}")->env.at("A") ==
        "\xf0\x9f\x98\x80 caf\xc3\xa9");
}

TEST_CASE("a UTF-8 byte order mark is tolerated", "[policy][parser]") {
  const auto p = parseOk("\xef\xbb\xbf{\"env\": {\"A\": \"1\"}}");
  CHECK(p->env.at("A") == "1");
  // Columns are those an editor shows, which does not show the mark.
  CHECK(errors("\xef\xbb\xbf{\"env\": {\"A\": 1}}") ==
        Strings{"p.json:1:15: env.A: expected a string, found a number"});
  CHECK(errors("{\"env\": {\"A\": 1}}") ==
        Strings{"p.json:1:15: env.A: expected a string, found a number"});
  CHECK(errors("\xef\xbb\xbf") == Strings{"p.json:1:1: $: empty document, expected a JSON value"});
}

TEST_CASE("input limits are refused with a clear error, never a crash", "[policy][parser]") {
  SECTION("a document over 16 MiB") {
    std::string text = R"({"env": {}})";
    text.resize(16u << 20, ' ');
    parseOk(text);
    text.push_back(' ');
    CHECK(errors(text) ==
          Strings{"p.json:1:1: $: document is 16777217 bytes, over the limit of 16777216"});
  }
  SECTION("nesting deeper than 64 levels") {
    // {"env": [ ...62 more... ]}: 64 levels parse (and fail only on the type), 65 do not.
    auto nested = [](int arrays) {
      return "{\"env\": " + std::string(static_cast<std::size_t>(arrays), '[') +
             std::string(static_cast<std::size_t>(arrays), ']') + "}";
    };
    CHECK(problems(nested(63)) == Strings{"env: expected an object, found an array"});
    const Strings deep = errors(nested(64));
    REQUIRE(deep.size() == 1);
    CHECK(deep[0].starts_with("p.json:1:72: env[0]"));
    CHECK(deep[0].ends_with(": nesting deeper than 64 levels"));
    CHECK(errors(std::string(100000, '[')).size() == 1);
  }
  SECTION("a string over 1 MiB") {
    const std::string big(1u << 20, 'x');
    CHECK(parseOk(R"({"files": [{"path": "big", "content": ")" + big + "\"}]}")
              ->files.at(0)
              .content.size() == big.size());
    CHECK(problems(R"({"files": [{"path": "big", "content": ")" + big + "x\"}]}") ==
          Strings{"files[0].content: string longer than 1048576 bytes"});
  }
  SECTION("limits are configurable") {
    ParseOptions o = named();
    o.limits.maxBytes = 8;
    CHECK(errors(R"({"env": {}})", o) ==
          Strings{"p.json:1:1: $: document is 11 bytes, over the limit of 8"});
  }
}

TEST_CASE("the version is the sha256 of the text", "[policy][parser]") {
  CHECK(parseOk("{}")->version ==
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  const std::string text = "{\"env\": {\"A\": \"1\"}}\n";
  const auto p = parseOk(text);
  CHECK(p->version == lens::util::sha256Hex(text));
  CHECK(p->version.size() == 64);
  CHECK(p->version.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(parseOk("{\"env\": {\"A\": \"1\"}} \n")->version != p->version);  // any byte counts
}

TEST_CASE("control-plane frame fields are accepted only when asked", "[policy][parser]") {
  const std::string frame =
      R"({"type": "policy", "proxyUpstream": "http://proxy.lens.internal:3128",
  "proxyCaCert": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n", "minProtocolDate": "2025-01-01",
  "network": {"defaultVerdict": "deny", "defaultTransport": "upstream"}})";
  CHECK(errors(frame) == Strings{
                             "p.json:1:2: type: unknown key \"type\"",
                             "p.json:1:20: proxyUpstream: unknown key \"proxyUpstream\"",
                             "p.json:2:3: proxyCaCert: unknown key \"proxyCaCert\"",
                             "p.json:2:83: minProtocolDate: unknown key \"minProtocolDate\"",
                         });
  ParseOptions frames = named();
  frames.allowTransportFields = true;
  const auto p = parseOk(frame, frames);
  CHECK(p->network->defaultTransport == Transport::kUpstream);
  CHECK(p->version == lens::util::sha256Hex(frame));
  // Only the transport fields, only at the top level.
  CHECK(
      problems(
          R"({"type": "policy", "typo": 1, "network": {"defaultVerdict": "deny", "defaultTransport": "direct", "type": "x"}})",
          frames) == Strings{"typo: unknown key \"typo\"", "network.type: unknown key \"type\""});
}

// ---- files on disk -----------------------------------------------------------

TEST_CASE("loadPolicyFile names the file in every diagnostic", "[policy][parser]") {
  const TempDir dir;
  const std::string good = dir.write("good.json", R"({"env": {"A": "1"}})");
  const auto ok = lens::policy::loadPolicyFile(good);
  REQUIRE(ok.ok());
  CHECK(ok.policy->env.at("A") == "1");

  const std::string bad = dir.write("bad.json", "{\n  \"nework\": {}\n}\n");
  CHECK(formatAll(lens::policy::loadPolicyFile(bad).errors) ==
        Strings{bad + ":2:3: nework: unknown key \"nework\" (did you mean \"network\"?)"});
  ParseOptions renamed;
  renamed.fileName = "policy.json";
  CHECK(formatAll(lens::policy::loadPolicyFile(bad, renamed).errors) ==
        Strings{"policy.json:2:3: nework: unknown key \"nework\" (did you mean \"network\"?)"});

  CHECK(formatAll(lens::policy::loadPolicyFile(dir.path() + "/missing.json").errors) ==
        Strings{dir.path() + "/missing.json:1:1: $: cannot open: No such file or directory"});
  CHECK(formatAll(lens::policy::loadPolicyFile(dir.path()).errors) ==
        Strings{dir.path() + ":1:1: $: is a directory"});

  ParseOptions small;
  small.limits.maxBytes = 16;
  const std::string big = dir.write("big.json", R"({"env": {"LONGER": "than sixteen bytes"}})");
  CHECK(formatAll(lens::policy::loadPolicyFile(big, small).errors) ==
        Strings{big + ":1:1: $: file is larger than the limit of 16 bytes"});
}

TEST_CASE("the committed example policies agree with the parser", "[policy][parser][examples]") {
  namespace fs = std::filesystem;
  const fs::path examples = LENS_EXAMPLES_DIR;
  auto jsonFiles = [](const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file() && entry.path().extension() == ".json")
        out.push_back(entry.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  const auto valid = jsonFiles(examples);
  CHECK(valid.size() >= 8);
  for (const auto& path : valid) {
    INFO(path.string());
    const auto out = lens::policy::loadPolicyFile(path.string());
    for (const auto& e : out.errors) UNSCOPED_INFO(e.format());
    CHECK(out.ok());
  }
  std::vector<fs::path> invalid = jsonFiles(examples / "invalid");
  const auto semantic = jsonFiles(examples / "invalid" / "semantic");
  invalid.insert(invalid.end(), semantic.begin(), semantic.end());
  CHECK(invalid.size() >= 10);
  for (const auto& path : invalid) {
    INFO(path.string());
    const auto out = lens::policy::loadPolicyFile(path.string());
    CHECK_FALSE(out.ok());
    REQUIRE_FALSE(out.errors.empty());
    // Each invalid example is located: a line in the file and a path in the document.
    CHECK(out.errors[0].format().starts_with(path.string() + ":"));
    CHECK(out.errors[0].pos.line > 1);
  }
}

TEST_CASE("an entry of a rules list may carry a GraphQL or an MCP matcher", "[policy][parser]") {
  const auto p = parseOk(httpRule(
      R"("rules": [{"path": "/graphql", "graphql": {"operationType": "query"}},
        {"method": "POST", "path": "/graphql", "graphql": {"operationType": "*", "operationName": "Get*", "fields": ["viewer", "repo*"]}},
        {"graphql": {"operationType": "subscription"}},
        {"method": "POST", "path": "/mcp", "mcp": {"method": "tools/call", "tool": "search", "uri": "file://*",
          "arguments": [{"pointer": "/query", "glob": "lens*"}, {"pointer": "", "glob": "*"}]}}])"));
  const auto& rules = p->network->http.at(0).rules;
  REQUIRE(rules.size() == 4);
  REQUIRE(rules[0].graphql);
  CHECK(rules[0].graphql->type == lens::graphql::OperationType::kQuery);
  CHECK_FALSE(rules[0].graphql->operationName);
  CHECK(rules[0].graphql->fields.empty());
  CHECK_FALSE(rules[0].mcp);
  REQUIRE(rules[1].graphql);
  CHECK_FALSE(rules[1].graphql->type);  // "*": any
  CHECK(rules[1].graphql->operationName == "Get*");
  CHECK(rules[1].graphql->fields == std::vector<std::string>{"viewer", "repo*"});
  // A matcher alone is a rule: any method, any path.
  CHECK(rules[2].method.empty());
  CHECK_FALSE(rules[2].path);
  CHECK(rules[2].graphql->type == lens::graphql::OperationType::kSubscription);
  REQUIRE(rules[3].mcp);
  CHECK(rules[3].mcp->method == "tools/call");
  CHECK(rules[3].mcp->tool == "search");
  CHECK(rules[3].mcp->uri == "file://*");
  REQUIRE(rules[3].mcp->arguments.size() == 2);
  CHECK(rules[3].mcp->arguments[0].pointer == "/query");
  CHECK(rules[3].mcp->arguments[0].glob == "lens*");
  CHECK(rules[3].mcp->arguments[1].pointer.empty());
}

TEST_CASE("a GraphQL or MCP matcher that is wrong fails the policy, located", "[policy][parser]") {
  const std::string at = "network.egress.http[0].rules[0]";
  // A misspelt key must not turn into a method/path allow.
  CHECK(problems(httpRule(R"("rules": [{"path": "/g", "grapql": {"operationType": "query"}}])")) ==
        Strings{at + ".grapql: unknown key \"grapql\" (did you mean \"graphql\"?)"});
  CHECK(
      problems(
          httpRule(R"("rules": [{"graphql": {"operationType": "query", "operatioName": "X"}}])")) ==
      Strings{
          at +
          ".graphql.operatioName: unknown key \"operatioName\" (did you mean \"operationName\"?)"});
  CHECK(problems(httpRule(R"("rules": [{"graphql": {"operationType": "read"}}])")) ==
        Strings{at + ".graphql.operationType: unknown value \"read\" (expected query, mutation, "
                     "subscription or *)"});
  CHECK(problems(httpRule(R"("rules": [{"graphql": {}}])")) ==
        Strings{at + ".graphql: missing required key \"operationType\""});
  CHECK(problems(httpRule(
            R"("rules": [{"graphql": {"operationType": "query", "fields": ["a", ""]}}])")) ==
        Strings{at + ".graphql.fields[1]: a field glob must not be empty"});
  CHECK(
      problems(httpRule(R"("rules": [{"graphql": {"operationType": "query", "fields": [1]}}])")) ==
      Strings{at + ".graphql.fields[0]: expected a string, found a number"});
  CHECK(problems(httpRule(R"("rules": [{"graphql": "query"}])")) ==
        Strings{at + ".graphql: expected an object, found a string"});
  CHECK(problems(httpRule(R"("rules": [{"mcp": {"tool": "x"}}])")) ==
        Strings{at + ".mcp: missing required key \"method\""});
  CHECK(
      problems(httpRule(
          R"("rules": [{"mcp": {"method": "tools/call", "arguments": [{"pointer": "query", "glob": "x"}]}}])")) ==
      Strings{at + ".mcp.arguments[0].pointer: a JSON pointer is empty or starts with '/'"});
  CHECK(problems(httpRule(
            R"("rules": [{"mcp": {"method": "tools/call", "arguments": [{"pointer": "/q"}]}}])")) ==
        Strings{at + ".mcp.arguments[0]: missing required key \"glob\""});
  CHECK(problems(httpRule(
            R"("rules": [{"graphql": {"operationType": "query"}, "mcp": {"method": "x"}}])")) ==
        Strings{at + ": a rule carries graphql or mcp, not both (a body is one or the other)"});
  // Injections are judged by the head: no body matcher there.
  CHECK(
      problems(credentials(
          R"({"id": "gh", "envVar": "T", "placeholder": "p", "injections": [{"injectionType": "header", "domain": "x.test",
                "header": "Authorization", "value": "v", "rules": [{"path": "/g", "graphql": {"operationType": "query"}}]}]})")) ==
      Strings{"credentials[0].injections[0].rules[0].graphql: unknown key \"graphql\""});
}
