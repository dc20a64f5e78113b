#include "libcommon/sign/sigv4.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <set>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include "libcommon/util/hash.h"
#include "libcommon/util/strings.h"

namespace lens::sign {

namespace {

using Digest = std::array<std::uint8_t, 32>;

// Headers and query parameters written by the signer; copies in the input
// are dropped.
constexpr std::string_view kOwnedHeaders[] = {"authorization", "x-amz-date", "x-amz-security-token",
                                              "x-amz-content-sha256"};
constexpr std::string_view kOwnedQueryKeys[] = {
    "X-Amz-Algorithm",     "X-Amz-Credential",     "X-Amz-Date",     "X-Amz-Expires",
    "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature"};
// Headers never signed: hop-by-hop or rewritten by proxies, or (as in
// botocore and aws-c-auth) commonly changed in transit.
constexpr std::string_view kUnsignedHeaders[] = {
    "authorization",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
};

constexpr std::string_view kHeaderSecurityToken = "X-Amz-Security-Token";
constexpr std::string_view kHeaderDate = "X-Amz-Date";
constexpr std::string_view kHeaderContentSha256 = "x-amz-content-sha256";
constexpr std::string_view kHeaderAuthorization = "Authorization";

template <std::size_t N>
bool containsIgnoringCase(const std::string_view (&list)[N], std::string_view name) {
  return std::any_of(std::begin(list), std::end(list),
                     [name](std::string_view entry) { return util::iequals(entry, name); });
}

bool isUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

void appendPercentEncoded(std::string& out, char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const auto byte = static_cast<unsigned char>(c);
  out.push_back('%');
  out.push_back(kHex[byte >> 4]);
  out.push_back(kHex[byte & 0xf]);
}

bool isWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool hasControlCharacter(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

std::string toHex(std::span<const std::uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

// HMAC-SHA256 with a per-thread context whose algorithm was fetched once:
// OpenSSL 3 would otherwise look HMAC and SHA-256 up, under a lock, on
// every call (several per signature).
Digest hmacSha256(std::span<const std::uint8_t> key, std::string_view data) {
  struct Context {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* ctx = mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr;
    Context() {
      char digest[] = "SHA256";
      const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                                   OSSL_PARAM_construct_end()};
      if (ctx != nullptr && EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ctx = nullptr;
      }
    }
    ~Context() {
      EVP_MAC_CTX_free(ctx);
      EVP_MAC_free(mac);
    }
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;
  };
  thread_local Context context;
  // EVP_MAC_init without a key keeps the previous one; HMAC pads a key with
  // zeros, so an empty key is the same as one zero byte.
  static constexpr std::uint8_t kZero[1] = {0};
  if (key.empty()) key = kZero;
  Digest out{};
  std::size_t length = 0;
  if (context.ctx == nullptr || EVP_MAC_init(context.ctx, key.data(), key.size(), nullptr) != 1 ||
      EVP_MAC_update(context.ctx, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1 ||
      EVP_MAC_final(context.ctx, out.data(), &length, out.size()) != 1 || length != out.size()) {
    throw std::runtime_error("HMAC-SHA256 failed");  // only on a broken libcrypto
  }
  return out;
}

std::span<const std::uint8_t> asBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// A value that goes into the credential scope or the Credential parameter.
Status checkScopePart(std::string_view value, std::string_view what) {
  if (value.empty()) {
    return makeError(ErrorCode::kInvalidArgument, std::string(what) + " is empty");
  }
  const bool bad = std::any_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return c == '/' || c == ' ' || byte < 0x20 || byte == 0x7f;
  });
  if (bad) {
    return makeError(ErrorCode::kInvalidArgument,
                     std::string(what) + " contains '/', a space or a control character");
  }
  return Ok{};
}

Status checkContext(const SigningContext& ctx, SignatureLocation location) {
  if (auto ok = checkScopePart(ctx.accessKeyId, "access key id"); !ok) return ok;
  if (ctx.secretAccessKey.empty()) {
    return makeError(ErrorCode::kInvalidArgument, "secret access key is empty");
  }
  if (auto ok = checkScopePart(ctx.region, "region"); !ok) return ok;
  if (auto ok = checkScopePart(ctx.service, "service"); !ok) return ok;
  if (ctx.sessionToken) {
    if (ctx.sessionToken->empty()) {
      return makeError(ErrorCode::kInvalidArgument,
                       "session token is empty (leave it out when there is none)");
    }
    if (hasControlCharacter(*ctx.sessionToken)) {
      return makeError(ErrorCode::kInvalidArgument, "session token contains a control character");
    }
  }
  const auto year = static_cast<int>(
      std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(ctx.timestamp)}.year());
  if (year < 0 || year > 9999) {
    return makeError(ErrorCode::kInvalidArgument, "timestamp is outside the years 0000 to 9999");
  }
  if (ctx.payloadMode == PayloadMode::kGiven) {
    if (ctx.payloadHash.empty()) {
      return makeError(ErrorCode::kInvalidArgument, "the given payload hash is empty");
    }
    const bool bad = std::any_of(ctx.payloadHash.begin(), ctx.payloadHash.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-';
    });
    if (bad) {
      return makeError(ErrorCode::kInvalidArgument,
                       "the given payload hash contains a character other than letters, digits "
                       "and '-'");
    }
  }
  if (ctx.payloadMode == PayloadMode::kStreaming && location == SignatureLocation::kQuery) {
    return makeError(ErrorCode::kInvalidArgument,
                     "a streaming (aws-chunked) payload is signed in header mode only, not "
                     "presigned");
  }
  if (location == SignatureLocation::kQuery &&
      (ctx.expirationSeconds < 1 || ctx.expirationSeconds > kMaxExpirationSeconds)) {
    return makeError(ErrorCode::kInvalidArgument,
                     "presigned expiry of " + std::to_string(ctx.expirationSeconds) +
                         " seconds is outside 1 to " + std::to_string(kMaxExpirationSeconds));
  }
  return Ok{};
}

