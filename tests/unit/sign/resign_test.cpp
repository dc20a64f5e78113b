#include "libcommon/sign/resign.h"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/decision/engine.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/policy/policy_parser.h"
#include "libcommon/sign/aws_chunked.h"
#include "libcommon/sign/sigv4.h"
#include "tests/unit/sign/sign_support.h"

using lens::ErrorCode;
using lens::Status;
using lens::http::RawRequest;
using lens::http::serializeRawRequest;
using lens::sign::AwsCredentials;
using lens::sign::BodyHandling;
using lens::sign::ClientSignature;
using lens::sign::PayloadMode;
using lens::sign::ResignedRequest;
using lens::sign::SignatureLocation;
using lens::sign::SignedRequest;
using lens::sign::SigningContext;
using lens::test::parseRequest;
using lens::test::signOk;
using lens::test::timestampOf;

namespace {

constexpr std::string_view kPlaceholder = "LENSFAKE00AABB0000CC";

constexpr std::string_view kPolicy = R"({
  "credentials": [
    {"id": "aws-prod", "envVar": "AWS_ACCESS_KEY_ID", "placeholder": "LENSFAKE00AABB0000CC",
     "injections": [{"injectionType": "awsSigv4", "domain": "*.amazonaws.com",
                     "accessKeyId": "ASIAREALKEY", "secretAccessKey": "real/secret+key",
                     "sessionToken": "real-session-token"}]},
    {"id": "aws-dev", "placeholder": "LENSFAKE11111111111",
     "injections": [{"injectionType": "awsSigv4", "domain": "dev.example.com",
                     "accessKeyId": "AKIADEV", "secretAccessKey": "dev", "sessionToken": "t"}]}
  ]})";

SigningContext clientContext(std::string service = "sqs") {
  return lens::test::sandboxContext(std::move(service));
}

const AwsCredentials kReal{"ASIAREALKEY", "real/secret+key", "real-session-token"};

// The same request signed directly with the real credentials: what
// re-signing must produce.
SigningContext realContext(const SigningContext& client, std::chrono::sys_seconds time) {
  SigningContext ctx = client;
  ctx.accessKeyId = kReal.accessKeyId;
  ctx.secretAccessKey = kReal.secretAccessKey;
  ctx.sessionToken = kReal.sessionToken;
  ctx.timestamp = time;
  return ctx;
}

ClientSignature clientSignatureOk(const RawRequest& request) {
  auto out = lens::sign::parseClientSignature(request);
  INFO((out ? std::string() : out.error().message));
  REQUIRE(out.ok());
  return std::move(out).value();
}

ResignedRequest resignOk(const RawRequest& request, std::chrono::sys_seconds time) {
  const ClientSignature client = clientSignatureOk(request);
  auto out = lens::sign::resign(request, client, kReal, time);
  INFO((out ? std::string() : out.error().message));
  REQUIRE(out.ok());
  return std::move(out).value();
}

std::string resignError(std::string_view text) {
  const RawRequest request = parseRequest(text);
  auto client = lens::sign::parseClientSignature(request);
  if (!client) return client.error().message;
  auto out = lens::sign::resign(request, *client, kReal, timestampOf("2024-01-02T03:04:05Z"));
  return out ? std::string("no error") : out.error().message;
}

lens::decision::Engine engine() {
  auto parsed = lens::policy::parsePolicy(kPolicy);
  REQUIRE(parsed.ok());
  return lens::decision::Engine(parsed.policy);
}

lens::decision::Request connect(std::string host) {
  lens::decision::Request r;
  r.door = lens::decision::Door::kConnect;
  r.host = std::move(host);
  return r;
}

}  // namespace

