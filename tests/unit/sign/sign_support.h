#pragma once

// Helpers shared by the sign tests.

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "libcommon/decision/engine.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/policy/policy_parser.h"
#include "libcommon/sign/sigv4.h"

namespace lens::test {

inline std::chrono::sys_seconds timestampOf(std::string_view text) {
  auto parsed = lens::sign::parseTimestamp(text);
  INFO("timestamp " << std::string(text));
  REQUIRE(parsed.ok());
  return *parsed;
}

// The engine of a policy the test writes (it must parse).
inline decision::Engine engineOf(std::string_view policy) {
  auto parsed = policy::parsePolicy(policy);
  REQUIRE(parsed.ok());
  return decision::Engine(parsed.policy);
}

// The request as the proxies judge it inside an intercepted CONNECT to
// `host`:443, which names the credentials that apply.
inline decision::Request destinationOf(const http::RawRequest& head, std::string host) {
  decision::Request r;
  r.door = decision::Door::kConnect;
  r.host = std::move(host);
  r.port = 443;
  r.method = head.method;
  r.path = head.target;
  return r;
}

// "Now" for the stage's re-signing: a few minutes after the sandbox signed.
inline std::chrono::sys_seconds stageNow() { return timestampOf("2024-01-02T03:09:00Z"); }

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
