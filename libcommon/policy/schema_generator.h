#pragma once

#include <string>

namespace lens::policy {

// The policy's JSON Schema (draft 2020-12), generated from policy_spec:
// pretty-printed with two-space indentation and a trailing newline, so that
// schemas/policy.schema.json can be compared byte for byte.
std::string generatePolicySchema();

}  // namespace lens::policy
