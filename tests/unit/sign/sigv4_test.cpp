#include "libcommon/sign/sigv4.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/http/raw_request.h"
#include "tests/unit/sign/sign_support.h"

#ifndef LENS_SIGV4_VECTORS
#error "LENS_SIGV4_VECTORS must name the AWS SigV4 test-vector directory"
#endif

using lens::ErrorCode;
using lens::http::parseRawRequest;
using lens::http::RawRequest;
using lens::http::serializeRawRequest;
using lens::sign::PayloadMode;
using lens::sign::SignatureLocation;
using lens::sign::SignedRequest;
using lens::sign::SigningContext;
using lens::test::parseRequest;
using lens::test::signOk;
using lens::test::timestampOf;

namespace {

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  INFO("reading " << path.string());
  REQUIRE(in.good());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// context.json of the vectors (the aws-c-auth layout). Unknown keys fail the
// test so that a change of layout is noticed.
SigningContext loadContext(const std::filesystem::path& file) {
  Poco::JSON::Parser parser;
  const auto root = parser.parse(readFile(file)).extract<Poco::JSON::Object::Ptr>();
  const std::set<std::string> known = {
      "credentials", "expiration_in_seconds", "normalize", "region", "service", "sign_body",
      "timestamp",   "omit_session_token"};
  for (const std::string& key : root->getNames()) {
    INFO(file.string() << ": key " << key);
    CHECK(known.count(key) == 1);
  }
  SigningContext ctx;
  const auto credentials = root->getObject("credentials");
  REQUIRE(credentials);
  ctx.accessKeyId = credentials->getValue<std::string>("access_key_id");
  ctx.secretAccessKey = credentials->getValue<std::string>("secret_access_key");
  if (credentials->has("token")) ctx.sessionToken = credentials->getValue<std::string>("token");
  ctx.region = root->getValue<std::string>("region");
  ctx.service = root->getValue<std::string>("service");
  ctx.timestamp = timestampOf(root->getValue<std::string>("timestamp"));
  ctx.normalizePath = root->optValue("normalize", true);
  ctx.signBody = root->optValue("sign_body", false);
  ctx.expirationSeconds = root->optValue<std::uint32_t>("expiration_in_seconds", 3600);
  ctx.omitSessionTokenFromSignature = root->optValue("omit_session_token", false);
  return ctx;
}

// The worked examples of the AWS documentation use this key pair.
SigningContext exampleS3Context() {
  SigningContext ctx = lens::test::s3DocumentationContext();
  ctx.signBody = true;
  return ctx;
}

SigningContext vanillaContext() {
  SigningContext ctx;
  ctx.accessKeyId = "AKIDEXAMPLE";
  ctx.secretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  ctx.region = "us-east-1";
  ctx.service = "service";
  ctx.timestamp = timestampOf("2015-08-30T12:36:00Z");
  return ctx;
}

}  // namespace

