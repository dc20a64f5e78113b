#pragma once

#include <string>

#include "libcommon/json/source_map.h"

namespace lens::policy {

// One located problem in a policy: `FILE:LINE:COL: PATH: message`.
struct Diagnostic {
  enum class Severity { kError, kWarning };

  Severity severity = Severity::kError;
  std::string file;
  json::SourcePos pos;
  std::string path;  // JSON path; "$" for the document itself
  std::string message;

  [[nodiscard]] std::string format() const {
    std::string out = file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) +
                      ": " + (path.empty() ? std::string("$") : path) + ": ";
    if (severity == Severity::kWarning) out += "warning: ";
    return out + message;
  }
};

}  // namespace lens::policy
