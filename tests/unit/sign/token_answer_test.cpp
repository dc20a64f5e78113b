// The OAuth client-credentials answer of the credentials stage: a token
// request of the configured client is answered with the placeholder; every
// other request to the token path goes to the origin unchanged.
#include "libcommon/sign/token_answer.h"

#include <catch2/catch.hpp>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <optional>
#include <string>
#include <string_view>

#include "libcommon/policy/policy_parser.h"
#include "libcommon/sign/boundary.h"
#include "tests/unit/sign/sign_support.h"

using lens::http::RawRequest;
using lens::sign::BoundaryRequest;
using lens::test::parseRequest;
using lens::test::timestampOf;

namespace {

constexpr std::string_view kPolicy = R"({
  "network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
    {"match": "*.crm.test", "verdict": "allow", "transport": "direct"}]}},
  "credentials": [
    {"id": "crm", "placeholder": "__lens_cred:crm__", "injections": [
      {"injectionType": "oauthClientCredentials", "domain": "auth.crm.test", "tokenPath": "/oauth/token",
       "clientId": "agent-client", "scope": "write read read", "expiresIn": 600},
      {"injectionType": "header", "domain": "api.crm.test", "header": "Authorization",
       "value": "Bearer REAL-CRM-TOKEN"}]}]})";

const lens::decision::Engine& engine() {
  static const lens::decision::Engine e = lens::test::engineOf(kPolicy);
  return e;
}

lens::decision::Request destination(const RawRequest& head, std::string host = "auth.crm.test") {
  return lens::test::destinationOf(head, std::move(host));
}

std::chrono::sys_seconds now() { return lens::test::stageNow(); }

// A request head whose body is still to be read, as the proxies hand it on.
RawRequest parseHead(const std::string& text) {
  auto parsed = lens::http::parseRawRequestHead(text);
  INFO("parse error: " << (parsed ? std::string() : parsed.error().message));
  REQUIRE(parsed.ok());
  return std::move(parsed->request);
}

RawRequest tokenRequest(std::string_view body, std::string_view extraHeaders = "",
                        std::string_view target = "/oauth/token") {
  return parseHead("POST " + std::string(target) + " HTTP/1.1\nHost: auth.crm.test\n" +
                   "Content-Type: application/x-www-form-urlencoded\nContent-Length: " +
                   std::to_string(body.size()) + "\n" + std::string(extraHeaders) + "\n");
}

// The stage's outcome for one token request: the answer, or nullopt when
// the request goes on to the origin.
struct Outcome {
  bool ok = false;
  std::optional<lens::sign::TokenAnswer> answer;
  lens::sign::BoundaryRefusal refusal;
};

Outcome run(RawRequest head, std::string_view body, const std::string& host = "auth.crm.test") {
  BoundaryRequest stage(engine(), destination(head, host));
  Outcome out;
  if (!stage.begin(head)) {
    out.refusal = stage.refusal();
    return out;
  }
  REQUIRE(stage.needsBody() == !body.empty());
  CHECK(stage.bodyLength() == body.size());
  out.ok = stage.finish(head, body, now());
  out.answer = stage.answer();
  out.refusal = stage.refusal();
  if (out.answer) CHECK(stage.report().tokenCredentialId == "crm");
  return out;
}

Poco::JSON::Object::Ptr json(const std::string& text) {
  return Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
}

}  // namespace

TEST_CASE("a client-credentials request of the configured client is answered with the placeholder",
          "[sign][oauth]") {
  SECTION("client id in the form, scopes in another order") {
    const std::string body =
        "grant_type=client_credentials&client_id=agent-client&scope=read+write";
    const Outcome out = run(tokenRequest(body), body);
    REQUIRE(out.ok);
    REQUIRE(out.answer);
    CHECK(out.answer->status == 200);
    const auto answer = json(out.answer->body);
    CHECK(answer->getValue<std::string>("token_type") == "Bearer");
    CHECK(answer->getValue<std::string>("access_token") == "__lens_cred:crm__");
    CHECK(answer->getValue<int>("expires_in") == 600);
    CHECK(out.answer->body.find("REAL-CRM-TOKEN") == std::string::npos);
  }
  SECTION("client id as the Basic user name (client_secret_basic), percent-encoded") {
    // "agent%2Dclient:anything" in base64.
    const std::string body = "grant_type=client_credentials&scope=write%20read";
    const Outcome out =
        run(tokenRequest(body, "Authorization: Basic YWdlbnQlMkRjbGllbnQ6YW55dGhpbmc=\n"), body);
    REQUIRE(out.answer);
    CHECK(out.answer->status == 200);
  }
  SECTION("a path that normalizes to the token path") {
    const std::string body =
        "grant_type=client_credentials&client_id=agent-client&scope=read%20write";
    const Outcome out = run(tokenRequest(body, "", "/oauth/./token"), body);
    REQUIRE(out.answer);
    CHECK(out.answer->status == 200);
  }
}

