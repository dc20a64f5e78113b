#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/http/raw_request.h"
#include "libcommon/util/result.h"

// AWS Signature Version 4 (header and presigned-URL forms).
//
// The stages follow the AWS documentation and are exposed one by one so a
// tool can print each of them: canonicalRequest -> stringToSign ->
// deriveSigningKey + signature -> signed request. sign() runs them all.
namespace lens::sign {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
// The payload hash of an aws-chunked body whose chunks are signed one by one
// (aws_chunked.h).
inline constexpr std::string_view kStreamingPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
// The longest validity AWS accepts for a presigned request (7 days).
inline constexpr std::uint32_t kMaxExpirationSeconds = 604800;

// Where the signature goes.
enum class SignatureLocation {
  kHeader,  // Authorization header (plus X-Amz-Date, X-Amz-Security-Token, ...)
  kQuery,   // presigned URL: X-Amz-* query parameters
};

// The payload hash of the canonical request.
enum class PayloadMode {
  kSha256,     // lower-case hex SHA-256 of the body
  kUnsigned,   // the literal UNSIGNED-PAYLOAD (S3: body not covered)
  kStreaming,  // the literal STREAMING-AWS4-HMAC-SHA256-PAYLOAD: the body is
               // sent aws-chunked, each chunk signed (header mode only)
  kGiven,      // SigningContext::payloadHash as it is: a hash computed
               // elsewhere, or another literal the service knows
};

// Everything a signature depends on besides the request. The secret access
// key (and the session token) must never be logged or put in a message.
struct SigningContext {
  std::string accessKeyId;
  std::string secretAccessKey;
  std::optional<std::string> sessionToken;
  // With a session token: add it to the request only after signing, so the
  // signature does not cover it (the aws-c-auth "omit_session_token" case).
  bool omitSessionTokenFromSignature = false;
  std::string region;
  std::string service;
  std::chrono::sys_seconds timestamp{};
  // Remove dot segments and empty segments from the path before encoding.
  // Never done for S3 (see usesS3PathRules).
  bool normalizePath = true;
  // Header mode: add x-amz-content-sha256 carrying the payload hash (and sign it).
  bool signBody = false;
  // Query mode: X-Amz-Expires, 1 to kMaxExpirationSeconds.
  std::uint32_t expirationSeconds = 3600;
  PayloadMode payloadMode = PayloadMode::kSha256;
  std::string payloadHash;  // with PayloadMode::kGiven
  // The headers to sign (lower-case names). Unset: every header present
  // except the unsigned ones listed at sign(). Set (as when re-signing a
  // client's request): exactly these, each of which the request must carry,
  // plus host and the headers the signer adds; the names of headers the
  // signer owns are ignored here.
  std::optional<std::vector<std::string>> signedHeaders;
};

// The stages of one signature.
struct CanonicalRequest {
  std::string text;           // the canonical request itself
  std::string signedHeaders;  // "host;x-amz-date"
  std::string payloadHash;    // last line of text
};

// HMAC-SHA256 key for one day, region and service. Wiped on destruction.
struct SigningKey {
  std::array<std::uint8_t, 32> bytes{};