Status checkRequest(const http::RawRequest& request) {
  if (request.method.empty()) return makeError(ErrorCode::kInvalidInput, "request has no method");
  if (request.target.empty() || request.target.front() != '/') {
    return makeError(ErrorCode::kInvalidInput,
                     "request target is not in origin form (it must start with '/')");
  }
  const std::size_t hosts = request.countHeader("host");
  if (hosts == 0) return makeError(ErrorCode::kInvalidInput, "request has no Host header");
  if (hosts > 1) {
    return makeError(ErrorCode::kInvalidInput, "request has " + std::to_string(hosts) +
                                                   " Host headers (exactly one allowed)");
  }
  if (canonicalHeaderValue(request.findHeader("host")->rawValue).empty()) {
    return makeError(ErrorCode::kInvalidInput, "request has an empty Host header");
  }
  return Ok{};
}

// The raw query without the parameters the signer owns; untouched when it
// has none of them.
std::string withoutOwnedQueryParams(std::string_view rawQuery) {
  std::string kept;
  bool removed = false;
  bool first = true;
  for (std::string_view part : util::split(rawQuery, '&')) {
    const std::string key = uriDecode(part.substr(0, part.find('=')));
    if (containsIgnoringCase(kOwnedQueryKeys, key)) {
      removed = true;
      continue;
    }
    // Empty parts ("a=1&&b=2") are kept too: the target changes only where
    // the signer's own parameters were.
    if (!first) kept.push_back('&');
    first = false;
    kept.append(part);
  }
  return removed ? kept : std::string(rawQuery);
}

void appendQueryParam(std::string& query, std::string_view key, std::string_view value) {
  if (!query.empty()) query.push_back('&');
  query.append(key).append("=").append(uriEncode(value, false));
}

