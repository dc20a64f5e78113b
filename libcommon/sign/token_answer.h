#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "libcommon/decision/decision.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/policy/policy.h"

// The OAuth client-credentials answer (oauthClientCredentials injections):
// a token request of the sandbox is answered by the proxy with the
// credential's placeholder as the access token, so that the real token,
// injected later by a header injection, never enters the sandbox.
namespace lens::sign {

// The largest token request body read (a form of a few fields).
inline constexpr std::size_t kMaxTokenRequestBody = 64 * 1024;

// Whether `head` is a POST to the token path of one of the
// oauthClientCredentials injections among `refs` (its body decides the rest).
[[nodiscard]] bool isTokenRequest(const http::RawRequest& head,
                                  const policy::PolicyDocument& policy,
                                  std::span<const decision::CredentialRef> refs);

struct TokenAnswer {
  int status = 200;  // 200, or 400 (invalid_scope)
  std::string body;  // application/json
  std::string credentialId;
};

// The answer to a token request with `body`: a form with
// grant_type=client_credentials, a client_id (in the form or the Basic
// user name) one of the injections names, and exactly its scopes (200; 400
// invalid_scope when the scopes differ). nullopt for anything else, which
// goes to the origin unchanged.
[[nodiscard]] std::optional<TokenAnswer> answerTokenRequest(
    const http::RawRequest& head, std::string_view body, const policy::PolicyDocument& policy,
    std::span<const decision::CredentialRef> refs);

}  // namespace lens::sign
