#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/json/source_map.h"
#include "libcommon/policy/diagnostic.h"
#include "libcommon/policy/policy.h"

namespace lens::policy {

struct ParseOptions {
  std::string fileName = "<policy>";  // used in diagnostics
  // Accept the control-plane frame fields (type, proxyUpstream, proxyCaCert,
  // minProtocolDate) at the top level; they are not part of the document.
  bool allowTransportFields = false;
  json::JsonLimits limits;
};

struct ParseOutcome {
  std::shared_ptr<const PolicyDocument> policy;  // null when there are errors
  std::vector<Diagnostic> errors;                // every error, in document order
  std::vector<Diagnostic> warnings;
  [[nodiscard]] bool ok() const { return policy != nullptr; }
};

// Parses and validates a policy. Every error is reported, not just the first.
ParseOutcome parsePolicy(std::string_view text, const ParseOptions& options = {});

// Reads a file (refusing one over options.limits.maxBytes before reading it
// whole) and parses it; options.fileName defaults to the path.
ParseOutcome loadPolicyFile(const std::string& path, ParseOptions options = {});

// A policy file as the daemons and tools read it: the installed policy.json
// keeps a control-plane frame's transport fields (type, proxyUpstream,
// proxyCaCert, minProtocolDate) next to the policy, so they are accepted.
ParseOutcome loadInstalledPolicy(const std::string& path);

}  // namespace lens::policy
