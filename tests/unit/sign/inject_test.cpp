#include "libcommon/sign/inject.h"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <string_view>

#include "libcommon/decision/engine.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/policy/policy_parser.h"
#include "libcommon/util/base64.h"
#include "tests/unit/sign/sign_support.h"

using lens::decision::Door;
using lens::decision::Engine;
using lens::http::RawRequest;
using lens::http::serializeRawRequest;
using lens::policy::InjectionType;
using lens::sign::InjectedRequest;
using lens::test::parseRequest;

namespace {

constexpr std::string_view kPolicy = R"({
  "credentials": [
    {"id": "gh", "placeholder": "ghp_PLACEHOLDER", "injections": [
      {"injectionType": "header", "domain": "api.github.com", "header": "Authorization",
       "value": "Bearer ghp_real", "rules": [{"method": "GET", "path": "/repos/**"}]}]},
    {"id": "tg", "placeholder": "__lens_cred:tg__", "injections": [
      {"injectionType": "uriPlaceholder", "domain": "*.telegram.org", "value": "123:REAL"}]},
    {"id": "registry", "placeholder": "__lens_cred:reg__", "injections": [
      {"injectionType": "uriPlaceholder", "domain": "registry.example.com", "value": "s3cr3t:pw"},
      {"injectionType": "header", "domain": "registry.example.com", "header": "X-Later", "value": ""}]},
    {"id": "aws", "placeholder": "LENSFAKE00AABB0000CC", "injections": [
      {"injectionType": "awsSigv4", "domain": "registry.example.com", "accessKeyId": "ASIAREAL",
       "secretAccessKey": "s", "sessionToken": "t"}]},
    {"id": "tab", "placeholder": "__lens_cred:tab__", "injections": [
      {"injectionType": "uriPlaceholder", "domain": "tab.example.com", "value": "a\tb"}]}
  ]})";

std::shared_ptr<const lens::policy::PolicyDocument> policy() {
  static const auto parsed = lens::policy::parsePolicy(kPolicy);
  REQUIRE(parsed.ok());
  return parsed.policy;
}

// Applies what the engine finds for `host` and the request's method and path.
lens::Result<InjectedRequest> inject(const RawRequest& request, std::string host) {
  const Engine engine(policy());
  lens::decision::Request r;
  r.door = Door::kConnect;
  r.host = std::move(host);
  r.method = request.method;
  r.path = std::string(request.path());
  const auto refs = engine.injectionsFor(r);
  return lens::sign::applyInjections(request, *policy(), refs);
}

InjectedRequest injectOk(std::string_view text, std::string host) {
  auto out = inject(parseRequest(text), std::move(host));
  INFO((out ? std::string() : out.error().message));
  REQUIRE(out.ok());
  return std::move(out).value();
}

}  // namespace

TEST_CASE("a header injection replaces every field of that name", "[sign][inject]") {
  const InjectedRequest out = injectOk(
      "GET /repos/o/r HTTP/1.1\nHost: api.github.com\nauthorization: token ghp_PLACEHOLDER\n"
      "Accept: */*\nAUTHORIZATION: Bearer other\n",
      "api.github.com");
  CHECK(serializeRawRequest(out.request) ==
        "GET /repos/o/r HTTP/1.1\nHost: api.github.com\nAccept: */*\nAuthorization: Bearer "
        "ghp_real\n\n");
  REQUIRE(out.applied.size() == 1);
  CHECK(out.applied[0].credentialId == "gh");
  CHECK(out.applied[0].type == InjectionType::kHeader);
  CHECK(out.applied[0].where == "Authorization");
}

TEST_CASE("an injection applies only to requests its rules cover", "[sign][inject]") {
  const std::string text =
      "POST /repos/o/r HTTP/1.1\nHost: api.github.com\nAuthorization: token ghp_PLACEHOLDER\n";
  const InjectedRequest post = injectOk(text, "api.github.com");
  CHECK(post.applied.empty());
  CHECK(serializeRawRequest(post.request) == text + "\n");
  CHECK(injectOk("GET /user HTTP/1.1\nHost: api.github.com\n", "api.github.com").applied.empty());
  CHECK(injectOk("GET /repos/o/r HTTP/1.1\nHost: api.github.com\n", "other.example.com")
            .applied.empty());
}

TEST_CASE("a uriPlaceholder injection rewrites the request target only", "[sign][inject]") {
  const InjectedRequest out = injectOk(
      "GET /bot__lens_cred:tg__/getMe?again=__lens_cred:tg__ HTTP/1.1\nHost: api.telegram.org\n"
      "X-Echo: __lens_cred:tg__\n",
      "api.telegram.org");
  CHECK(out.request.target == "/bot123:REAL/getMe?again=123:REAL");
  CHECK(out.request.findHeader("x-echo")->value() == "__lens_cred:tg__");
  REQUIRE(out.applied.size() == 1);
  CHECK(out.applied[0].where == "request target");
  CHECK(out.applied[0].type == InjectionType::kUriPlaceholder);
}

TEST_CASE("a placeholder inside Authorization: Basic is substituted in user:password",
          "[sign][inject]") {
  const std::string basic = lens::util::base64Encode("deploy:__lens_cred:reg__");
  const InjectedRequest out = injectOk(
      "GET /v2/ HTTP/1.1\nHost: registry.example.com\nAuthorization: basic  " + basic + "\n",
      "registry.example.com");
  const std::string expected = lens::util::base64Encode("deploy:s3cr3t:pw");
  CHECK(out.request.findHeader("authorization")->rawValue == " basic " + expected);
  REQUIRE(out.applied.size() == 1);
  CHECK(out.applied[0].credentialId == "registry");
  CHECK(out.applied[0].where == "Authorization Basic");
  // The empty header injection of the same credential is unarmed.
  REQUIRE(out.unarmed.size() == 1);
  CHECK(out.unarmed[0].where == "X-Later");
  CHECK(out.request.countHeader("x-later") == 0);
}

TEST_CASE("Authorization values that are not Basic with base64 holding the placeholder stay",
          "[sign][inject]") {
  const std::string other = lens::util::base64Encode("deploy:other");
  for (const std::string& value : {"Basic " + other, std::string("Basic not*base64"),
                                   std::string("Bearer __lens_cred:reg__"), std::string("Basic")}) {
    CAPTURE(value);
    const InjectedRequest out =
        injectOk("GET /v2/ HTTP/1.1\nHost: registry.example.com\nAuthorization: " + value + "\n",
                 "registry.example.com");
    CHECK(out.request.findHeader("authorization")->value() == value);
    CHECK(out.applied.empty());
  }
}

TEST_CASE("awsSigv4 injections are left to re-signing", "[sign][inject]") {
  const std::string text =
      "GET / HTTP/1.1\nHost: registry.example.com\nAuthorization: AWS4-HMAC-SHA256 "
      "Credential=LENSFAKE00AABB0000CC/20150830/us-east-1/s3/aws4_request\n";
  const InjectedRequest out = injectOk(text, "registry.example.com");
  CHECK(serializeRawRequest(out.request) == text + "\n");
  CHECK(out.applied.empty());
}

TEST_CASE("a substituted target must still be a request target", "[sign][inject]") {
  auto out = inject(parseRequest("GET /x/__lens_cred:tab__ HTTP/1.1\nHost: tab.example.com\n"),
                    "tab.example.com");
  REQUIRE_FALSE(out.ok());
  CHECK(out.error().code == lens::ErrorCode::kInvalidInput);
  CHECK(out.error().message ==
        "the request target has a space or a control character after substituting a placeholder");
}
