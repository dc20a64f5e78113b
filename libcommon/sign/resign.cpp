#include "libcommon/sign/resign.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <map>
#include <utility>

#include "libcommon/util/strings.h"

namespace lens::sign {

namespace {

constexpr std::string_view kUnsignedTrailerPayload = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
constexpr std::string_view kSignedTrailerPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
constexpr std::string_view kScopeTerminator = "aws4_request";

Error invalid(std::string message) {
  return makeError(ErrorCode::kInvalidInput, std::move(message));
}

bool isAlnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// A payload-hash literal such as UNSIGNED-PAYLOAD: safe to quote in a message.
bool isLiteralName(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// KEY/DATE/REGION/SERVICE/aws4_request
Status parseCredential(std::string_view text, std::string_view where, ClientSignature& out) {
  const std::vector<std::string_view> parts = util::split(text, '/');
  const auto bad = [where](std::string_view why) {
    return invalid(std::string(where) +
                   " is not KEY/DATE/REGION/SERVICE/aws4_request: " + std::string(why));
  };
  if (parts.size() != 5) return bad("it does not have five parts separated by '/'");
  if (parts[0].empty() || !std::all_of(parts[0].begin(), parts[0].end(), isAlnum)) {
    return bad("the access key id is empty or not letters and digits");
  }
  if (parts[1].size() != 8 ||
      !std::all_of(parts[1].begin(), parts[1].end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return bad("the date is not eight digits");
  }
  if (parts[2].empty()) return bad("the region is empty");
  if (parts[3].empty()) return bad("the service is empty");
  if (parts[4] != kScopeTerminator) return bad("it does not end with aws4_request");
  out.accessKeyId = std::string(parts[0]);
  out.date = std::string(parts[1]);
  out.region = std::string(parts[2]);
  out.service = std::string(parts[3]);
  return Ok{};
}

Status parseSignedHeaders(std::string_view text, std::string_view where, ClientSignature& out) {
  bool host = false;
  for (std::string_view name : util::split(text, ';')) {
    // RFC 9110 token characters, letters in lower case.
    const bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
    if (!token) {
      return invalid(std::string(where) +
                     " is not a ';'-separated list of lower-case header names");
    }
    host = host || name == "host";
    out.signedHeaders.emplace_back(name);
  }
  if (!host) return invalid(std::string(where) + " does not include host");
  return Ok{};
}

Status checkSignature(std::string_view text, std::string_view where) {
  if (text.size() != 64 || !util::isLowerHex(text)) {
    return invalid(std::string(where) + " is not 64 lower-case hex digits");
  }
  return Ok{};
}

Status parseAuthorization(std::string_view value, ClientSignature& out) {
  const std::size_t space = value.find(' ');
  const std::string_view scheme = value.substr(0, space);
  if (scheme != kAlgorithm) {
    const bool quotable =
        !scheme.empty() && scheme.size() <= 32 &&
        std::all_of(scheme.begin(), scheme.end(), [](char c) { return isAlnum(c) || c == '-'; });
    return invalid("Authorization is not AWS4-HMAC-SHA256" +
                   (quotable ? " (it is " + std::string(scheme) + ")" : std::string()));
  }
  std::map<std::string, std::string_view, std::less<>> params;
  const std::string_view rest =
      space == std::string_view::npos ? std::string_view() : value.substr(space + 1);
  for (std::string_view part : util::split(rest, ',')) {
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (part.empty()) continue;
    const std::size_t eq = part.find('=');
    const std::string_view name = part.substr(0, eq);
    if (eq == std::string_view::npos ||
        (name != "Credential" && name != "SignedHeaders" && name != "Signature")) {
      return invalid(
          "Authorization has a part other than Credential=, SignedHeaders= and Signature=");
    }
    if (!params.emplace(std::string(name), part.substr(eq + 1)).second) {
      return invalid("Authorization has " + std::string(name) + "= twice");
    }
  }
  for (std::string_view name : {"Credential", "SignedHeaders", "Signature"}) {
    if (params.find(name) == params.end()) {
      return invalid("Authorization has no " + std::string(name) + "=");
    }
  }
  if (auto ok = parseCredential(params.find("Credential")->second, "Authorization Credential", out);
      !ok)
    return ok;
  if (auto ok = parseSignedHeaders(params.find("SignedHeaders")->second,
                                   "Authorization SignedHeaders", out);
      !ok) {
    return ok;
  }
  return checkSignature(params.find("Signature")->second, "Authorization Signature");
}

// The X-Amz-* parameters of a query, decoded, by their canonical name.
Result<std::map<std::string, std::string, std::less<>>> presignParameters(std::string_view query) {
  static constexpr std::string_view kNames[] = {
      "X-Amz-Algorithm",     "X-Amz-Credential", "X-Amz-Date",          "X-Amz-Expires",
      "X-Amz-SignedHeaders", "X-Amz-Signature",  "X-Amz-Security-Token"};
  std::map<std::string, std::string, std::less<>> out;
  for (std::string_view part : util::split(query, '&')) {
    const std::size_t eq = part.find('=');
    const std::string key = uriDecode(part.substr(0, eq));
    const auto known = std::find_if(std::begin(kNames), std::end(kNames),
                                    [&](std::string_view n) { return util::iequals(n, key); });
    if (known == std::end(kNames)) continue;
    const std::string value =
        eq == std::string_view::npos ? std::string() : uriDecode(part.substr(eq + 1));
    if (!out.emplace(std::string(*known), value).second) {
      return invalid("the query has " + std::string(*known) + " twice");
    }
  }
  return out;
}

Status parsePresigned(std::string_view query, ClientSignature& out) {
  auto params = presignParameters(query);
  if (!params) return params.error();
  for (std::string_view name : {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",
                                "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"}) {
    if (params->find(name) == params->end())
      return invalid("the presigned query has no " + std::string(name));
  }
  if (params->find("X-Amz-Algorithm")->second != kAlgorithm) {
    return invalid("X-Amz-Algorithm is not AWS4-HMAC-SHA256");
  }
  if (auto ok = parseCredential(params->find("X-Amz-Credential")->second, "X-Amz-Credential", out);
      !ok)
    return ok;
  if (auto ok = parseSignedHeaders(params->find("X-Amz-SignedHeaders")->second,
                                   "X-Amz-SignedHeaders", out);
      !ok) {
    return ok;
  }
  if (auto ok = checkSignature(params->find("X-Amz-Signature")->second, "X-Amz-Signature"); !ok)
    return ok;
  const auto expires =
      util::parseDecimal(params->find("X-Amz-Expires")->second, kMaxExpirationSeconds);
  if (!expires || *expires == 0) {
    return invalid("X-Amz-Expires is not a number of seconds from 1 to " +
                   std::to_string(kMaxExpirationSeconds));
  }
  out.expirationSeconds = static_cast<std::uint32_t>(*expires);
  return Ok{};
}

bool hasPresignParameter(std::string_view query) {
  for (std::string_view part : util::split(query, '&')) {
    const std::string key = uriDecode(part.substr(0, part.find('=')));
    if (util::iequals(key, "X-Amz-Signature") || util::iequals(key, "X-Amz-Credential") ||
        util::iequals(key, "X-Amz-Algorithm")) {
      return true;
    }
  }
  return false;
}

}  // namespace

Result<ClientSignature> parseClientSignature(const http::RawRequest& request) {
  ClientSignature out;
  const std::size_t authorizations = request.countHeader("authorization");
  const std::optional<std::string_view> query = request.query();
  const bool presigned = query && hasPresignParameter(*query);
  if (authorizations > 0 && presigned) {
    return invalid(
        "the request has both an Authorization header and presigned X-Amz-* query parameters");
  }
  if (authorizations > 1) {
    return invalid("the request has " + std::to_string(authorizations) + " Authorization headers");
  }
  if (authorizations == 1) {
    out.location = SignatureLocation::kHeader;
    if (auto ok = parseAuthorization(request.findHeader("authorization")->value(), out); !ok)
      return ok.error();
  } else if (presigned) {
    out.location = SignatureLocation::kQuery;
    if (auto ok = parsePresigned(*query, out); !ok) return ok.error();
  } else {
    return invalid(
        "the request is not signed with AWS SigV4: it has neither an Authorization header nor "
        "presigned X-Amz-* query parameters");
  }
  const std::size_t hashes = request.countHeader("x-amz-content-sha256");
  if (hashes > 1)
    return invalid("the request has " + std::to_string(hashes) + " x-amz-content-sha256 headers");
  if (hashes == 1) out.contentSha256 = request.findHeader("x-amz-content-sha256")->value();
  return out;
}

Result<BodyHandling> bodyHandling(const ClientSignature& client) {
  if (client.location == SignatureLocation::kQuery) {
    // Presigned S3 requests never cover the body; elsewhere the body's hash
    // is signed (as the AWS test suite does).
    return usesS3PathRules(client.service) ? BodyHandling::kAsIs : BodyHandling::kHashed;
  }
  if (!client.contentSha256) return BodyHandling::kHashed;
  const std::string& value = *client.contentSha256;
  if (value == kStreamingPayload) return BodyHandling::kChunked;
  if (value == kUnsignedPayload || value == kUnsignedTrailerPayload) return BodyHandling::kAsIs;
  if (value.size() == 64 && util::isLowerHex(value)) return BodyHandling::kAsIs;
  if (value == kSignedTrailerPayload) {
    return invalid("x-amz-content-sha256 " + value +
                   " is not supported: the signature of its trailing headers is not re-signed");
  }
  return invalid("x-amz-content-sha256 " + (isLiteralName(value) ? value + " " : std::string()) +
                 "is not supported (expected a lower-case hex SHA-256, " +
                 std::string(kUnsignedPayload) + ", " + std::string(kStreamingPayload) + " or " +
                 std::string(kUnsignedTrailerPayload) + ")");
}

Result<AwsInjection> findAwsInjection(const decision::Engine& engine, std::string_view accessKeyId,
                                      const decision::Request& request) {
  return findAwsInjection(engine, accessKeyId, request, engine.injectionsFor(request));
}

Result<AwsInjection> findAwsInjection(const decision::Engine& engine, std::string_view accessKeyId,
                                      const decision::Request& request,
                                      std::span<const decision::CredentialRef> refs) {
  if (!accessKeyId.starts_with(policy::kAwsPlaceholderPrefix)) {
    return makeError(
        ErrorCode::kDenied,
        "the request is signed with an access key id that is not a LENSFAKE placeholder; "
        "it is not re-signed");
  }
  const auto& policy = engine.policy();
  if (!policy) return makeError(ErrorCode::kDenied, "no policy: nothing is re-signed");
  for (const decision::CredentialRef& ref : refs) {
    const policy::Credential& credential = policy->credentials[ref.credential];
    if (ref.type != policy::InjectionType::kAwsSigv4 || credential.placeholder != accessKeyId)
      continue;
    const policy::Injection& injection = credential.injections[ref.injection];
    return AwsInjection{credential.id,
                        {injection.accessKeyId, injection.secretAccessKey, injection.sessionToken}};
  }
  const auto owner =
      std::find_if(policy->credentials.begin(), policy->credentials.end(),
                   [&](const policy::Credential& c) { return c.placeholder == accessKeyId; });
  if (owner == policy->credentials.end()) {
    return makeError(ErrorCode::kDenied,
                     "access key id " + std::string(accessKeyId) +
                         " is not the placeholder of any credential in the policy");
  }
  return makeError(ErrorCode::kDenied,
                   "credential \"" + owner->id + "\" has no awsSigv4 injection for " +
                       request.host +
                       (request.port != 0 ? ":" + std::to_string(request.port) : ""));
}

Result<ResignedRequest> resign(const http::RawRequest& request, const ClientSignature& client,
                               const AwsCredentials& real, std::chrono::sys_seconds time) {
  auto handling = bodyHandling(client);
  if (!handling) return handling.error();

  SigningContext ctx;
  ctx.accessKeyId = real.accessKeyId;
  ctx.secretAccessKey = real.secretAccessKey;
  if (!real.sessionToken.empty()) ctx.sessionToken = real.sessionToken;
  ctx.region = client.region;
  ctx.service = client.service;
  ctx.timestamp = time;
  ctx.signedHeaders = client.signedHeaders;
  if (client.location == SignatureLocation::kQuery) {
    ctx.expirationSeconds = client.expirationSeconds;
    ctx.payloadMode =
        *handling == BodyHandling::kAsIs ? PayloadMode::kUnsigned : PayloadMode::kSha256;
  } else if (*handling == BodyHandling::kChunked) {
    ctx.payloadMode = PayloadMode::kStreaming;
  } else if (*handling == BodyHandling::kAsIs) {
    ctx.payloadMode = PayloadMode::kGiven;
    ctx.payloadHash = *client.contentSha256;
    ctx.signBody = true;
  }

  ResignedRequest out;
  if (*handling == BodyHandling::kChunked) {
    const http::HeaderField* decoded = request.findHeader(kDecodedLengthHeader);
    const auto length = decoded ? util::parseDecimal(decoded->value(), 1UL << 62) : std::nullopt;
    if (!length) {
      return invalid(
          "an aws-chunked request (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) needs a decimal "
          "x-amz-decoded-content-length header");
    }
    out.decodedLength = *length;
  }
  auto signedRequest = sign(request, ctx, client.location);
  if (signedRequest && *handling == BodyHandling::kChunked) {
    out.chunkSigner.emplace(ctx, signedRequest->signature);
  }
  OPENSSL_cleanse(ctx.secretAccessKey.data(), ctx.secretAccessKey.size());
  if (!signedRequest) return signedRequest.error();
  out.signedRequest = std::move(signedRequest).value();
  return out;
}

}  // namespace lens::sign
