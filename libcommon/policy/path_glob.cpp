#include "libcommon/policy/path_glob.h"

#include <cstddef>
#include <optional>
#include <utility>

namespace lens::policy {

namespace {

// Enough passes to unwrap any encoding a client or intermediary plausibly
// applies; see the header.
constexpr int kMaxDecodePasses = 8;

std::optional<int> hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return std::nullopt;
}

// The escapes that can change how a path splits into segments, plus %25 so
// that %252e, %25252f and so on are unwrapped by later passes. Everything
// else stays encoded: the matcher compares encoded text with encoded text.
std::optional<char> decodeSeparatorEscape(int value) {
  switch (value) {
    case 0x2e:
      return '.';
    case 0x2f:
    case 0x5c:
      return '/';
    case 0x25:
      return '%';
    default:
      return std::nullopt;
  }
}

// One left-to-right pass; output produced by this pass is not re-scanned
// until the next one. Returns whether anything was decoded.
bool decodeOnce(std::string& path) {
  std::string out;
  out.reserve(path.size());
  bool changed = false;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size()) {
      const std::optional<int> hi = hexValue(path[i + 1]);
      const std::optional<int> lo = hexValue(path[i + 2]);
      if (hi && lo) {
        if (const std::optional<char> decoded = decodeSeparatorEscape(*hi * 16 + *lo)) {
          out.push_back(*decoded);
          i += 2;
          changed = true;
          continue;
        }
      }
    }
    out.push_back(path[i]);
  }
  path = std::move(out);
  return changed;
}

// Splits a path on '/' after dropping one leading '/', keeping empty
// segments: "/" is one empty segment, "/a/" is "a" and an empty segment.
std::vector<std::string_view> splitSegments(std::string_view path) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::vector<std::string_view> segments;
  while (true) {
    const std::size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

}  // namespace

std::string normalizePath(std::string_view rawPath) {
  const std::size_t queryOrFragment = rawPath.find_first_of("?#");
  if (queryOrFragment != std::string_view::npos) rawPath = rawPath.substr(0, queryOrFragment);

  std::string decoded(rawPath);
  for (int pass = 0; pass < kMaxDecodePasses && decodeOnce(decoded); ++pass) {
  }
  for (char& c : decoded) {
    if (c == '\\') c = '/';
  }

  std::vector<std::string_view> kept;
  std::string_view rest = decoded;
  while (!rest.empty()) {
    const std::size_t slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!kept.empty()) kept.pop_back();
      continue;
    }
    kept.push_back(segment);
  }

  if (kept.empty()) return "/";
  std::string result;
  result.reserve(decoded.size() + 1);
  for (const std::string_view segment : kept) {
    result.push_back('/');
    result.append(segment);
  }
  return result;
}

PathGlob::PathGlob(std::string_view pattern) : text_(pattern) {
  if (pattern == "*" || pattern == "**") {
    matchAll_ = true;
    return;
  }
  // A pattern is read the way its author means it: "/api/" and "/api//v1"
  // are "/api" and "/api/v1", because the paths they are matched against are
  // normalised and would otherwise never equal them. A pattern with no
  // segment at all ("", "/") names the root, which is one empty segment.
  for (const std::string_view segment : splitSegments(pattern)) {
    if (!segment.empty()) segments_.emplace_back(segment);
  }
  if (segments_.empty()) segments_.emplace_back();
}

bool PathGlob::matches(std::string_view normalizedPath) const {
  if (matchAll_) return true;
  if (segments_.empty()) return false;  // default-constructed: matches nothing

  const std::vector<std::string_view> path = splitSegments(normalizedPath);

  // Wildcard matching over segments: "**" plays the part of '*' and "*" of
  // '?' in the classic string algorithm. On a mismatch, resume after the
  // last "**" with it absorbing one more segment. Linear in the common case,
  // O(pattern * path) at worst, never exponential.
  std::size_t p = 0;
  std::size_t s = 0;
  std::optional<std::size_t> starP;
  std::size_t starS = 0;
  while (s < path.size()) {
    if (p < segments_.size() && segments_[p] == "**") {
      starP = p++;
      starS = s;
    } else if (p < segments_.size() && (segments_[p] == "*" || segments_[p] == path[s])) {
      ++p;
      ++s;
    } else if (starP) {
      p = *starP + 1;
      s = ++starS;
    } else {
      return false;
    }
  }
  while (p < segments_.size() && segments_[p] == "**") ++p;
  return p == segments_.size();
}

}  // namespace lens::policy