TEST_CASE("every AWS SigV4 test vector passes at every stage in both modes", "[sign]") {
  const std::filesystem::path root = LENS_SIGV4_VECTORS;
  INFO("vector directory " << root.string());
  REQUIRE(std::filesystem::is_directory(root));
  std::vector<std::filesystem::path> cases;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (entry.is_directory()) cases.push_back(entry.path());
  }
  std::sort(cases.begin(), cases.end());
  REQUIRE_FALSE(cases.empty());

  std::size_t stagesPassed = 0;
  for (const std::filesystem::path& dir : cases) {
    const std::string name = dir.filename().string();
    const SigningContext ctx = loadContext(dir / "context.json");
    const RawRequest request = parseRequest(readFile(dir / "request.txt"));
    for (const SignatureLocation location :
         {SignatureLocation::kHeader, SignatureLocation::kQuery}) {
      const std::string prefix = location == SignatureLocation::kHeader ? "header-" : "query-";
      INFO("case " << name << ", " << prefix << "*");
      const SignedRequest result = signOk(request, ctx, location);

      const std::string canonical = readFile(dir / (prefix + "canonical-request.txt"));
      const std::string toSign = readFile(dir / (prefix + "string-to-sign.txt"));
      const std::string sig = readFile(dir / (prefix + "signature.txt"));
      const std::string signedText = readFile(dir / (prefix + "signed-request.txt"));
      CHECK(result.canonicalRequest.text == canonical);
      CHECK(result.stringToSign == toSign);
      CHECK(result.signature == sig);
      CHECK(serializeRawRequest(result.request) == signedText);

      // The stage functions one by one give the same results.
      auto stage1 = lens::sign::canonicalRequest(request, ctx, location);
      REQUIRE(stage1.ok());
      CHECK(stage1->text == canonical);
      const std::string stage2 = lens::sign::stringToSign(stage1->text, ctx);
      CHECK(stage2 == toSign);
      CHECK(lens::sign::signature(lens::sign::deriveSigningKey(ctx), stage2) == sig);

      // Signing the signed request again replaces what the signer owns.
      const SignedRequest again = signOk(result.request, ctx, location);
      CHECK(serializeRawRequest(again.request) == signedText);

      if (result.canonicalRequest.text == canonical && result.stringToSign == toSign &&
          result.signature == sig && serializeRawRequest(result.request) == signedText) {
        ++stagesPassed;
      }
    }
  }
  CHECK(stagesPassed == 2 * cases.size());
}