std::string payloadHash(const http::RawRequest& request, const SigningContext& ctx) {
  switch (ctx.payloadMode) {
    case PayloadMode::kSha256:
      return util::sha256Hex(request.body);
    case PayloadMode::kUnsigned:
      return std::string(kUnsignedPayload);
    case PayloadMode::kStreaming:
      return std::string(kStreamingPayload);
    case PayloadMode::kGiven:
      return ctx.payloadHash;
  }
  return util::sha256Hex(request.body);
}

// With ctx.signedHeaders: the lower-case names to sign (the listed ones,
// host, and those the signer has added to `request`), after checking that
// the request carries every listed one. Without: nullopt (sign what is there).
Result<std::optional<std::set<std::string>>> explicitlySignedHeaders(
    const http::RawRequest& request, const SigningContext& ctx, SignatureLocation location) {
  if (!ctx.signedHeaders) return std::optional<std::set<std::string>>();
  std::set<std::string> wanted{"host"};
  for (const std::string& listed : *ctx.signedHeaders) {
    std::string name = util::toLower(listed);
    if (containsIgnoringCase(kOwnedHeaders, name)) continue;
    if (request.countHeader(name) == 0) {
      return makeError(ErrorCode::kInvalidInput,
                       "signed header \"" + name.substr(0, 64) + "\" is not in the request");
    }
    wanted.insert(std::move(name));
  }
  if (location == SignatureLocation::kHeader) {
    for (std::string_view owned : kOwnedHeaders) {
      if (owned != "authorization" && request.countHeader(owned) != 0) wanted.emplace(owned);
    }
  }
  return std::optional<std::set<std::string>>(std::move(wanted));
}

// The request with the signer's headers and query parameters in place but
// without the signature, and its canonical form.
struct Prepared {
  http::RawRequest request;
  CanonicalRequest canonical;
};

Result<Prepared> prepare(const http::RawRequest& input, const SigningContext& ctx,
                         SignatureLocation location) {
  if (auto ok = checkContext(ctx, location); !ok) return ok.error();
  if (auto ok = checkRequest(input); !ok) return ok.error();
  if (ctx.payloadMode == PayloadMode::kSha256 && input.countHeader("transfer-encoding") != 0) {
    // The hash covers the payload, not its transfer coding, which a proxy
    // may change: refuse rather than sign the chunk framing.
    return makeError(ErrorCode::kInvalidInput,
                     "the body's SHA-256 is not signed for a request with Transfer-Encoding (send "
                     "it with a Content-Length, or sign UNSIGNED-PAYLOAD)");
  }

  Prepared prepared{input, {}};
  http::RawRequest& request = prepared.request;
  for (std::string_view owned : kOwnedHeaders) request.removeHeaders(owned);

  const std::optional<std::string_view> inputQuery = input.query();
  std::string rawQuery = inputQuery ? withoutOwnedQueryParams(*inputQuery) : std::string();

  CanonicalRequest& canonical = prepared.canonical;
  canonical.payloadHash = payloadHash(request, ctx);
  const std::string amzDate = formatAmzDate(ctx.timestamp);
  const bool tokenSigned = ctx.sessionToken && !ctx.omitSessionTokenFromSignature;

  if (location == SignatureLocation::kHeader) {
    if (ctx.sessionToken) request.addHeader(std::string(kHeaderSecurityToken), *ctx.sessionToken);
    request.addHeader(std::string(kHeaderDate), amzDate);
    if (ctx.signBody || ctx.payloadMode == PayloadMode::kStreaming) {
      request.addHeader(std::string(kHeaderContentSha256), canonical.payloadHash);
    }
  }
  auto wanted = explicitlySignedHeaders(request, ctx, location);
  if (!wanted) return wanted.error();

  // Lower-case name -> values joined with ',' in order of appearance; the
  // map keeps the names sorted.
  std::map<std::string, std::string> headers;
  for (const http::HeaderField& field : request.headers) {
    std::string name = util::toLower(field.name);
    if (*wanted) {
      if ((*wanted)->count(name) == 0) continue;
    } else if (containsIgnoringCase(kUnsignedHeaders, name)) {
      continue;
    }
    if (!tokenSigned && name == "x-amz-security-token") continue;
    auto [it, inserted] = headers.try_emplace(std::move(name));
    if (!inserted) it->second.push_back(',');
    it->second.append(canonicalHeaderValue(field.rawValue));
  }
  for (const auto& [name, value] : headers) {
    if (!canonical.signedHeaders.empty()) canonical.signedHeaders.push_back(';');
    canonical.signedHeaders.append(name);
  }

  if (location == SignatureLocation::kQuery) {
    appendQueryParam(rawQuery, "X-Amz-Algorithm", kAlgorithm);
    appendQueryParam(rawQuery, "X-Amz-Credential", ctx.accessKeyId + "/" + credentialScope(ctx));
    appendQueryParam(rawQuery, "X-Amz-Date", amzDate);
    appendQueryParam(rawQuery, "X-Amz-SignedHeaders", canonical.signedHeaders);
    appendQueryParam(rawQuery, "X-Amz-Expires", std::to_string(ctx.expirationSeconds));
    if (tokenSigned) appendQueryParam(rawQuery, "X-Amz-Security-Token", *ctx.sessionToken);
  }

  std::string& text = canonical.text;
  text.append(request.method).push_back('\n');
  text.append(canonicalUri(input.path(), ctx)).push_back('\n');
  text.append(canonicalQueryString(rawQuery)).push_back('\n');
  for (const auto& [name, value] : headers) {
    text.append(name).append(":").append(value).push_back('\n');
  }
  text.push_back('\n');
  text.append(canonical.signedHeaders).push_back('\n');
  text.append(canonical.payloadHash);

  if (location == SignatureLocation::kQuery && ctx.sessionToken && !tokenSigned) {
    appendQueryParam(rawQuery, "X-Amz-Security-Token", *ctx.sessionToken);
  }
  if (inputQuery || location == SignatureLocation::kQuery) {
    request.target = std::string(input.path()) + "?" + rawQuery;
  }
  return prepared;
}