TEST_CASE("a header-signed request re-signs as if the client had the real key", "[sign][resign]") {
  const RawRequest unsigned_ = parseRequest(
      "POST / HTTP/1.1\nHost: sqs.eu-west-1.amazonaws.com\nContent-Type: "
      "application/x-amz-json-1.0\n"
      "X-Amz-Target: AmazonSQS.ListQueues\nUser-Agent: sdk\nContent-Length: 2\n\n{}");
  const SigningContext client = clientContext();
  const SignedRequest fromClient = signOk(unsigned_, client, SignatureLocation::kHeader);
  const auto later = timestampOf("2024-01-02T03:09:00Z");

  const ResignedRequest resigned = resignOk(fromClient.request, later);
  const SignedRequest direct =
      signOk(unsigned_, realContext(client, later), SignatureLocation::kHeader);
  CHECK(serializeRawRequest(resigned.signedRequest.request) == serializeRawRequest(direct.request));
  CHECK(resigned.signedRequest.signature == direct.signature);
  CHECK_FALSE(resigned.chunkSigner.has_value());

  const std::string text = serializeRawRequest(resigned.signedRequest.request);
  CHECK(text.find("Credential=ASIAREALKEY/20240102/eu-west-1/sqs/aws4_request") !=
        std::string::npos);
  CHECK(text.find("X-Amz-Security-Token:real-session-token") != std::string::npos);
  CHECK(text.find("X-Amz-Date:20240102T030900Z") != std::string::npos);
  CHECK(text.find(kPlaceholder) == std::string::npos);
  CHECK(text.find("fake-token") == std::string::npos);
  CHECK(resigned.signedRequest.request.countHeader("authorization") == 1);
}

TEST_CASE("re-signing keeps the client's region, service and signed-header set", "[sign][resign]") {
  // The client signed only some of the headers (an SDK leaves some out).
  SigningContext client = clientContext("execute-api");
  client.region = "ap-south-2";
  client.signedHeaders = std::vector<std::string>{"host", "x-amz-target"};
  const RawRequest unsigned_ = parseRequest(
      "GET /a/./b HTTP/1.1\nHost: custom.example.net\nX-Amz-Target: T\nX-Unsigned: 1\n");
  const SignedRequest fromClient = signOk(unsigned_, client, SignatureLocation::kHeader);
  REQUIRE(fromClient.canonicalRequest.signedHeaders ==
          "host;x-amz-date;x-amz-security-token;x-amz-target");

  const ResignedRequest resigned = resignOk(fromClient.request, client.timestamp);
  CHECK(resigned.signedRequest.canonicalRequest.signedHeaders ==
        "host;x-amz-date;x-amz-security-token;x-amz-target");
  CHECK(resigned.signedRequest.stringToSign.find("20240102/ap-south-2/execute-api/aws4_request") !=
        std::string::npos);
  CHECK(resigned.signedRequest.signature ==
        signOk(unsigned_, realContext(client, client.timestamp), SignatureLocation::kHeader)
            .signature);
}

TEST_CASE("a presigned request re-signs presigned, with the client's expiry", "[sign][resign]") {
  SigningContext client = clientContext("s3");
  client.expirationSeconds = 900;
  client.payloadMode = PayloadMode::kUnsigned;
  const RawRequest unsigned_ =
      parseRequest("GET /bucket/key?versionId=3 HTTP/1.1\nHost: s3.amazonaws.com\n");
  const SignedRequest fromClient = signOk(unsigned_, client, SignatureLocation::kQuery);

  const ClientSignature parsed = clientSignatureOk(fromClient.request);
  CHECK(parsed.location == SignatureLocation::kQuery);
  CHECK(parsed.accessKeyId == kPlaceholder);
  CHECK(parsed.expirationSeconds == 900);
  CHECK(lens::sign::bodyHandling(parsed).value() == BodyHandling::kAsIs);

  const ResignedRequest resigned = resignOk(fromClient.request, client.timestamp);
  const SignedRequest direct =
      signOk(unsigned_, realContext(client, client.timestamp), SignatureLocation::kQuery);
  CHECK(resigned.signedRequest.request.target == direct.request.target);
  CHECK(resigned.signedRequest.request.target.find("X-Amz-Credential=ASIAREALKEY%2F") !=
        std::string::npos);
  CHECK(resigned.signedRequest.request.target.find("X-Amz-Security-Token=real-session-token") !=
        std::string::npos);
  CHECK(resigned.signedRequest.request.target.find("X-Amz-Expires=900") != std::string::npos);
  CHECK(resigned.signedRequest.request.target.find(kPlaceholder) == std::string::npos);
  CHECK(resigned.signedRequest.request.countHeader("authorization") == 0);
}

