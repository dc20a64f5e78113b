#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

namespace lens::json {

// A 1-based line and column (columns count characters, not bytes).
struct SourcePos {
  int line = 1;
  int column = 1;
};

// Limits applied to untrusted JSON before anything else reads it.
struct JsonLimits {
  std::size_t maxBytes = 16u << 20;  // whole document
  int maxDepth = 64;                 // nested arrays/objects
  std::size_t maxString = 1u << 20;  // one string (decoded bytes)
};

// JSON paths as used in every diagnostic: `network.egress.tcp[2].match`.
// Keys that are not plain identifiers are quoted: `env["A.B"]`.
std::string childPath(std::string_view parent, std::string_view key);
std::string indexPath(std::string_view parent, std::size_t index);

// Where each value (and each object key) of a JSON document starts.
// Poco::JSON parses the values; it does not report positions, so this strict
// RFC 8259 scanner runs first: it enforces JsonLimits, refuses duplicate keys,
// invalid UTF-8, lone surrogates and NUL characters, and records positions by
// JSON path so that later validation errors can point at the source.
class SourceMap {
 public:
  struct ScanError {
    SourcePos pos;
    std::string path;
    std::string message;
  };

  static std::variant<SourceMap, ScanError> scan(std::string_view text,
                                                 const JsonLimits& limits = {});

  // Position of the value at `path`, or of its nearest recorded ancestor.
  [[nodiscard]] SourcePos valuePos(const std::string& path) const;
  // Position of the key naming `path` (its value's position for array items).
  [[nodiscard]] SourcePos keyPos(const std::string& path) const;

 private:
  struct Entry {
    SourcePos key;
    SourcePos value;
  };
  const Entry* find(const std::string& path) const;

  std::unordered_map<std::string, Entry> entries_;
  friend class JsonScanner;
};

}  // namespace lens::json
