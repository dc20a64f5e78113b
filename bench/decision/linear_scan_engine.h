#pragma once

#include <memory>

#include "libcommon/decision/decision.h"
#include "libcommon/decision/request.h"
#include "libcommon/policy/policy.h"

namespace lens::bench {

// The baseline the indexed engine is measured against: the obvious
// implementation of first-match-wins, which tries every rule in order with
// MatchPattern::matchesHost / matchesAddress / matchesPort. Everything else
// (safety floor, host normalisation, IP literals, the Decision it builds) is
// done exactly as lens::decision::Engine does it, so the two differ only in
// how they find the deciding rule and must return the same decisions.
//
// Covers the doors the benchmark uses (connect, forward, transparent-*):
// egress.tcp then egress.http, binaries, the default verdict. It refuses
// policies with credentials (it does not implement injections).
class LinearScanEngine {
 public:
  explicit LinearScanEngine(std::shared_ptr<const policy::PolicyDocument> policy);

  [[nodiscard]] decision::Decision decide(const decision::Request& request) const;

 private:
  std::shared_ptr<const policy::PolicyDocument> policy_;
};

}  // namespace lens::bench