TEST_CASE("S3 payload hashes: UNSIGNED-PAYLOAD and a client's hash are kept", "[sign][resign]") {
  for (const PayloadMode mode : {PayloadMode::kUnsigned, PayloadMode::kSha256}) {
    SigningContext client = clientContext("s3");
    client.payloadMode = mode;
    client.signBody = true;
    const RawRequest unsigned_ =
        parseRequest("PUT /k HTTP/1.1\nHost: b.s3.amazonaws.com\nContent-Length: 5\n\nhello");
    const SignedRequest fromClient = signOk(unsigned_, client, SignatureLocation::kHeader);
    REQUIRE(lens::sign::bodyHandling(clientSignatureOk(fromClient.request)).value() ==
            BodyHandling::kAsIs);

    // The body is not needed: re-sign the head alone.
    RawRequest head = fromClient.request;
    head.body.clear();
    const ResignedRequest resigned = resignOk(head, client.timestamp);
    CHECK(resigned.signedRequest.canonicalRequest.payloadHash ==
          fromClient.canonicalRequest.payloadHash);
    CHECK(resigned.signedRequest.signature ==
          signOk(unsigned_, realContext(client, client.timestamp), SignatureLocation::kHeader)
              .signature);
  }
}

TEST_CASE("a chunk-signed upload re-signs into one whose every chunk verifies under the real key",
          "[sign][resign][chunked]") {
  SigningContext client = clientContext("s3");
  client.region = "us-east-1";
  client.payloadMode = PayloadMode::kStreaming;
  std::string payload;
  for (int i = 0; i < 20000; ++i) payload.push_back(static_cast<char>(i % 251));
  RawRequest upload =
      parseRequest("PUT /bucket/object HTTP/1.1\nHost: s3.amazonaws.com\n\n" + payload);
  REQUIRE(lens::sign::prepareStreamingRequest(upload, 8192).ok());
  const SignedRequest fromClient = signOk(upload, client, SignatureLocation::kHeader);
  lens::sign::ChunkSigner clientChunks(client, fromClient.signature);
  const std::string clientBody = lens::sign::encodeAwsChunked(payload, 8192, clientChunks);

  RawRequest head = fromClient.request;
  head.body.clear();
  const ResignedRequest resigned = resignOk(head, client.timestamp);
  REQUIRE(resigned.chunkSigner.has_value());
  REQUIRE(resigned.decodedLength == std::optional<std::uint64_t>(payload.size()));

  lens::sign::AwsChunkedLimits limits;
  limits.decodedLength = resigned.decodedLength;
  lens::sign::AwsChunkedResigner resigner(*resigned.chunkSigner, limits);
  std::string body;
  for (std::size_t pos = 0; pos < clientBody.size(); pos += 1000) {
    REQUIRE(resigner.feed(std::string_view(clientBody).substr(pos, 1000), body).ok());
  }
  REQUIRE(resigner.finish().ok());
  CHECK(body.size() == clientBody.size());

  // Signed directly with the real key, the upload is byte for byte the same.
  const SigningContext real = realContext(client, client.timestamp);
  const SignedRequest direct = signOk(upload, real, SignatureLocation::kHeader);
  RawRequest directHead = direct.request;
  directHead.body.clear();
  CHECK(serializeRawRequest(resigned.signedRequest.request) == serializeRawRequest(directHead));
  lens::sign::ChunkSigner realChunks(real, direct.signature);
  CHECK(body == lens::sign::encodeAwsChunked(payload, 8192, realChunks));

  // And every chunk verifies, chained from the new seed.
  lens::sign::ChunkSigner verify(real, resigned.signedRequest.signature);
  std::size_t chunks = 0;
  std::size_t verified = 0;
  lens::sign::AwsChunkedDecoder decoder({}, [&](const lens::sign::AwsChunk& chunk) -> Status {
    ++chunks;
    if (chunk.signature == verify.next(chunk.data)) ++verified;
    return lens::Ok{};
  });
  REQUIRE(decoder.feed(body).ok());
  REQUIRE(decoder.finish().ok());
  CHECK(chunks == 4);  // 8192 + 8192 + 3616 + the final chunk
  CHECK(verified == chunks);
}

