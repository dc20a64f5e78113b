#include "libcommon/sign/boundary.h"

#include <algorithm>

#include "libcommon/util/base64.h"
#include "libcommon/util/invariant.h"
#include "libcommon/util/strings.h"

namespace lens::sign {

namespace {

bool holds(std::string_view text, std::string_view placeholder) {
  return text.find(placeholder) != std::string_view::npos;
}

// A placeholder hidden in the user:password of "Authorization: Basic".
bool holdsInBasic(std::string_view value, std::string_view placeholder) {
  const std::size_t start = value.find_first_not_of(' ');
  if (start == std::string_view::npos) return false;
  const std::size_t space = value.find(' ', start);
  if (space == std::string_view::npos ||
      !util::iequals(value.substr(start, space - start), "Basic"))
    return false;
  const std::size_t token = value.find_first_not_of(' ', space);
  if (token == std::string_view::npos) return false;
  auto decoded = util::base64Decode(value.substr(token));
  return decoded && holds(*decoded, placeholder);
}

// Whether the client signed for AWS at all (an Authorization of the SigV4
// scheme, or presigned query parameters).
bool signsForAws(const http::RawRequest& head) {
  if (const http::HeaderField* field = head.findHeader("authorization")) {
    if (field->value().starts_with("AWS4-")) return true;
  }
  return holds(head.target, "X-Amz-Credential=") || holds(head.target, "X-Amz-Signature=");
}

class AwsChunkedFilter final : public http::BodyFilter {
 public:
  AwsChunkedFilter(ChunkSigner signer, AwsChunkedLimits limits)
      : resigner_(std::move(signer), limits) {}
  Status feed(std::string_view input, std::string& out) override {
    return resigner_.feed(input, out);
  }
  Status finish() override { return resigner_.finish(); }

