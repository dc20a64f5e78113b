#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lens::policy {

// Normalises a request target's path for rule matching:
//  - the query (from the first '?') and fragment are removed;
//  - percent-encoded separators are decoded, repeatedly (up to 8 passes, so
//    double encodings such as %252e are caught): %2e -> '.', %2f and %5c ->
//    '/', %25 -> '%' (case-insensitive, only when followed by two hex digits);
//    other escapes (such as %20) stay encoded;
//  - a literal '\' is folded to '/';
//  - "//" is collapsed, "." segments dropped, ".." pops a segment (never
//    above the root), a trailing '/' is stripped;
//  - the result always starts with '/' ("" -> "/").
std::string normalizePath(std::string_view rawPath);

// A path pattern from a policy rule. Segments are split on '/'; "*" matches
// exactly one segment (which may be empty, i.e. a trailing slash of the
// unnormalised form), "**" matches zero or more segments, any other segment
// must be equal. "*" or "**" alone match every path. Matching is done on a
// path already passed through normalizePath().
class PathGlob {
 public:
  PathGlob() = default;
  explicit PathGlob(std::string_view pattern);

  [[nodiscard]] bool matches(std::string_view normalizedPath) const;
  [[nodiscard]] const std::string& text() const { return text_; }

 private:
  std::string text_;
  bool matchAll_ = false;
  std::vector<std::string> segments_;
};

}  // namespace lens::policy