std::optional<int> parseDigits(std::string_view text, std::size_t pos, std::size_t count) {
  if (pos + count > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

}  // namespace

SigningKey::~SigningKey() { OPENSSL_cleanse(bytes.data(), bytes.size()); }

Result<std::chrono::sys_seconds> parseTimestamp(std::string_view text) {
  const auto fail = [text]() {
    const std::string shown(text.substr(0, 64));
    return makeError(ErrorCode::kInvalidArgument,
                     "timestamp \"" + shown +
                         "\" is not a UTC time such as 2015-08-30T12:36:00Z or 20150830T123600Z");
  };
  // Offsets of year, month, day, 'T', hour, minute, second; then the tail.
  const bool extended = text.size() >= 11 && text[4] == '-';
  const std::size_t offsets[] = {0, 4, 6, 8, 9, 11, 13};
  const std::size_t extendedOffsets[] = {0, 5, 8, 10, 11, 14, 17};
  const std::size_t* at = extended ? extendedOffsets : offsets;
  if (extended && (text.size() < 20 || text[7] != '-' || text[13] != ':' || text[16] != ':')) {
    return fail();
  }
  if (text.size() <= at[6] + 2 || text[at[3]] != 'T') return fail();
  const auto year = parseDigits(text, at[0], 4);
  const auto month = parseDigits(text, at[1], 2);
  const auto day = parseDigits(text, at[2], 2);
  const auto hour = parseDigits(text, at[4], 2);
  const auto minute = parseDigits(text, at[5], 2);
  const auto second = parseDigits(text, at[6], 2);
  if (!year || !month || !day || !hour || !minute || !second) return fail();
  std::string_view tail = text.substr(at[6] + 2);
  if (extended && tail.size() > 1 && tail.front() == '.') {
    std::size_t digits = 1;
    while (digits < tail.size() && tail[digits] >= '0' && tail[digits] <= '9') ++digits;
    if (digits == 1) return fail();
    tail.remove_prefix(digits);
  }
  if (tail != "Z") return fail();
  const std::chrono::year_month_day date{std::chrono::year{*year},
                                         std::chrono::month{static_cast<unsigned>(*month)},
                                         std::chrono::day{static_cast<unsigned>(*day)}};
  if (!date.ok() || *hour > 23 || *minute > 59 || *second > 59) return fail();
  return std::chrono::sys_days{date} + std::chrono::hours{*hour} + std::chrono::minutes{*minute} +
         std::chrono::seconds{*second};
}

std::string formatAmzDate(std::chrono::sys_seconds time) {
  const auto days = std::chrono::floor<std::chrono::days>(time);
  const std::chrono::year_month_day date{days};
  const std::chrono::hh_mm_ss clock{time - days};
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
                static_cast<int>(clock.seconds().count()));
  return buffer;
}