 private:
  AwsChunkedResigner resigner_;
};

}  // namespace

bool hasCredentials(const policy::PolicyDocument& policy) {
  return std::any_of(policy.credentials.begin(), policy.credentials.end(),
                     [](const policy::Credential& c) { return !c.placeholder.empty(); });
}

std::optional<std::string> placeholderIn(const policy::PolicyDocument& policy,
                                         const http::RawRequest& head) {
  // Each field's value made once (value() unfolds and trims).
  std::vector<std::string> values;
  values.reserve(head.headers.size());
  for (const http::HeaderField& field : head.headers) values.push_back(field.value());
  for (const policy::Credential& credential : policy.credentials) {
    const std::string_view p = credential.placeholder;
    if (p.empty()) continue;
    bool found = holds(head.method, p) || holds(head.target, p);
    for (std::size_t i = 0; i < values.size() && !found; ++i) {
      const http::HeaderField& field = head.headers[i];
      found = holds(field.name, p) || holds(values[i], p) ||
              (util::iequals(field.name, "authorization") && holdsInBasic(values[i], p));
    }
    if (found) return credential.id;
  }
  return std::nullopt;
}

BoundaryRequest::BoundaryRequest(const decision::Engine& engine, decision::Request destination,
                                 BoundaryLimits limits)
    : engine_(engine), destination_(std::move(destination)), limits_(limits) {}

bool BoundaryRequest::refuse(int status, std::string_view why, std::string text,
                             std::string credentialId, ErrorCode code) {
  refusal_ = BoundaryRefusal{status, why, std::move(text), std::move(credentialId), code};
  return false;
}

bool BoundaryRequest::begin(http::RawRequest& head) {
  const auto& policy = engine_.policy();
  if (!policy) return true;
  const std::vector<decision::CredentialRef> refs = engine_.injectionsFor(destination_);
  auto injected = applyInjections(head, *policy, refs);
  if (!injected)
    return refuse(400, reason::kBadRewrite, injected.error().message, {}, ErrorCode::kInvalidInput);
  report_.applied = std::move(injected->applied);
  report_.unarmed = std::move(injected->unarmed);
  if (injected->request.target != head.target) {
    // The path the origin gets is judged, not the one with the placeholder.
    decision::Request again = destination_;
    again.path = injected->request.target;
    const decision::Decision d = engine_.decide(again);
    if (!d.allowed()) {
      const auto by = std::find_if(report_.applied.begin(), report_.applied.end(),
                                   [](const AppliedInjection& a) {
                                     return a.type == policy::InjectionType::kUriPlaceholder;
                                   });
      return refuse(403, reason::kRewrittenPathDenied,
                    "the request target with the credential substituted is refused",
                    by != report_.applied.end() ? by->credentialId : std::string());
    }
    destination_ = std::move(again);
  }
  head = std::move(injected->request);
  if (isTokenRequest(head, *policy, refs) && !beginToken(head, refs)) return false;
  const bool aws = std::any_of(refs.begin(), refs.end(), [](const decision::CredentialRef& r) {
    return r.type == policy::InjectionType::kAwsSigv4;
  });
  return !aws || beginAws(head, refs);
}

bool BoundaryRequest::beginAws(http::RawRequest& head,
                               std::span<const decision::CredentialRef> refs) {
  // Everything to a host with an awsSigv4 injection is signed, by the
  // sandbox with a placeholder key.
  auto client = parseClientSignature(head);
  if (!client) {
    return refuse(401, signsForAws(head) ? reason::kAwsUnsupported : reason::kAwsUnsigned,
                  client.error().message, {}, ErrorCode::kInvalidInput);
  }
  auto injection = findAwsInjection(engine_, client->accessKeyId, destination_, refs);
  if (!injection) return refuse(401, reason::kAwsUnknownKey, injection.error().message);
  auto handling = bodyHandling(*client);
  if (!handling) {
    return refuse(400, reason::kAwsSigningFailed, handling.error().message, injection->credentialId,
                  ErrorCode::kInvalidInput);
  }
  const bool chunkedTransfer = head.countHeader("transfer-encoding") != 0;
  if (*handling == BodyHandling::kHashed) {
    if (chunkedTransfer) {
      return refuse(411, reason::kAwsLengthRequired,
                    "the body is signed by its hash: send it with a Content-Length",
                    injection->credentialId, ErrorCode::kInvalidInput);
    }
    std::uint64_t length = 0;
    if (const http::HeaderField* field = head.findHeader("content-length")) {
      const auto parsed = util::parseDecimal(field->value(), ~0UL);
      if (!parsed) {
        return refuse(400, reason::kAwsSigningFailed, "the Content-Length is not a number",
                      injection->credentialId, ErrorCode::kInvalidInput);
      }
      length = *parsed;
    }
    if (length > limits_.maxSignedBody) {
      return refuse(413, reason::kAwsBodyTooLarge,
                    "the body is signed by its hash and is larger than " +
                        std::to_string(limits_.maxSignedBody) + " bytes (--max-signed-body)",
                    injection->credentialId, ErrorCode::kLimit);
    }
    needsBody_ = true;
    bodyLength_ = length;
  } else if (*handling == BodyHandling::kChunked && chunkedTransfer) {
    return refuse(411, reason::kAwsLengthRequired,
                  "an aws-chunked body needs a Content-Length (not Transfer-Encoding)",
                  injection->credentialId, ErrorCode::kInvalidInput);
  }
  client_ = std::move(client).value();
  aws_ = std::move(injection).value();
  return true;
}

bool BoundaryRequest::beginToken(const http::RawRequest& head,
                                 std::span<const decision::CredentialRef> refs) {
  if (head.countHeader("transfer-encoding") != 0) {
    return refuse(411, reason::kOauthLengthRequired,
                  "a token request is answered from its form: send it with a "
                  "Content-Length",
                  {}, ErrorCode::kInvalidInput);
  }
  std::uint64_t length = 0;
  if (const http::HeaderField* field = head.findHeader("content-length")) {
    const auto parsed = util::parseDecimal(field->value(), ~0UL);
    if (!parsed) {
      return refuse(411, reason::kOauthLengthRequired, "the Content-Length is not a number", {},
                    ErrorCode::kInvalidInput);
    }
    length = *parsed;
  }
  if (length > kMaxTokenRequestBody) {
    return refuse(
        413, reason::kOauthBodyTooLarge,
        "a token request body is larger than " + std::to_string(kMaxTokenRequestBody) + " bytes",
        {}, ErrorCode::kLimit);
  }
  needsBody_ = length != 0;
  bodyLength_ = length;
  tokenRefs_.assign(refs.begin(), refs.end());
  return true;
}

bool BoundaryRequest::finish(http::RawRequest& head, std::string_view body,
                             std::chrono::sys_seconds now) {
  if (!tokenRefs_.empty()) {
    if (const auto& policy = engine_.policy())
      answer_ = answerTokenRequest(head, body, *policy, tokenRefs_);
    if (answer_) {
      report_.tokenCredentialId = answer_->credentialId;
      return true;  // answered here: nothing goes to the origin
    }
  }
  if (aws_) {
    if (needsBody_) head.body.assign(body);
    LENS_INVARIANT(client_.has_value(), "a request re-signed for AWS was signed by the client");
    auto resigned = resign(head, *client_, aws_->credentials, now);
    head.body.clear();
    if (!resigned) {
      return refuse(400, reason::kAwsSigningFailed, resigned.error().message, aws_->credentialId,
                    ErrorCode::kInvalidInput);
    }
    head = std::move(resigned->signedRequest.request);
    head.body.clear();
    chunkSigner_ = std::move(resigned->chunkSigner);
    decodedLength_ = resigned->decodedLength;
    report_.awsCredentialId = aws_->credentialId;
    report_.service = client_->service;
  }
  return guard(head);
}

std::unique_ptr<http::BodyFilter> BoundaryRequest::bodyFilter() const {
  if (!chunkSigner_) return nullptr;
  AwsChunkedLimits limits;
  limits.decodedLength = decodedLength_;
  return std::make_unique<AwsChunkedFilter>(*chunkSigner_, limits);
}

bool BoundaryRequest::guard(const http::RawRequest& head) {
  const auto& policy = engine_.policy();
  if (!policy) return true;
  if (auto id = placeholderIn(*policy, head)) {
    return refuse(403, reason::kPlaceholderLeak,
                  "the request carries the placeholder of credential \"" + *id +
                      "\", which has no injection for " + destination_.host + " that covers it",
                  *id);
  }
  return true;
}

}  // namespace lens::sign