TEST_CASE("a token request for other scopes gets invalid_scope, never a token", "[sign][oauth]") {
  for (const std::string scope : {"read", "read+write+admin", ""}) {
    const std::string body = "grant_type=client_credentials&client_id=agent-client&scope=" + scope;
    const Outcome out = run(tokenRequest(body), body);
    INFO("scope " << scope);
    REQUIRE(out.answer);
    CHECK(out.answer->status == 400);
    CHECK(json(out.answer->body)->getValue<std::string>("error") == "invalid_scope");
    CHECK(out.answer->body.find("__lens_cred") == std::string::npos);
  }
}

TEST_CASE("what is not this client's client-credentials request goes to the origin unchanged",
          "[sign][oauth]") {
  const std::string valid = "grant_type=client_credentials&client_id=agent-client&scope=read+write";
  struct Case {
    const char* what;
    std::string body;
    std::string headers;
  };
  const Case cases[] = {
      {"another client", "grant_type=client_credentials&client_id=someone-else&scope=read+write",
       ""},
      {"another grant", "grant_type=password&client_id=agent-client&scope=read+write", ""},
      {"no grant", "client_id=agent-client&scope=read+write", ""},
      {"no client id at all", "grant_type=client_credentials&scope=read+write", ""},
      {"a field sent twice", valid + "&client_id=agent-client", ""},
      {"a broken escape", valid + "&x=%g1", ""},
      // Basic "someone-else:x" beside client_id=agent-client: two clients.
      {"two different clients", valid, "Authorization: Basic c29tZW9uZS1lbHNlOng=\n"},
      {"unreadable Basic", valid, "Authorization: Basic !!!\n"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const Outcome out = run(tokenRequest(c.body, c.headers), c.body);
    CHECK(out.ok);
    CHECK_FALSE(out.answer);
  }

  SECTION("not a form") {
    RawRequest head = parseHead(
        "POST /oauth/token HTTP/1.1\nHost: auth.crm.test\nContent-Type: application/json\n"
        "Content-Length: " +
        std::to_string(valid.size()) + "\n\n");
    const Outcome out = run(head, valid);
    CHECK(out.ok);
    CHECK_FALSE(out.answer);
  }
  SECTION("another method or path is not read at all") {
    RawRequest get = parseRequest("GET /oauth/token HTTP/1.1\nHost: auth.crm.test\n\n");
    BoundaryRequest a(engine(), destination(get));
    REQUIRE(a.begin(get));
    CHECK_FALSE(a.needsBody());
    REQUIRE(a.finish(get, {}, now()));
    CHECK_FALSE(a.answer());
    const RawRequest elsewhere = tokenRequest(valid, "", "/oauth/token2");
    CHECK_FALSE(lens::sign::isTokenRequest(elsewhere, *engine().policy(),
                                           engine().injectionsFor(destination(elsewhere))));
  }
  SECTION("another host: the injection's domain decides") {
    const RawRequest head = tokenRequest(valid);
    CHECK_FALSE(lens::sign::isTokenRequest(
        head, *engine().policy(), engine().injectionsFor(destination(head, "api.crm.test"))));
  }
}

TEST_CASE("a token request must declare a readable length within the limit", "[sign][oauth]") {
  SECTION("chunked: 411") {
    RawRequest head = parseHead(
        "POST /oauth/token HTTP/1.1\nHost: auth.crm.test\n"
        "Content-Type: application/x-www-form-urlencoded\nTransfer-Encoding: chunked\n\n");
    const Outcome out = run(head, "");
    CHECK_FALSE(out.ok);
    CHECK(out.refusal.status == 411);
    CHECK(out.refusal.reason == lens::sign::reason::kOauthLengthRequired);
  }
  SECTION("over 64 KiB: 413") {
    RawRequest head = parseHead(
        "POST /oauth/token HTTP/1.1\nHost: auth.crm.test\n"
        "Content-Type: application/x-www-form-urlencoded\nContent-Length: " +
        std::to_string(lens::sign::kMaxTokenRequestBody + 1) + "\n\n");
    const Outcome out = run(head, "");
    CHECK(out.refusal.status == 413);
    CHECK(out.refusal.reason == lens::sign::reason::kOauthBodyTooLarge);
  }
}

TEST_CASE("the answered placeholder is swapped on API calls and guarded elsewhere",
          "[sign][oauth]") {
  RawRequest api = parseRequest(
      "GET /v1/accounts HTTP/1.1\nHost: api.crm.test\nAuthorization: Bearer __lens_cred:crm__\n\n");
  BoundaryRequest a(engine(), destination(api, "api.crm.test"));
  REQUIRE(a.begin(api));
  REQUIRE(a.finish(api, {}, now()));
  CHECK(api.findHeader("authorization")->value() == "Bearer REAL-CRM-TOKEN");

  // The token endpoint has no header injection: the placeholder sent there is a leak.
  RawRequest leak = parseRequest(
      "GET /me HTTP/1.1\nHost: auth.crm.test\nAuthorization: Bearer __lens_cred:crm__\n\n");
  BoundaryRequest b(engine(), destination(leak));
  REQUIRE(b.begin(leak));
  CHECK_FALSE(b.finish(leak, {}, now()));
  CHECK(b.refusal().reason == lens::sign::reason::kPlaceholderLeak);
}
