// The credentials stage as the proxies run it on every request inside
// interception: injections, the re-judged target, SigV4 re-signing with
// its body rules, and the placeholder guard.
#include "libcommon/sign/boundary.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "libcommon/policy/policy_parser.h"
#include "tests/unit/sign/sign_support.h"

using lens::http::RawRequest;
using lens::http::serializeRawRequest;
using lens::sign::BoundaryRequest;
using lens::sign::SignatureLocation;
using lens::sign::SigningContext;
using lens::test::parseRequest;
using lens::test::sandboxContext;
using lens::test::signOk;
using lens::test::timestampOf;

namespace {

constexpr std::string_view kPolicy = R"({
  "network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
    {"match": "api.test", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/v1/**"}]},
    {"match": "*.amazonaws.com", "verdict": "allow", "transport": "direct"},
    {"match": "other.test", "verdict": "allow", "transport": "direct"}]}},
  "credentials": [
    {"id": "tok", "placeholder": "__lens_cred:tok__", "injections": [
      {"injectionType": "header", "domain": "api.test", "header": "Authorization", "value": "Bearer REAL-TOKEN",
       "rules": [{"method": "GET", "path": "/v1/items/**"}]}]},
    {"id": "key", "placeholder": "__lens_cred:key__", "injections": [
      {"injectionType": "uriPlaceholder", "domain": "api.test", "value": "../../admin"}]},
    {"id": "aws", "placeholder": "LENSFAKE00AABB0000CC", "injections": [
      {"injectionType": "awsSigv4", "domain": "*.amazonaws.com", "accessKeyId": "ASIAREALKEY",
       "secretAccessKey": "real/secret+key", "sessionToken": "real-session-token"}]}]})";

const lens::decision::Engine& engine() {
  static const lens::decision::Engine e = lens::test::engineOf(kPolicy);
  return e;
}

lens::decision::Request destination(const RawRequest& head, std::string host) {
  return lens::test::destinationOf(head, std::move(host));
}

std::chrono::sys_seconds now() { return lens::test::stageNow(); }

}  // namespace

TEST_CASE("the stage injects a header where its rules cover the request, and guards the rest",
          "[sign][boundary]") {
  RawRequest covered = parseRequest(
      "GET /v1/items/1 HTTP/1.1\nHost: api.test\nAuthorization: Bearer __lens_cred:tok__\n\n");
  BoundaryRequest a(engine(), destination(covered, "api.test"));
  REQUIRE(a.begin(covered));
  REQUIRE_FALSE(a.needsBody());
  REQUIRE(a.finish(covered, {}, now()));
  CHECK(covered.findHeader("authorization")->value() == "Bearer REAL-TOKEN");
  REQUIRE(a.report().applied.size() == 1);
  CHECK(a.report().applied[0].credentialId == "tok");

  // The same placeholder on a path the injection's rules leave out.
  RawRequest uncovered = parseRequest(
      "GET /v1/other HTTP/1.1\nHost: api.test\nAuthorization: Bearer __lens_cred:tok__\n\n");
  BoundaryRequest b(engine(), destination(uncovered, "api.test"));
  REQUIRE(b.begin(uncovered));
  CHECK_FALSE(b.finish(uncovered, {}, now()));
  CHECK(b.refusal().status == 403);
  CHECK(b.refusal().reason == lens::sign::reason::kPlaceholderLeak);
  CHECK(b.refusal().credentialId == "tok");
  CHECK(b.refusal().text.find("__lens_cred") == std::string::npos);
}

TEST_CASE("the guard finds a placeholder in the query, any header and inside Basic",
          "[sign][boundary]") {
  const auto& policy = *engine().policy();
  CHECK(lens::sign::placeholderIn(
            policy, parseRequest("GET /?q=__lens_cred:key__ HTTP/1.1\nHost: x\n\n")) == "key");
  CHECK(lens::sign::placeholderIn(
            policy, parseRequest("GET / HTTP/1.1\nHost: x\nX-Any: a __lens_cred:tok__\n\n")) ==
        "tok");
  // "user:__lens_cred:tok__" in base64.
  CHECK(lens::sign::placeholderIn(
            policy, parseRequest("GET / HTTP/1.1\nHost: x\n"
                                 "Authorization: Basic dXNlcjpfX2xlbnNfY3JlZDp0b2tfXw==\n\n")) ==
        "tok");
  CHECK(lens::sign::placeholderIn(
            policy, parseRequest("GET / HTTP/1.1\nHost: x\nAuthorization: Bearer x\n\n")) ==
        std::nullopt);
}

TEST_CASE("a target the substitution rewrites is judged again", "[sign][boundary]") {
  RawRequest head = parseRequest("GET /v1/__lens_cred:key__ HTTP/1.1\nHost: api.test\n\n");
  BoundaryRequest stage(engine(), destination(head, "api.test"));
  CHECK_FALSE(stage.begin(head));
  CHECK(stage.refusal().reason == lens::sign::reason::kRewrittenPathDenied);
  CHECK(stage.refusal().credentialId == "key");
}

TEST_CASE(
    "an AWS request is re-signed: as it is, hashed once the body is whole, refused when it cannot "
    "be",
    "[sign][boundary]") {
  SECTION("UNSIGNED-PAYLOAD: the head alone") {
    const RawRequest plain = parseRequest(
        "PUT /bucket/key HTTP/1.1\nHost: s3.eu-west-1.amazonaws.com\nContent-Length: 5\n\nhello");
    SigningContext ctx = sandboxContext("s3");
    ctx.payloadMode = lens::sign::PayloadMode::kUnsigned;
    ctx.signBody = true;  // the x-amz-content-sha256 header, as S3 clients send it
    RawRequest head = signOk(plain, ctx, SignatureLocation::kHeader).request;
    head.body.clear();  // streams after the head, untouched
    BoundaryRequest stage(engine(), destination(head, "s3.eu-west-1.amazonaws.com"));
    REQUIRE(stage.begin(head));
    CHECK_FALSE(stage.needsBody());
    REQUIRE(stage.finish(head, {}, now()));
    const std::string text = serializeRawRequest(head);
    CHECK(text.find("Credential=ASIAREALKEY/20240102/eu-west-1/s3/aws4_request") !=
          std::string::npos);
    CHECK(text.find("LENSFAKE") == std::string::npos);
    CHECK(stage.report().awsCredentialId == "aws");
    CHECK(stage.report().service == "s3");
  }
  SECTION("a body signed by its hash is read whole first") {
    const RawRequest plain = parseRequest(
        "POST / HTTP/1.1\nHost: sqs.eu-west-1.amazonaws.com\nContent-Type: "
        "application/x-amz-json-1.0\n"
        "Content-Length: 2\n\n{}");
    RawRequest head = signOk(plain, sandboxContext("sqs"), SignatureLocation::kHeader).request;
    head.body.clear();
    BoundaryRequest stage(engine(), destination(head, "sqs.eu-west-1.amazonaws.com"));
    REQUIRE(stage.begin(head));
    REQUIRE(stage.needsBody());
    CHECK(stage.bodyLength() == 2);
    REQUIRE(stage.finish(head, "{}", now()));
    CHECK(head.body.empty());
    CHECK(serializeRawRequest(head).find("ASIAREALKEY") != std::string::npos);
  }
  SECTION("over --max-signed-body: 413; chunked: 411") {
    const RawRequest plain =
        parseRequest("POST / HTTP/1.1\nHost: sqs.eu-west-1.amazonaws.com\nContent-Length: 2\n\n{}");
    RawRequest head = signOk(plain, sandboxContext("sqs"), SignatureLocation::kHeader).request;
    head.body.clear();
    RawRequest chunked = head;
    BoundaryRequest small(engine(), destination(head, "sqs.eu-west-1.amazonaws.com"), {1});
    CHECK_FALSE(small.begin(head));
    CHECK(small.refusal().status == 413);
    chunked.removeHeaders("content-length");
    chunked.addHeader("Transfer-Encoding", " chunked");
    BoundaryRequest stage(engine(), destination(chunked, "sqs.eu-west-1.amazonaws.com"));
    CHECK_FALSE(stage.begin(chunked));
    CHECK(stage.refusal().status == 411);
  }
  SECTION("a key that is not a placeholder: 401, never quoted") {
    SigningContext real = sandboxContext("sqs");
    real.accessKeyId = "AKIASOMEREALKEY";
    RawRequest head = signOk(parseRequest("GET / HTTP/1.1\nHost: sqs.eu-west-1.amazonaws.com\n\n"),
                             real, SignatureLocation::kHeader)
                          .request;
    BoundaryRequest stage(engine(), destination(head, "sqs.eu-west-1.amazonaws.com"));
    CHECK_FALSE(stage.begin(head));
    CHECK(stage.refusal().status == 401);
    CHECK(stage.refusal().text.find("AKIASOMEREALKEY") == std::string::npos);
  }
}

TEST_CASE("a LENSFAKE key sent to a host without its injection is a leak", "[sign][boundary]") {
  RawRequest head = signOk(parseRequest("GET / HTTP/1.1\nHost: other.test\n\n"),
                           sandboxContext("sqs"), SignatureLocation::kHeader)
                        .request;
  BoundaryRequest stage(engine(), destination(head, "other.test"));
  REQUIRE(stage.begin(head));
  CHECK_FALSE(stage.finish(head, {}, now()));
  CHECK(stage.refusal().reason == lens::sign::reason::kPlaceholderLeak);
  CHECK(stage.refusal().credentialId == "aws");
}
