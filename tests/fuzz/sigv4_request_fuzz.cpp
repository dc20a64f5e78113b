// libFuzzer target: the raw HTTP request parser and the SigV4 canonicaliser,
// the code lens-sign and the proxies run on requests from the sandbox. A
// request that parses is signed in header and presigned mode, for a service
// with the usual path rules and for S3, then read back as a client signature
// and re-signed.
//
// Besides crashes and sanitizer reports, the target aborts when an invariant
// breaks:
//   - a parsed request serialises to text that parses to the same request;
//   - signing fails only with kInvalidInput (the request) or, for a
//     streaming payload presigned, kInvalidArgument, never kInternal;
//   - the canonical request of canonicalRequest() is the one sign() used;
//   - signing the signed request again changes nothing (the signer replaces
//     what it owns);
//   - the signed request is read back by parseClientSignature() with the
//     key id, scope and signed-header set it was signed with;
//   - re-signing it with other credentials equals signing the original
//     request with those credentials and that signed-header set.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "libcommon/http/raw_request.h"
#include "libcommon/sign/aws_chunked.h"
#include "libcommon/sign/resign.h"
#include "libcommon/sign/sigv4.h"

namespace {

using lens::ErrorCode;
using lens::http::RawRequest;
using lens::sign::PayloadMode;
using lens::sign::SignatureLocation;
using lens::sign::SigningContext;

constexpr std::size_t kChunkSize = 16;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "sigv4_request_fuzz: invariant broken: %s\n", what.c_str());
  std::abort();
}

SigningContext context(std::string service, PayloadMode mode) {
  SigningContext ctx;
  ctx.accessKeyId = "LENSFAKE00AABB0000CC";
  ctx.secretAccessKey = "fuzz-secret";
  ctx.sessionToken = "fuzz-token";
  ctx.region = "us-east-1";
  ctx.service = std::move(service);
  ctx.timestamp = std::chrono::sys_days{std::chrono::year{2015} / 8 / 30} + std::chrono::hours{12};
  ctx.payloadMode = mode;
  ctx.signBody = mode != PayloadMode::kSha256;
  return ctx;
}

std::string text(const RawRequest& r) { return lens::http::serializeRawRequest(r); }

void checkRoundTrip(const RawRequest& request) {
  const std::string once = text(request);
  auto again = lens::http::parseRawRequest(once);
  if (!again) fail("a serialised request does not parse: " + again.error().message);
  if (text(*again) != once) fail("a serialised request parses to another request");
}

void checkResign(const RawRequest& original, const lens::sign::SignedRequest& fromClient,
                 const SigningContext& ctx, SignatureLocation location) {
  auto client = lens::sign::parseClientSignature(fromClient.request);
  if (!client) fail("a request signed by sign() is not read back: " + client.error().message);
  if (client->location != location || client->accessKeyId != ctx.accessKeyId ||
      client->region != ctx.region || client->service != ctx.service) {
    fail("the client signature read back differs from the one signed");
  }
  std::string listed;
  for (const std::string& name : client->signedHeaders)
    listed += (listed.empty() ? "" : ";") + name;
  if (listed != fromClient.canonicalRequest.signedHeaders) fail("signed headers read back differ");

  const lens::sign::AwsCredentials real{"ASIAREAL", "real-secret", "real-token"};
  auto resigned = lens::sign::resign(fromClient.request, *client, real, ctx.timestamp);
  if (!resigned) fail("re-signing a request sign() produced failed: " + resigned.error().message);
  SigningContext direct = ctx;
  direct.accessKeyId = real.accessKeyId;
  direct.secretAccessKey = real.secretAccessKey;
  direct.sessionToken = real.sessionToken;
  direct.signedHeaders = client->signedHeaders;
  if (location == SignatureLocation::kQuery) {
    direct.payloadMode =
        lens::sign::usesS3PathRules(ctx.service) ? PayloadMode::kUnsigned : PayloadMode::kSha256;
  } else if (ctx.payloadMode == PayloadMode::kSha256 && !ctx.signBody) {
    direct.payloadMode = PayloadMode::kSha256;
  } else if (ctx.payloadMode != PayloadMode::kStreaming) {
    direct.payloadMode = PayloadMode::kGiven;
    direct.payloadHash = fromClient.canonicalRequest.payloadHash;
  }
  auto expected = lens::sign::sign(original, direct, location);
  if (!expected) fail("signing with the real key failed: " + expected.error().message);
  if (expected->signature != resigned->signedRequest.signature ||
      text(expected->request) != text(resigned->signedRequest.request)) {
    fail("re-signing differs from signing with the real key");
  }
}

void checkSigning(const RawRequest& request, const SigningContext& ctx,
                  SignatureLocation location) {
  auto signedRequest = lens::sign::sign(request, ctx, location);
  if (!signedRequest) {
    const bool expected =
        signedRequest.error().code == ErrorCode::kInvalidInput ||
        (signedRequest.error().code == ErrorCode::kInvalidArgument &&
         ctx.payloadMode == PayloadMode::kStreaming && location == SignatureLocation::kQuery);
    if (!expected) fail("sign() failed with an unexpected error: " + signedRequest.error().message);
    return;
  }
  auto canonical = lens::sign::canonicalRequest(request, ctx, location);
  if (!canonical || canonical->text != signedRequest->canonicalRequest.text) {
    fail("canonicalRequest() differs from the canonical request sign() used");
  }
  auto again = lens::sign::sign(signedRequest->request, ctx, location);
  if (!again || text(again->request) != text(signedRequest->request))
    fail("signing a signed request changed it");
  if (ctx.payloadMode == PayloadMode::kStreaming) {
    // The body becomes aws-chunked, as long as the Content-Length announced.
    RawRequest encoded = signedRequest->request;
    lens::sign::ChunkSigner chunks(ctx, signedRequest->signature);
    encoded.body = lens::sign::encodeAwsChunked(encoded.body, kChunkSize, chunks);
    checkRoundTrip(encoded);
  } else {
    checkRoundTrip(signedRequest->request);
  }
  checkResign(request, *signedRequest, ctx, location);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  lens::http::RawRequestLimits limits;
  limits.maxBodyBytes = 64 * 1024;
  auto request = lens::http::parseRawRequest(input, limits);
  auto head = lens::http::parseRawRequestHead(input, limits);
  if (request.ok() && !head.ok()) fail("a request parses whole but its head does not");
  if (!head.ok() && (request.ok() || request.error().message != head.error().message)) {
    fail("the head fails to parse but the whole request fails differently");
  }
  if (!request) {
    if (request.error().code != ErrorCode::kInvalidInput &&
        request.error().code != ErrorCode::kLimit) {
      fail("the parser failed with an unexpected error code");
    }
    return 0;
  }
  checkRoundTrip(*request);
  for (const SignatureLocation location : {SignatureLocation::kHeader, SignatureLocation::kQuery}) {
    checkSigning(*request, context("service", PayloadMode::kSha256), location);
    checkSigning(*request,
                 context("s3", location == SignatureLocation::kQuery ? PayloadMode::kUnsigned
                                                                     : PayloadMode::kSha256),
                 location);
  }
  checkSigning(*request, context("s3", PayloadMode::kUnsigned), SignatureLocation::kHeader);
  RawRequest streaming = *request;
  if (lens::sign::prepareStreamingRequest(streaming, kChunkSize).ok()) {
    checkSigning(streaming, context("s3", PayloadMode::kStreaming), SignatureLocation::kHeader);
  }
  return 0;
}