TEST_CASE("the signing key follows the AWS documentation's derivation example", "[sign]") {
  // "Derive a signing key for Signature Version 4", AWS General Reference.
  SigningContext ctx = vanillaContext();
  ctx.service = "iam";
  const lens::sign::SigningKey key = lens::sign::deriveSigningKey(ctx);
  std::string hex;
  for (std::uint8_t b : key.bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 0xf]);
  }
  CHECK(hex == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

TEST_CASE("S3 worked examples from the Amazon S3 documentation", "[sign]") {
  // "Signature Calculations for the Authorization Header: Transferring Payload
  // in a Single Chunk" and "Authenticating Requests: Using Query Parameters".
  SECTION("GET Object") {
    const RawRequest request = parseRequest(
        "GET /test.txt HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\nRange: bytes=0-9\n");
    const SignedRequest result = signOk(request, exampleS3Context(), SignatureLocation::kHeader);
    CHECK(result.canonicalRequest.text ==
          "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
          "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
          "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(result.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  }
  SECTION("PUT Object: a raw '$' in the key is encoded once") {
    const RawRequest request = parseRequest(
        "PUT /test$file.text HTTP/1.1\n"
        "Host: examplebucket.s3.amazonaws.com\n"
        "Date: Fri, 24 May 2013 00:00:00 GMT\n"
        "x-amz-storage-class: REDUCED_REDUNDANCY\n"
        "\n"
        "Welcome to Amazon S3.");
    const SignedRequest result = signOk(request, exampleS3Context(), SignatureLocation::kHeader);
    CHECK(result.canonicalRequest.text.substr(0, 22) == "PUT\n/test%24file.text\n");
    CHECK(result.canonicalRequest.payloadHash ==
          "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    CHECK(result.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  }
  SECTION("GET Bucket Lifecycle: a parameter without '=' has an empty value") {
    const RawRequest request =
        parseRequest("GET /?lifecycle HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n");
    const SignedRequest result = signOk(request, exampleS3Context(), SignatureLocation::kHeader);
    CHECK(result.canonicalRequest.text.substr(0, 17) == "GET\n/\nlifecycle=\n");
    CHECK(result.signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
  }
  SECTION("GET Bucket (list objects)") {
    const RawRequest request =
        parseRequest("GET /?max-keys=2&prefix=J HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n");
    const SignedRequest result = signOk(request, exampleS3Context(), SignatureLocation::kHeader);
    CHECK(result.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
  }
  SECTION("presigned GET Object with UNSIGNED-PAYLOAD") {
    SigningContext ctx = exampleS3Context();
    ctx.payloadMode = PayloadMode::kUnsigned;
    ctx.expirationSeconds = 86400;
    const RawRequest request =
        parseRequest("GET /test.txt HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n");
    const SignedRequest result = signOk(request, ctx, SignatureLocation::kQuery);
    CHECK(result.canonicalRequest.text ==
          "GET\n/test.txt\n"
          "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-"
          "east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-"
          "SignedHeaders=host\nhost:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD");
    CHECK(result.signature == "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    CHECK(result.request.findHeader("x-amz-content-sha256") == nullptr);
  }
  SECTION("header mode with UNSIGNED-PAYLOAD puts it in x-amz-content-sha256") {
    SigningContext ctx = exampleS3Context();
    ctx.payloadMode = PayloadMode::kUnsigned;
    const RawRequest request = parseRequest(
        "PUT /k HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\nContent-Length: 3\n\nabc");
    const SignedRequest result = signOk(request, ctx, SignatureLocation::kHeader);
    REQUIRE(result.request.findHeader("x-amz-content-sha256") != nullptr);
    CHECK(result.request.findHeader("x-amz-content-sha256")->rawValue == "UNSIGNED-PAYLOAD");
    CHECK(result.canonicalRequest.payloadHash == "UNSIGNED-PAYLOAD");
    CHECK(result.request.body == "abc");
  }
}

TEST_CASE("canonicalUri: double encoding and normalisation except for S3", "[sign]") {
  SigningContext other = vanillaContext();
  SigningContext s3 = vanillaContext();
  s3.service = "s3";
  const std::string raw = "/a b//./%2Fc/../d%e1/$x/";
  CHECK(lens::sign::canonicalUri(raw, other) == "/a%20b/d%25e1/%24x/");
  other.normalizePath = false;
  CHECK(lens::sign::canonicalUri(raw, other) == "/a%20b//./%252Fc/../d%25e1/%24x/");
  CHECK(lens::sign::canonicalUri(raw, s3) == "/a%20b//./%2Fc/../d%e1/%24x/");
  s3.normalizePath = false;
  CHECK(lens::sign::canonicalUri(raw, s3) == "/a%20b//./%2Fc/../d%e1/%24x/");
  CHECK(lens::sign::canonicalUri("/%zz%4", s3) == "/%25zz%254");
  CHECK(lens::sign::usesS3PathRules("s3"));
  CHECK(lens::sign::usesS3PathRules("s3-outposts"));
  CHECK_FALSE(lens::sign::usesS3PathRules("S3"));
  CHECK_FALSE(lens::sign::usesS3PathRules("execute-api"));
}

TEST_CASE("normalizeUriPath removes dot segments and empty segments", "[sign]") {
  using lens::sign::normalizeUriPath;
  CHECK(normalizeUriPath("") == "/");
  CHECK(normalizeUriPath("/") == "/");
  CHECK(normalizeUriPath("//") == "/");
  CHECK(normalizeUriPath("/./") == "/");
  CHECK(normalizeUriPath("/..") == "/");
  CHECK(normalizeUriPath("/../../a") == "/a");
  CHECK(normalizeUriPath("/a/b/..") == "/a");
  CHECK(normalizeUriPath("/a/b/../") == "/a/");
  CHECK(normalizeUriPath("//example//") == "/example/");
  CHECK(normalizeUriPath("/a/.../b") == "/a/.../b");
}

TEST_CASE("canonicalQueryString decodes, re-encodes and sorts", "[sign]") {
  using lens::sign::canonicalQueryString;
  CHECK(canonicalQueryString("") == "");
  CHECK(canonicalQueryString("b=2&a=1&a=0") == "a=0&a=1&b=2");
  CHECK(canonicalQueryString("a&&b=") == "a=&b=");
  CHECK(canonicalQueryString("k=a+b c%2fd%zz") == "k=a%2Bb%20c%2Fd%25zz");
  CHECK(canonicalQueryString("%e1%88%b4=x&P=y") == "%E1%88%B4=x&P=y");
  CHECK(canonicalQueryString("a=x=y") == "a=x%3Dy");
  CHECK(canonicalQueryString("=v") == "=v");
}

TEST_CASE("canonicalHeaderValue trims and collapses whitespace runs", "[sign]") {
  using lens::sign::canonicalHeaderValue;
  CHECK(canonicalHeaderValue("  a   b\t\tc  ") == "a b c");
  CHECK(canonicalHeaderValue("value1\n  value2\n     value3") == "value1 value2 value3");
  CHECK(canonicalHeaderValue("\"a   b   c\"") == "\"a b c\"");
  CHECK(canonicalHeaderValue(" \t ") == "");
}

TEST_CASE("uriEncode and uriDecode", "[sign]") {
  using lens::sign::uriDecode;
  using lens::sign::uriEncode;
  CHECK(uriEncode("AZaz09-._~", false) == "AZaz09-._~");
  CHECK(uriEncode("a/b c+", false) == "a%2Fb%20c%2B");
  CHECK(uriEncode("a/b", true) == "a/b");
  CHECK(uriEncode("\xe1\x88\xb4", false) == "%E1%88%B4");
  CHECK(uriEncode(std::string_view("\0", 1), false) == "%00");
  CHECK(uriDecode("%41%4a%4A+%2") == "AJJ+%2");
  CHECK(uriDecode("%") == "%");
  CHECK(uriDecode("%g0") == "%g0");
}

TEST_CASE("parseTimestamp accepts ISO 8601 UTC and the compact AWS form", "[sign]") {
  using lens::sign::formatAmzDate;
  using lens::sign::formatDateStamp;
  const auto t = timestampOf("2015-08-30T12:36:00Z");
  CHECK(formatAmzDate(t) == "20150830T123600Z");
  CHECK(formatDateStamp(t) == "20150830");
  CHECK(timestampOf("20150830T123600Z") == t);
  CHECK(timestampOf("2015-08-30T12:36:00.999Z") == t);
  CHECK(formatAmzDate(timestampOf("2000-02-29T23:59:59Z")) == "20000229T235959Z");
  CHECK(formatAmzDate(timestampOf("1970-01-01T00:00:00Z")) == "19700101T000000Z");

  const std::string bad =
      GENERATE(as<std::string>{}, "", "2015-08-30", "2015-08-30T12:36:00",
               "2015-08-30T12:36:00+01:00", "2015-08-30 12:36:00Z", "2015-02-30T12:36:00Z",
               "2015-08-30T24:00:00Z", "2015-08-30T12:60:00Z", "2015-08-30T12:36:60Z",
               "2015-8-30T12:36:00Z", "2015-08-30T12:36:00.Z", "20150830T123600",
               "20150830T123600Zjunk", "2015083OT123600Z", "2015-08-30T12:36:00z");
  CAPTURE(bad);
  auto parsed = lens::sign::parseTimestamp(bad);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == ErrorCode::kInvalidArgument);
}

TEST_CASE("session tokens: signed header, query parameter, or added after signing", "[sign]") {
  SigningContext ctx = vanillaContext();
  ctx.sessionToken = "tok/en+=";
  const RawRequest request = parseRequest("GET / HTTP/1.1\nHost:example.amazonaws.com\n");

  const SignedRequest header = signOk(request, ctx, SignatureLocation::kHeader);
  CHECK(header.canonicalRequest.signedHeaders == "host;x-amz-date;x-amz-security-token");
  REQUIRE(header.request.findHeader("x-amz-security-token") != nullptr);
  CHECK(header.request.findHeader("x-amz-security-token")->rawValue == "tok/en+=");

  const SignedRequest query = signOk(request, ctx, SignatureLocation::kQuery);
  CHECK(query.canonicalRequest.text.find("X-Amz-Security-Token=tok%2Fen%2B%3D") !=
        std::string::npos);
  CHECK(query.request.target.find("&X-Amz-Security-Token=tok%2Fen%2B%3D&X-Amz-Signature=") !=
        std::string::npos);

  ctx.omitSessionTokenFromSignature = true;
  const SignedRequest omitted = signOk(request, ctx, SignatureLocation::kHeader);
  CHECK(omitted.canonicalRequest.signedHeaders == "host;x-amz-date");
  CHECK(omitted.request.countHeader("x-amz-security-token") == 1);
}

TEST_CASE("the signer replaces the headers and parameters it owns", "[sign]") {
  const SigningContext ctx = vanillaContext();
  const RawRequest plain = parseRequest("GET /?a=1 HTTP/1.1\nHost:example.amazonaws.com\n");
  const RawRequest stale = parseRequest(
      "GET /?a=1&X-Amz-Signature=00&x-amz-date=1 HTTP/1.1\n"
      "Host:example.amazonaws.com\n"
      "Authorization: AWS4-HMAC-SHA256 Credential=OLD\n"
      "X-Amz-Date: 19990101T000000Z\n"
      "X-Amz-Security-Token: old\n"
      "X-AMZ-CONTENT-SHA256: UNSIGNED-PAYLOAD\n");
  for (const SignatureLocation location : {SignatureLocation::kHeader, SignatureLocation::kQuery}) {
    const SignedRequest a = signOk(plain, ctx, location);
    const SignedRequest b = signOk(stale, ctx, location);
    CHECK(serializeRawRequest(a.request) == serializeRawRequest(b.request));
    CHECK(a.signature == b.signature);
  }
}

TEST_CASE("hop-by-hop and volatile headers are not signed", "[sign]") {
  const RawRequest request = parseRequest(
      "GET / HTTP/1.1\nHost:h\nUser-Agent: x\nConnection: close\nExpect: 100-continue\n"
      "X-Amzn-Trace-Id: t\nX-Amz-Target: svc.Op\nContent-Type: a/b\n");
  const SignedRequest result = signOk(request, vanillaContext(), SignatureLocation::kHeader);
  CHECK(result.canonicalRequest.signedHeaders == "content-type;host;x-amz-date;x-amz-target");
  CHECK(result.request.countHeader("user-agent") == 1);
}

TEST_CASE("a CRLF request signs like its LF twin", "[sign]") {
  const RawRequest lf =
      parseRequest("POST /x HTTP/1.1\nHost: h\nA: 1\n  2\nContent-Length: 2\n\nab");
  const RawRequest crlf =
      parseRequest("POST /x HTTP/1.1\r\nHost: h\r\nA: 1\r\n  2\r\nContent-Length: 2\r\n\r\nab");
  const SignedRequest a = signOk(lf, vanillaContext(), SignatureLocation::kHeader);
  const SignedRequest b = signOk(crlf, vanillaContext(), SignatureLocation::kHeader);
  CHECK(a.signature == b.signature);
  CHECK(serializeRawRequest(a.request, lens::http::LineEnding::kCrLf) ==
        serializeRawRequest(b.request, lens::http::LineEnding::kCrLf));
}

TEST_CASE("sign refuses bad requests and contexts without revealing secrets", "[sign]") {
  const std::string secret = "SECRETwJalrXUtnFEMI/K7MDENG";
  const std::string token = "TOKENsecret\nvalue";
  struct Case {
    std::string request;
    std::string message;
  };
  const RawRequest good = parseRequest("GET / HTTP/1.1\nHost:h\n");

  SECTION("request errors") {
    const auto [text, message] = GENERATE(values<Case>({
        {"GET / HTTP/1.1\nA:b\n", "request has no Host header"},
        {"GET / HTTP/1.1\nHost:a\nhost:b\n", "request has 2 Host headers (exactly one allowed)"},
        {"GET / HTTP/1.1\nHost: \n", "request has an empty Host header"},
        {"GET http://h/ HTTP/1.1\nHost:h\n",
         "request target is not in origin form (it must start with '/')"},
        {"OPTIONS * HTTP/1.1\nHost:h\n",
         "request target is not in origin form (it must start with '/')"},
    }));
    SigningContext ctx = vanillaContext();
    ctx.secretAccessKey = secret;
    for (const SignatureLocation location :
         {SignatureLocation::kHeader, SignatureLocation::kQuery}) {
      auto result = lens::sign::sign(parseRequest(text), ctx, location);
      REQUIRE_FALSE(result.ok());
      CHECK(result.error().code == ErrorCode::kInvalidInput);
      CHECK(result.error().message == message);
      auto canonical = lens::sign::canonicalRequest(parseRequest(text), ctx, location);
      REQUIRE_FALSE(canonical.ok());
      CHECK(canonical.error().message == message);
    }
  }

  SECTION("context errors") {
    SigningContext ctx = vanillaContext();
    ctx.secretAccessKey = secret;
    SignatureLocation location = SignatureLocation::kHeader;
    std::string message;
    SECTION("empty key id") {
      ctx.accessKeyId.clear();
      message = "access key id is empty";
    }
    SECTION("key id with a slash") {
      ctx.accessKeyId = "AKID/X";
      message = "access key id contains '/', a space or a control character";
    }
    SECTION("empty secret") {
      ctx.secretAccessKey.clear();
      message = "secret access key is empty";
    }
    SECTION("region") {
      ctx.region = "us east";
      message = "region contains '/', a space or a control character";
    }
    SECTION("service") {
      ctx.service.clear();
      message = "service is empty";
    }
    SECTION("token with a line break") {
      ctx.sessionToken = token;
      message = "session token contains a control character";
    }
    SECTION("empty token") {
      ctx.sessionToken = "";
      message = "session token is empty (leave it out when there is none)";
    }
    SECTION("expiry zero") {
      location = SignatureLocation::kQuery;
      ctx.expirationSeconds = 0;
      message = "presigned expiry of 0 seconds is outside 1 to 604800";
    }
    SECTION("expiry too long") {
      location = SignatureLocation::kQuery;
      ctx.expirationSeconds = lens::sign::kMaxExpirationSeconds + 1;
      message = "presigned expiry of 604801 seconds is outside 1 to 604800";
    }
    SECTION("year out of range") {
      ctx.timestamp = std::chrono::sys_days{std::chrono::year{10000} / 1 / 1};
      message = "timestamp is outside the years 0000 to 9999";
    }
    auto result = lens::sign::sign(good, ctx, location);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::kInvalidArgument);
    CHECK(result.error().message == message);
    CHECK(result.error().message.find(secret) == std::string::npos);
    CHECK(result.error().message.find("TOKEN") == std::string::npos);
  }

  SECTION("the expiry does not matter in header mode") {
    SigningContext ctx = vanillaContext();
    ctx.expirationSeconds = 0;
    CHECK(lens::sign::sign(good, ctx, SignatureLocation::kHeader).ok());
  }
}

TEST_CASE("a request without a query gets one in query mode only", "[sign]") {
  const RawRequest request = parseRequest("GET /p HTTP/1.1\nHost:h\n");
  const SigningContext ctx = vanillaContext();
  CHECK(signOk(request, ctx, SignatureLocation::kHeader).request.target == "/p");
  CHECK(signOk(request, ctx, SignatureLocation::kQuery)
            .request.target.starts_with("/p?X-Amz-Algorithm="));
  const RawRequest emptyQuery = parseRequest("GET /p? HTTP/1.1\nHost:h\n");
  CHECK(signOk(emptyQuery, ctx, SignatureLocation::kHeader).request.target == "/p?");
  CHECK(signOk(emptyQuery, ctx, SignatureLocation::kQuery)
            .request.target.starts_with("/p?X-Amz-Algorithm="));
}

TEST_CASE("payload modes: given hash, streaming literal", "[sign]") {
  SigningContext ctx = exampleS3Context();
  const RawRequest request = parseRequest(
      "PUT /k HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\nContent-Length: 3\n\nabc");

  ctx.payloadMode = PayloadMode::kGiven;
  ctx.payloadHash = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
  const SignedRequest given = signOk(request, ctx, SignatureLocation::kHeader);
  CHECK(given.canonicalRequest.payloadHash == "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
  CHECK(given.request.findHeader("x-amz-content-sha256")->rawValue ==
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER");

  ctx.payloadHash = "";
  auto empty = lens::sign::sign(request, ctx, SignatureLocation::kHeader);
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().message == "the given payload hash is empty");
  ctx.payloadHash = "abc def";
  auto spaced = lens::sign::sign(request, ctx, SignatureLocation::kHeader);
  REQUIRE_FALSE(spaced.ok());
  CHECK(spaced.error().message ==
        "the given payload hash contains a character other than letters, digits and '-'");

  ctx.payloadMode = PayloadMode::kStreaming;
  ctx.signBody = false;  // streaming always carries x-amz-content-sha256
  const SignedRequest streaming = signOk(request, ctx, SignatureLocation::kHeader);
  CHECK(streaming.request.findHeader("x-amz-content-sha256")->rawValue ==
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
  auto presigned = lens::sign::sign(request, ctx, SignatureLocation::kQuery);
  REQUIRE_FALSE(presigned.ok());
  CHECK(presigned.error().message ==
        "a streaming (aws-chunked) payload is signed in header mode only, not presigned");
}

TEST_CASE("an explicit signed-header set signs exactly those headers", "[sign]") {
  SigningContext ctx = vanillaContext();
  ctx.sessionToken = "token";
  const RawRequest request = parseRequest(
      "POST / HTTP/1.1\nHost:h\nX-Amz-Target: svc.Op\nContent-Type: a/b\nX-Extra: not signed\n"
      "User-Agent: signed by the client\n");
  ctx.signedHeaders = std::vector<std::string>{"Content-Type",        "host",       "user-agent",
                                               "x-amz-target",        "x-amz-date", "authorization",
                                               "x-amz-security-token"};
  const SignedRequest header = signOk(request, ctx, SignatureLocation::kHeader);
  CHECK(header.canonicalRequest.signedHeaders ==
        "content-type;host;user-agent;x-amz-date;x-amz-security-token;x-amz-target");
  CHECK(header.request.countHeader("x-extra") == 1);

  const SignedRequest query = signOk(request, ctx, SignatureLocation::kQuery);
  CHECK(query.canonicalRequest.signedHeaders == "content-type;host;user-agent;x-amz-target");

  ctx.signedHeaders = std::vector<std::string>{"host", "x-missing"};
  auto missing = lens::sign::sign(request, ctx, SignatureLocation::kHeader);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::kInvalidInput);
  CHECK(missing.error().message == "signed header \"x-missing\" is not in the request");
}

TEST_CASE("signing again keeps the empty parts of a query", "[sign]") {
  const SigningContext ctx = vanillaContext();
  for (const std::string target : {"/?&a=1", "/?a=1&&b=2", "/?a=1&", "/?&X-Amz-Date=1&a=1"}) {
    CAPTURE(target);
    const RawRequest request = parseRequest("GET " + target + " HTTP/1.1\nHost:h\n");
    for (const SignatureLocation location :
         {SignatureLocation::kHeader, SignatureLocation::kQuery}) {
      const SignedRequest once = signOk(request, ctx, location);
      const SignedRequest twice = signOk(once.request, ctx, location);
      CHECK(twice.request.target == once.request.target);
    }
  }
  const SignedRequest header =
      signOk(parseRequest("GET /?&a=1 HTTP/1.1\nHost:h\n"), ctx, SignatureLocation::kHeader);
  CHECK(header.request.target == "/?&a=1");
}

TEST_CASE("the body's hash is not signed over a transfer coding", "[sign]") {
  const RawRequest chunked =
      parseRequest("PUT /k HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n3\r\nabc\r\n0\r\n\r\n");
  SigningContext ctx = vanillaContext();
  auto refused = lens::sign::sign(chunked, ctx, SignatureLocation::kHeader);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::kInvalidInput);
  CHECK(refused.error().message ==
        "the body's SHA-256 is not signed for a request with Transfer-Encoding (send it with a "
        "Content-Length, or sign UNSIGNED-PAYLOAD)");
  ctx.payloadMode = PayloadMode::kUnsigned;
  CHECK(lens::sign::sign(chunked, ctx, SignatureLocation::kHeader).ok());
}
