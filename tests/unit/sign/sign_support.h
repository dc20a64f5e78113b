#pragma once

// Helpers shared by the sign tests.

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "libcommon/http/raw_request.h"
#include "libcommon/sign/sigv4.h"

namespace lens::test {

inline std::chrono::sys_seconds timestampOf(std::string_view text) {
  auto parsed = lens::sign::parseTimestamp(text);
  INFO("timestamp " << std::string(text));
  REQUIRE(parsed.ok());
  return *parsed;
}

inline http::RawRequest parseRequest(std::string_view text) {
  auto parsed = http::parseRawRequest(text);
  INFO("parse error: " << (parsed ? std::string() : parsed.error().message));
  REQUIRE(parsed.ok());
  return std::move(parsed).value();
}

inline sign::SignedRequest signOk(const http::RawRequest& request, const sign::SigningContext& ctx,
                                  sign::SignatureLocation location) {
  auto signedRequest = sign::sign(request, ctx, location);
  INFO("sign error: " << (signedRequest ? std::string() : signedRequest.error().message));
  REQUIRE(signedRequest.ok());
  return std::move(signedRequest).value();
}

// The key pair, time and scope of the worked examples in the Amazon S3
// documentation.
inline sign::SigningContext s3DocumentationContext() {
  sign::SigningContext ctx;
  ctx.accessKeyId = "AKIAIOSFODNN7EXAMPLE";
  ctx.secretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  ctx.region = "us-east-1";
  ctx.service = "s3";
  ctx.timestamp = timestampOf("20130524T000000Z");
  return ctx;
}

// What the sandbox signs with: a placeholder key id (LENSFAKE...), any
// secret, a fake session token.
inline sign::SigningContext sandboxContext(std::string service = "sqs") {
  sign::SigningContext ctx;
  ctx.accessKeyId = "LENSFAKE00AABB0000CC";
  ctx.secretAccessKey = "sandbox-has-no-real-secret";
  ctx.sessionToken = "fake-token";
  ctx.region = "eu-west-1";
  ctx.service = std::move(service);
  ctx.timestamp = timestampOf("2024-01-02T03:04:05Z");
  return ctx;
}

}  // namespace lens::test