TEST_CASE("re-signing refuses what it cannot re-sign, precisely", "[sign][resign]") {
  const std::string sig(64, 'a');
  const std::string cred = "Credential=LENSFAKE00AABB0000CC/20240102/eu-west-1/s3/aws4_request";
  struct Case {
    std::string request;
    std::string message;
  };
  const auto [text, message] = GENERATE_COPY(values<Case>({
      {"GET / HTTP/1.1\nHost: h\n",
       "the request is not signed with AWS SigV4: it has neither an Authorization header nor "
       "presigned "
       "X-Amz-* query parameters"},
      {"GET / HTTP/1.1\nHost: h\nAuthorization: Basic dXNlcjpwdw==\n",
       "Authorization is not AWS4-HMAC-SHA256 (it is Basic)"},
      {"GET / HTTP/1.1\nHost: h\nAuthorization: AWS4-HMAC-SHA256\n",
       "Authorization has no Credential="},
      {"GET / HTTP/1.1\nHost: h\nAuthorization: AWS4-HMAC-SHA256 " + cred + ", Signature=" + sig +
           "\n",
       "Authorization has no SignedHeaders="},
      {"GET / HTTP/1.1\nHost: h\nAuthorization: AWS4-HMAC-SHA256 " + cred +
           ", SignedHeaders=host, Signature=" + sig + ", Extra=1\n",
       "Authorization has a part other than Credential=, SignedHeaders= and Signature="},
      {"GET / HTTP/1.1\nHost: h\nAuthorization: AWS4-HMAC-SHA256 " + cred + ", " + cred +
           ", SignedHeaders=host, Signature=" + sig + "\n",
       "Authorization has Credential= twice"},
      {"GET / HTTP/1.1\nHost: h\nAuthorization: AWS4-HMAC-SHA256 "
       "Credential=LENSFAKE0/2024/eu/s3/aws4_request, "
       "SignedHeaders=host, Signature=" +
           sig + "\n",
       "Authorization Credential is not KEY/DATE/REGION/SERVICE/aws4_request: the date is not "
       "eight digits"},
      {"GET / HTTP/1.1\nHost: h\nAuthorization: AWS4-HMAC-SHA256 "
       "Credential=LENSFAKE0/20240102/eu/s3, "
       "SignedHeaders=host, Signature=" +
           sig + "\n",
       "Authorization Credential is not KEY/DATE/REGION/SERVICE/aws4_request: it does not have "
       "five parts "
       "separated by '/'"},
      {"GET / HTTP/1.1\nHost: h\nAuthorization: AWS4-HMAC-SHA256 " + cred +
           ", SignedHeaders=x-amz-date, Signature=" + sig + "\n",
       "Authorization SignedHeaders does not include host"},
      {"GET / HTTP/1.1\nHost: h\nAuthorization: AWS4-HMAC-SHA256 " + cred +
           ", SignedHeaders=Host, Signature=" + sig + "\n",
       "Authorization SignedHeaders is not a ';'-separated list of lower-case header names"},
      {"GET / HTTP/1.1\nHost: h\nAuthorization: AWS4-HMAC-SHA256 " + cred +
           ", SignedHeaders=host, Signature=abc\n",
       "Authorization Signature is not 64 lower-case hex digits"},
      {"GET /?X-Amz-Signature=" + sig + " HTTP/1.1\nHost: h\nAuthorization: AWS4-HMAC-SHA256 " +
           cred + ", SignedHeaders=host, Signature=" + sig + "\n",
       "the request has both an Authorization header and presigned X-Amz-* query parameters"},
      {"GET /?X-Amz-Signature=" + sig + " HTTP/1.1\nHost: h\n",
       "the presigned query has no X-Amz-Algorithm"},
      {"GET "
       "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=LENSFAKE0%2F20240102%2Feu%2Fs3%2Faws4_"
       "request"
       "&X-Amz-Date=20240102T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-"
       "Signature=" +
           sig + " HTTP/1.1\nHost: h\n",
       "X-Amz-Expires is not a number of seconds from 1 to 604800"},
      {"GET /?X-Amz-Algorithm=AWS4-HMAC-SHA256&x-amz-algorithm=AWS4-HMAC-SHA256 HTTP/1.1\nHost: "
       "h\n",
       "the query has X-Amz-Algorithm twice"},
      {"PUT / HTTP/1.1\nHost: h\nAuthorization: AWS4-HMAC-SHA256 " + cred +
           ", SignedHeaders=host, Signature=" + sig +
           "\nx-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER\n",
       "x-amz-content-sha256 STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER is not supported: the "
       "signature of its "
       "trailing headers is not re-signed"},
      {"PUT / HTTP/1.1\nHost: h\nAuthorization: AWS4-HMAC-SHA256 " + cred +
           ", SignedHeaders=host, Signature=" + sig +
           "\nx-amz-content-sha256: " + std::string(64, 'A') + "\n",
       "x-amz-content-sha256 " + std::string(64, 'A') +
           " is not supported (expected a lower-case hex SHA-256, UNSIGNED-PAYLOAD, "
           "STREAMING-AWS4-HMAC-SHA256-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER)"},
      {"PUT / HTTP/1.1\nHost: h\nAuthorization: AWS4-HMAC-SHA256 " + cred +
           ", SignedHeaders=host, Signature=" + sig +
           "\nx-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\n",
       "an aws-chunked request (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) needs a decimal "
       "x-amz-decoded-content-length "
       "header"},
      {"GET / HTTP/1.1\nHost: h\nAuthorization: AWS4-HMAC-SHA256 " + cred +
           ", SignedHeaders=host;x-gone, Signature=" + sig + "\n",
       "signed header \"x-gone\" is not in the request"},
  }));
  CAPTURE(text);
  CHECK(resignError(text) == message);
}