std::string formatDateStamp(std::chrono::sys_seconds time) {
  return formatAmzDate(time).substr(0, 8);
}

bool usesS3PathRules(std::string_view service) {
  return service == "s3" || service == "s3-outposts" || service == "s3-object-lambda" ||
         service == "s3express";
}

std::string uriEncode(std::string_view bytes, bool keepSlash) {
  std::string out;
  out.reserve(bytes.size());
  for (char c : bytes) {
    if (isUnreserved(c) || (keepSlash && c == '/')) {
      out.push_back(c);
    } else {
      appendPercentEncoded(out, c);
    }
  }
  return out;
}

std::string uriDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && util::hexDigitValue(text[i + 1]) >= 0 &&
        util::hexDigitValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(util::hexDigitValue(text[i + 1]) * 16 +
                                      util::hexDigitValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string normalizeUriPath(std::string_view path) {
  std::vector<std::string_view> segments;
  for (std::string_view segment : util::split(path, '/')) {
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    segments.push_back(segment);
  }
  std::string out = "/";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i != 0) out.push_back('/');
    out.append(segments[i]);
  }
  if (!segments.empty() && path.ends_with('/')) out.push_back('/');
  return out;
}

std::string canonicalUri(std::string_view rawPath, const SigningContext& ctx) {
  if (rawPath.empty()) return "/";
  if (!usesS3PathRules(ctx.service)) {
    return uriEncode(ctx.normalizePath ? normalizeUriPath(rawPath) : std::string(rawPath), true);
  }
  std::string out;
  out.reserve(rawPath.size());
  for (std::size_t i = 0; i < rawPath.size(); ++i) {
    const char c = rawPath[i];
    if (c == '%' && i + 2 < rawPath.size() && util::hexDigitValue(rawPath[i + 1]) >= 0 &&
        util::hexDigitValue(rawPath[i + 2]) >= 0) {
      out.append(rawPath.substr(i, 3));
      i += 2;
    } else if (isUnreserved(c) || c == '/') {
      out.push_back(c);
    } else {
      appendPercentEncoded(out, c);
    }
  }
  return out;
}

