#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/decision/engine.h"
#include "libcommon/http/body_filter.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/sign/inject.h"
#include "libcommon/sign/resign.h"
#include "libcommon/sign/token_answer.h"

// The credentials stage of the per-request pipeline (DESIGN.md section 5a):
// what happens to one request between the decision and the origin, the same
// for lens-sign and for every door of the proxies. In order:
//   1. header, uriPlaceholder and Basic injections of the credentials whose
//      domain and rules cover the request (inject.h);
//   2. a request target the injections rewrote is judged again;
//   3. a request signed with a LENSFAKE access key id for a host with an
//      awsSigv4 injection is signed again with the real key (resign.h); a
//      body the new signature covers must be read whole first;
//   3a. a POST to the token endpoint of an oauthClientCredentials injection
//      is read whole and, when it is a client-credentials request of the
//      configured client, answered by the stage itself (answer());
//   4. the placeholder guard: a head that still carries any credential's
//      placeholder is refused, wherever it stands.
// Refusals carry a status, a reason token and the credential's id, never a
// value.
namespace lens::sign {

namespace reason {
inline constexpr std::string_view kPlaceholderLeak = "placeholder-leak";              // 403
inline constexpr std::string_view kRewrittenPathDenied = "rewritten-path-denied";     // 403
inline constexpr std::string_view kAwsUnsigned = "aws-missing-authorization";         // 401
inline constexpr std::string_view kAwsUnsupported = "aws-unsupported-authorization";  // 401
inline constexpr std::string_view kAwsUnknownKey = "aws-unknown-credentials";         // 401
inline constexpr std::string_view kAwsLengthRequired = "aws-length-required";         // 411
inline constexpr std::string_view kAwsBodyTooLarge = "aws-body-too-large";            // 413
inline constexpr std::string_view kAwsSigningFailed = "aws-signing-failed";           // 400
inline constexpr std::string_view kBadRewrite = "bad-rewrite";                        // 400
inline constexpr std::string_view kOauthLengthRequired = "oauth-length-required";     // 411
inline constexpr std::string_view kOauthBodyTooLarge = "oauth-body-too-large";        // 413
}  // namespace reason

struct BoundaryRefusal {
  int status = 403;
  std::string_view reason;
  std::string text;          // for the client and the audit detail; never a value
  std::string credentialId;  // the credential concerned, when one is
  // As an error of lens-sign: kInvalidInput (the request is malformed),
  // kDenied (it may not go), kLimit (too large).
  ErrorCode code = ErrorCode::kDenied;
};

// What was done, for the request's audit event.
struct BoundaryReport {
  std::vector<AppliedInjection> applied;
  std::vector<AppliedInjection> unarmed;
  std::string awsCredentialId;    // re-signed with this credential's key; "" when not
  std::string service;            // of the re-signed request's credential scope
  std::string tokenCredentialId;  // answered a token request with this credential's placeholder
};

struct BoundaryLimits {
  std::uint64_t maxSignedBody = 8 * 1024 * 1024;  // a body read whole to be hashed
};

class BoundaryRequest {
 public:
  // `destination`: the request as the engine judged it (door, host, port,
  // method, path, caller), which names the credentials that apply.
  BoundaryRequest(const decision::Engine& engine, decision::Request destination,
                  BoundaryLimits limits = {});

  // Steps 1 and 2, and step 3 up to the body: rewrites `head` in place.
  // False when refused (refusal()). Then, unless needsBody(), call finish().
  [[nodiscard]] bool begin(http::RawRequest& head);
  // The re-signature covers the body, or a token request's form decides:
  // finish() wants it whole, `bodyLength` bytes (at most the limit; begin()
  // refused larger ones).
  [[nodiscard]] bool needsBody() const { return needsBody_; }
  [[nodiscard]] std::uint64_t bodyLength() const { return bodyLength_; }
  // Step 3 (with the whole body when needsBody()) and step 4. False when
  // refused.
  [[nodiscard]] bool finish(http::RawRequest& head, std::string_view body,
                            std::chrono::sys_seconds now);

  // After finish(): the response that answers the request instead of the
  // origin (an OAuth token answer); nullopt when the request goes on.
  [[nodiscard]] const std::optional<TokenAnswer>& answer() const { return answer_; }

  // After finish(): an aws-chunked body is re-signed as it streams with
  // this signer (AwsChunkedResigner), seeded by the new request signature.
  [[nodiscard]] const std::optional<ChunkSigner>& chunkSigner() const { return chunkSigner_; }
  [[nodiscard]] std::optional<std::uint64_t> decodedLength() const { return decodedLength_; }
  // The same as a filter of the streaming body; null when the body goes
  // as it is.
  [[nodiscard]] std::unique_ptr<http::BodyFilter> bodyFilter() const;

  [[nodiscard]] const BoundaryRefusal& refusal() const { return refusal_; }
  [[nodiscard]] const BoundaryReport& report() const { return report_; }

 private:
  bool refuse(int status, std::string_view why, std::string text, std::string credentialId = {},
              ErrorCode code = ErrorCode::kDenied);
  bool beginAws(http::RawRequest& head, std::span<const decision::CredentialRef> refs);
  bool beginToken(const http::RawRequest& head, std::span<const decision::CredentialRef> refs);
  bool guard(const http::RawRequest& head);

  const decision::Engine& engine_;
  decision::Request destination_;
  BoundaryLimits limits_;
  std::optional<ClientSignature> client_;
  std::optional<AwsInjection> aws_;
  std::vector<decision::CredentialRef>
      tokenRefs_;  // a token request: the injections that may answer it
  std::optional<TokenAnswer> answer_;
  bool needsBody_ = false;
  std::uint64_t bodyLength_ = 0;
  std::optional<ChunkSigner> chunkSigner_;
  std::optional<std::uint64_t> decodedLength_;
  BoundaryRefusal refusal_;
  BoundaryReport report_;
};

// Whether a policy gives the stage anything to do for requests to any host
// (it has credentials with placeholders): without, the proxies skip it.
[[nodiscard]] bool hasCredentials(const policy::PolicyDocument& policy);
// The id of a credential whose placeholder `head` carries anywhere (method,
// target, header names and values, the decoded user:password of
// Authorization Basic); the guard of requests the stage does not rewrite
// (plain HTTP, whose secrets are never injected in the clear).
[[nodiscard]] std::optional<std::string> placeholderIn(const policy::PolicyDocument& policy,
                                                       const http::RawRequest& head);

}  // namespace lens::sign
