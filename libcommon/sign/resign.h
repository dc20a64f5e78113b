#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "libcommon/decision/engine.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/policy/policy.h"
#include "libcommon/sign/aws_chunked.h"
#include "libcommon/sign/sigv4.h"
#include "libcommon/util/result.h"

// Re-signing (DESIGN.md section 4, credentials): the sandbox signs AWS
// requests with a placeholder access key id (LENSFAKE...) and any secret;
// the boundary signs them again with the real credentials of the policy's
// awsSigv4 injection, keeping what the client chose: header or presigned
// form, region and service of its credential scope, its signed-header set,
// its payload hash.
namespace lens::sign {

// The SigV4 signature a client put on a request.
struct ClientSignature {
  SignatureLocation location = SignatureLocation::kHeader;
  std::string accessKeyId;
  std::string date;  // yyyymmdd of the credential scope
  std::string region;
  std::string service;
  std::vector<std::string> signedHeaders;    // lower-case, as listed
  std::optional<std::string> contentSha256;  // the x-amz-content-sha256 header
  std::uint32_t expirationSeconds = 0;       // presigned: X-Amz-Expires
};

// Reads the client's signature: the Authorization header
//   AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request,
//   SignedHeaders=host;x-amz-date, Signature=<64 hex digits>
// or the presigned query parameters X-Amz-Algorithm, X-Amz-Credential,
// X-Amz-Date, X-Amz-SignedHeaders, X-Amz-Expires and X-Amz-Signature.
// Errors (ErrorCode::kInvalidInput) name what is missing or malformed and
// never quote a value.
[[nodiscard]] Result<ClientSignature> parseClientSignature(const http::RawRequest& request);

// What re-signing does with the body.
enum class BodyHandling {
  kAsIs,     // not covered by the new signature: a payload hash the client
             // computed (kept; the service checks the body against it),
             // UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER
  kHashed,   // its SHA-256 is signed: the request must carry the whole body
  kChunked,  // aws-chunked with signed chunks: each chunk is re-signed
};
// Decided from the client's signature alone, before the body is read.
// Errors: an x-amz-content-sha256 that cannot be re-signed.
[[nodiscard]] Result<BodyHandling> bodyHandling(const ClientSignature& client);

// The real credentials of an awsSigv4 injection. Never logged.
struct AwsCredentials {
  std::string accessKeyId;
  std::string secretAccessKey;
  std::string sessionToken;  // empty: none
};

// The awsSigv4 injection that re-signs a request made with `accessKeyId` to
// the destination of `request` (engine.injectionsFor): the injection of the
// credential whose placeholder is that key id. Errors are
// ErrorCode::kDenied: a key id without the LENSFAKE prefix (never quoted:
// it may be a real one), a placeholder no credential has, a credential
// without an awsSigv4 injection for the host.
struct AwsInjection {
  std::string credentialId;
  AwsCredentials credentials;
};
[[nodiscard]] Result<AwsInjection> findAwsInjection(const decision::Engine& engine,
                                                    std::string_view accessKeyId,
                                                    const decision::Request& request);
// The same among `refs`, the injections engine.injectionsFor(request) gave.
[[nodiscard]] Result<AwsInjection> findAwsInjection(const decision::Engine& engine,
                                                    std::string_view accessKeyId,
                                                    const decision::Request& request,
                                                    std::span<const decision::CredentialRef> refs);

struct ResignedRequest {
  // The request signed with the real credentials: the signer's headers or
  // query parameters replaced (x-amz-date, the session token, ...), the
  // body as given.
  SignedRequest signedRequest;
  // kChunked: signs the body's chunks in turn, seeded with the new request
  // signature (AwsChunkedResigner), and the decoded length the request
  // announces.
  std::optional<ChunkSigner> chunkSigner;
  std::optional<std::uint64_t> decodedLength;
};

// Re-signs `request` (which `client` describes) with `real` at `time`. With
// BodyHandling::kHashed the request must carry its whole body; otherwise
// the body is not looked at (it may be empty, to be streamed later).
[[nodiscard]] Result<ResignedRequest> resign(const http::RawRequest& request,
                                             const ClientSignature& client,
                                             const AwsCredentials& real,
                                             std::chrono::sys_seconds time);

}  // namespace lens::sign