TEST_CASE("the Authorization parameters may come without spaces", "[sign][resign]") {
  const RawRequest request = parseRequest(
      "GET / HTTP/1.1\nHost: h\nAuthorization: AWS4-HMAC-SHA256 "
      "Credential=LENSFAKE00AABB0000CC/20240102/eu-west-1/s3/"
      "aws4_request,SignedHeaders=host;x-amz-date,"
      "Signature=" +
      std::string(64, '0') + "\n");
  const ClientSignature client = clientSignatureOk(request);
  CHECK(client.location == SignatureLocation::kHeader);
  CHECK(client.accessKeyId == kPlaceholder);
  CHECK(client.date == "20240102");
  CHECK(client.region == "eu-west-1");
  CHECK(client.service == "s3");
  CHECK(client.signedHeaders == std::vector<std::string>{"host", "x-amz-date"});
  CHECK_FALSE(client.contentSha256.has_value());
}

TEST_CASE("the policy's awsSigv4 injection is found by placeholder and host", "[sign][resign]") {
  const lens::decision::Engine policyEngine = engine();
  auto found =
      lens::sign::findAwsInjection(policyEngine, kPlaceholder, connect("s3.amazonaws.com"));
  REQUIRE(found.ok());
  CHECK(found->credentialId == "aws-prod");
  CHECK(found->credentials.accessKeyId == "ASIAREALKEY");
  CHECK(found->credentials.sessionToken == "real-session-token");

  auto real = lens::sign::findAwsInjection(policyEngine, "AKIAIOSFODNN7EXAMPLE",
                                           connect("s3.amazonaws.com"));
  REQUIRE_FALSE(real.ok());
  CHECK(real.error().code == ErrorCode::kDenied);
  CHECK(real.error().message ==
        "the request is signed with an access key id that is not a LENSFAKE placeholder; it is not "
        "re-signed");

  auto unknown =
      lens::sign::findAwsInjection(policyEngine, "LENSFAKE99", connect("s3.amazonaws.com"));
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == ErrorCode::kDenied);
  CHECK(unknown.error().message ==
        "access key id LENSFAKE99 is not the placeholder of any credential in the policy");

  auto wrongHost = lens::sign::findAwsInjection(policyEngine, kPlaceholder, connect("example.org"));
  REQUIRE_FALSE(wrongHost.ok());
  CHECK(wrongHost.error().message ==
        "credential \"aws-prod\" has no awsSigv4 injection for example.org");

  lens::decision::Request otherPort = connect("dev.example.com");
  otherPort.port = 8443;
  auto dev = lens::sign::findAwsInjection(policyEngine, "LENSFAKE11111111111", otherPort);
  REQUIRE(dev.ok());
  CHECK(dev->credentialId == "aws-dev");
  auto crossed = lens::sign::findAwsInjection(policyEngine, "LENSFAKE11111111111",
                                              connect("s3.amazonaws.com"));
  REQUIRE_FALSE(crossed.ok());
  CHECK(crossed.error().message ==
        "credential \"aws-dev\" has no awsSigv4 injection for s3.amazonaws.com");
}