  SigningKey() = default;
  SigningKey(const SigningKey&) = default;
  SigningKey& operator=(const SigningKey&) = default;
  ~SigningKey();
};

struct SignedRequest {
  CanonicalRequest canonicalRequest;
  std::string stringToSign;
  std::string signature;     // lower-case hex
  http::RawRequest request;  // the request carrying the signature
};

// "2015-08-30T12:36:00Z" (optionally with fractional seconds, which are
// dropped) or the compact "20150830T123600Z". UTC only.
[[nodiscard]] Result<std::chrono::sys_seconds> parseTimestamp(std::string_view text);
std::string formatAmzDate(std::chrono::sys_seconds time);    // "20150830T123600Z"
std::string formatDateStamp(std::chrono::sys_seconds time);  // "20150830"

// Services that follow S3's path rules: the path is neither normalised nor
// encoded a second time ("s3", "s3-outposts", "s3-object-lambda", "s3express").
bool usesS3PathRules(std::string_view service);

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters
// (A-Z a-z 0-9 - . _ ~) kept, every other byte as %XX in upper case; '/'
// kept when keepSlash is true.
std::string uriEncode(std::string_view bytes, bool keepSlash);
// Decodes %XX escapes; a '%' not followed by two hex digits stays literal.
// '+' stays '+'.
std::string uriDecode(std::string_view text);
// Dot-segment removal with empty segments dropped: "//a/./b/../c/" -> "/a/c/".
// The result starts with '/' and ends with '/' when the input did and a
// segment remains.
std::string normalizeUriPath(std::string_view path);

// The canonical URI (second line of the canonical request) of a raw path.
// Other services: normalised when ctx.normalizePath, then every byte other
// than unreserved characters and '/' percent-encoded -- the path's own
// escapes are encoded again ("double encoding"). S3: not normalised; escapes
// already in the path are kept and only the remaining bytes that are neither
// unreserved nor '/' are encoded, so the key ends up encoded once.
std::string canonicalUri(std::string_view rawPath, const SigningContext& ctx);
// Canonical query string of a raw query: parameters split on '&' (empty ones
// skipped) and '=' (a missing '=' means an empty value), each key and value
// decoded then uriEncode()d, sorted by encoded key then encoded value.
std::string canonicalQueryString(std::string_view rawQuery);
// A header value for the canonical request: folds and runs of spaces and
// tabs turned into one space, leading and trailing ones removed.
std::string canonicalHeaderValue(std::string_view rawValue);

// "20150830/us-east-1/service/aws4_request"
std::string credentialScope(const SigningContext& ctx);

// Stage 1. The canonical request of `request` as it will be signed: the
// headers or query parameters the signer adds (X-Amz-Date, the session token,
// x-amz-content-sha256, X-Amz-Algorithm, ...) are taken into account, and
// the ones it owns that the request already carries are ignored.
[[nodiscard]] Result<CanonicalRequest> canonicalRequest(const http::RawRequest& request,
                                                        const SigningContext& ctx,
                                                        SignatureLocation location);
// Stage 2.
std::string stringToSign(std::string_view canonicalRequestText, const SigningContext& ctx);
// Stage 3: HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request".
SigningKey deriveSigningKey(const SigningContext& ctx);
// Stage 4: lower-case hex HMAC-SHA256 of the string to sign.
std::string signature(const SigningKey& key, std::string_view stringToSign);

// All stages and the signed request. The signer owns the headers
// Authorization, X-Amz-Date, X-Amz-Security-Token and x-amz-content-sha256
// and the X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders,
// -Security-Token and -Signature query parameters: copies already in the
// request are dropped and replaced. Header mode appends, in this order,
// X-Amz-Security-Token (with a token), X-Amz-Date, x-amz-content-sha256
// (ctx.signBody, or a streaming payload) and Authorization. Query mode appends the parameters to
// the target's query in the order Algorithm, Credential, Date, SignedHeaders, Expires,
// Security-Token, Signature. Everything else is left as received.
//
// Signed headers: every header present except Authorization, hop-by-hop and
// proxy-specific ones (Connection, Keep-Alive, Proxy-*, TE, Trailer,
// Transfer-Encoding, Upgrade), Expect, User-Agent and X-Amzn-Trace-Id.
//
// Errors (ErrorCode::kInvalidArgument for the context, kInvalidInput for the
// request): missing or repeated Host, a target not in origin form, a header
// of ctx.signedHeaders missing, empty or malformed key id, region or
// service, a session token with control characters, an expiry out of range,
// a timestamp outside years 0-9999, an empty or malformed given payload
// hash, a streaming payload in query mode, the body's SHA-256 for a request
// with Transfer-Encoding.
[[nodiscard]] Result<SignedRequest> sign(const http::RawRequest& request, const SigningContext& ctx,
                                         SignatureLocation location);

}  // namespace lens::sign