std::string canonicalQueryString(std::string_view rawQuery) {
  std::vector<std::pair<std::string, std::string>> params;
  for (std::string_view part : util::split(rawQuery, '&')) {
    if (part.empty()) continue;
    const std::size_t eq = part.find('=');
    const std::string_view key = part.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    params.emplace_back(uriEncode(uriDecode(key), false), uriEncode(uriDecode(value), false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [key, value] : params) {
    if (!out.empty()) out.push_back('&');
    out.append(key).append("=").append(value);
  }
  return out;
}

std::string canonicalHeaderValue(std::string_view rawValue) {
  std::string out;
  out.reserve(rawValue.size());
  bool pendingSpace = false;
  for (char c : rawValue) {
    if (isWhitespace(c)) {
      pendingSpace = !out.empty();
      continue;
    }
    if (pendingSpace) out.push_back(' ');
    pendingSpace = false;
    out.push_back(c);
  }
  return out;
}

std::string credentialScope(const SigningContext& ctx) {
  return formatDateStamp(ctx.timestamp) + "/" + ctx.region + "/" + ctx.service + "/aws4_request";
}

Result<CanonicalRequest> canonicalRequest(const http::RawRequest& request,
                                          const SigningContext& ctx, SignatureLocation location) {
  auto prepared = prepare(request, ctx, location);
  if (!prepared) return prepared.error();
  return std::move(prepared->canonical);
}

std::string stringToSign(std::string_view canonicalRequestText, const SigningContext& ctx) {
  std::string out(kAlgorithm);
  out.append("\n").append(formatAmzDate(ctx.timestamp));
  out.append("\n").append(credentialScope(ctx));
  out.append("\n").append(util::sha256Hex(canonicalRequestText));
  return out;
}

namespace {

// The last key derived on this thread, and what it was derived from: a
// proxy re-signs request after request with one credential on one day, and
// the four HMACs of a derivation are most of a signature's cost.
struct DerivedKey {
  std::string secret;
  std::string date;
  std::string region;
  std::string service;
  SigningKey key;
  ~DerivedKey() {
    OPENSSL_cleanse(secret.data(), secret.size());
    OPENSSL_cleanse(key.bytes.data(), key.bytes.size());
  }
};

}  // namespace

SigningKey deriveSigningKey(const SigningContext& ctx) {
  thread_local DerivedKey last;
  const std::string date = formatDateStamp(ctx.timestamp);
  if (!last.secret.empty() && last.secret == ctx.secretAccessKey && last.date == date &&
      last.region == ctx.region && last.service == ctx.service) {
    return last.key;
  }
  std::string secret = "AWS4" + ctx.secretAccessKey;
  Digest dateKey = hmacSha256(asBytes(secret), formatDateStamp(ctx.timestamp));
  OPENSSL_cleanse(secret.data(), secret.size());
  Digest regionKey = hmacSha256(dateKey, ctx.region);
  Digest serviceKey = hmacSha256(regionKey, ctx.service);
  SigningKey key;
  key.bytes = hmacSha256(serviceKey, "aws4_request");
  OPENSSL_cleanse(dateKey.data(), dateKey.size());
  OPENSSL_cleanse(regionKey.data(), regionKey.size());
  OPENSSL_cleanse(serviceKey.data(), serviceKey.size());
  OPENSSL_cleanse(last.secret.data(), last.secret.size());
  last.secret = ctx.secretAccessKey;
  last.date = date;
  last.region = ctx.region;
  last.service = ctx.service;
  last.key = key;
  return key;
}

std::string signature(const SigningKey& key, std::string_view stringToSign) {
  return toHex(hmacSha256(key.bytes, stringToSign));
}

Result<SignedRequest> sign(const http::RawRequest& request, const SigningContext& ctx,
                           SignatureLocation location) {
  auto prepared = prepare(request, ctx, location);
  if (!prepared) return prepared.error();
  SignedRequest signedRequest;
  signedRequest.canonicalRequest = std::move(prepared->canonical);
  signedRequest.stringToSign = stringToSign(signedRequest.canonicalRequest.text, ctx);
  signedRequest.signature = signature(deriveSigningKey(ctx), signedRequest.stringToSign);
  signedRequest.request = std::move(prepared->request);
  http::RawRequest& out = signedRequest.request;
  if (location == SignatureLocation::kHeader) {
    out.addHeader(std::string(kHeaderAuthorization),
                  std::string(kAlgorithm) + " Credential=" + ctx.accessKeyId + "/" +
                      credentialScope(ctx) +
                      ", SignedHeaders=" + signedRequest.canonicalRequest.signedHeaders +
                      ", Signature=" + signedRequest.signature);
  } else {
    out.target.append("&X-Amz-Signature=").append(signedRequest.signature);
  }
  return signedRequest;
}

}  // namespace lens::sign
