#pragma once

#include <span>
#include <string>
#include <vector>

#include "libcommon/decision/decision.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/policy/policy.h"
#include "libcommon/util/result.h"

// Credential exchange at the boundary (DESIGN.md section 4): the sandbox
// only holds placeholders; the real values of a policy's header and
// uriPlaceholder injections go into the requests for their domains.
namespace lens::sign {

// One injection applied (or found unarmed) on a request.
struct AppliedInjection {
  std::string credentialId;
  policy::InjectionType type = policy::InjectionType::kHeader;
  // Where: the header's name, "request target" or "Authorization Basic".
  std::string where;
};

struct InjectedRequest {
  http::RawRequest request;
  std::vector<AppliedInjection> applied;
  // Injections with an empty value (unarmed): nothing substituted.
  std::vector<AppliedInjection> unarmed;
};

// Applies the header and uriPlaceholder injections of `refs` (as
// decision::Engine::injectionsFor gives them, for the request's host,
// method and path) to `request`, in this order:
//   1. header: every field with the injection's header name is removed and
//      "Name: value" appended;
//   2. uriPlaceholder: every occurrence of the credential's placeholder in
//      the request target is replaced by the value, and inside the decoded
//      user:password of an "Authorization: Basic" field, which is then
//      encoded again. No other header value is rewritten.
// awsSigv4 injections are skipped (see resign.h). An injection with an empty
// value is reported as unarmed and changes nothing.
// Errors (ErrorCode::kInvalidInput): a substituted target that is no longer
// a valid request target (control characters or spaces).
[[nodiscard]] Result<InjectedRequest> applyInjections(
    const http::RawRequest& request, const policy::PolicyDocument& policy,
    std::span<const decision::CredentialRef> refs);

}  // namespace lens::sign
