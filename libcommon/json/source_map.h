#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "libcommon/json/document.h"
#include "libcommon/json/json_path.h"

namespace lens::json {

// Where the values (and object keys) of a JSON document start, by the JSON
// path that diagnostics name. Nothing is recorded ahead: a lookup walks the
// document along the path, so it costs only when a diagnostic is made.
class SourceMap {
 public:
  using ScanError = ParseError;

  explicit SourceMap(std::shared_ptr<const Document> doc) : doc_(std::move(doc)) {}

  // Parses `text` strictly (see Document) for its positions only.
  static std::variant<SourceMap, ScanError> scan(std::string_view text,
                                                 const JsonLimits& limits = {});

  // Position of the value at `path`, or of its nearest existing ancestor.
  [[nodiscard]] SourcePos valuePos(const std::string& path) const;
  // Position of the key naming `path` (its value's position for array items).
  [[nodiscard]] SourcePos keyPos(const std::string& path) const;

  [[nodiscard]] const Document& document() const { return *doc_; }

 private:
  const Value* find(const std::string& path) const;
  const Value* walk(std::string_view path) const;

  std::shared_ptr<const Document> doc_;
};

}  // namespace lens::json
