#pragma once

#include <string>
#include <string_view>

#include "libcommon/util/result.h"

namespace lens::http {

// Rewrites a request body as it streams to the origin (the aws-chunked
// re-signer), without changing its framing: what goes in by pieces of any
// size comes out, possibly later, in pieces of the same total length.
class BodyFilter {
 public:
  BodyFilter() = default;
  virtual ~BodyFilter() = default;
  BodyFilter(const BodyFilter&) = delete;
  BodyFilter& operator=(const BodyFilter&) = delete;

  // Consumes `input`, appends what is ready to `out`.
  [[nodiscard]] virtual Status feed(std::string_view input, std::string& out) = 0;
  // The body has ended: fails when what came was not a whole body.
  [[nodiscard]] virtual Status finish() = 0;
};

}  // namespace lens::http
