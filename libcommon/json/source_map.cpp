#include "libcommon/json/source_map.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <unordered_set>

namespace lens::json {

namespace {

bool isIdentifier(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '$';
    if (!ok) return false;
  }
  return true;
}

void appendQuoted(std::string& out, std::string_view key) {
  out += "[\"";
  for (char c : key) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += "\"]";
}

}  // namespace

std::string childPath(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (isIdentifier(key)) {
    if (!out.empty()) out += '.';
    out += key;
  } else {
    appendQuoted(out, key);
  }
  return out;
}

std::string indexPath(std::string_view parent, std::size_t index) {
  std::string out(parent);
  out += '[';
  out += std::to_string(index);
  out += ']';
  return out;
}

// Recursive-descent scanner; recursion depth is bounded by JsonLimits::maxDepth.
class JsonScanner {
 public:
  JsonScanner(std::string_view text, const JsonLimits& limits, SourceMap& map)
      : text_(text), limits_(limits), map_(map) {}

  std::optional<SourceMap::ScanError> run() {
    if (text_.size() > limits_.maxBytes) {
      return SourceMap::ScanError{{1, 1},
                                  "",
                                  "document is " + std::to_string(text_.size()) +
                                      " bytes, over the limit of " +
                                      std::to_string(limits_.maxBytes)};
    }
    if (text_.starts_with("\xEF\xBB\xBF")) {  // tolerate a UTF-8 byte order mark
      advance(3);
      pos_.column = 1;  // editors do not show it, so it takes no column
    }
    skipSpace();
    if (atEnd()) return fail("empty document, expected a JSON value");
    const SourcePos start = pos_;
    if (!value("", 0)) return error_;
    map_.entries_[""] = {start, start};
    skipSpace();
    if (!atEnd()) return fail("unexpected data after the JSON value");
    return std::nullopt;
  }

 private:
  bool atEnd() const { return i_ >= text_.size(); }
  char peek() const { return text_[i_]; }

  void advance(std::size_t n = 1) {
    for (std::size_t k = 0; k < n && i_ < text_.size(); ++k, ++i_) {
      const auto c = static_cast<unsigned char>(text_[i_]);
      if (c == '\n') {
        ++pos_.line;
        pos_.column = 1;
      } else if ((c & 0xC0) != 0x80) {  // continuation bytes do not start a column
        ++pos_.column;
      }
    }
  }

  std::optional<SourceMap::ScanError> fail(std::string message) {
    error_ = SourceMap::ScanError{pos_, path_, std::move(message)};
    return error_;
  }
  bool failed(std::string message) {
    fail(std::move(message));
    return false;
  }

  void skipSpace() {
    while (!atEnd() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) {
      advance();
    }
  }

  bool value(const std::string& path, int depth) {
    path_ = path;
    if (atEnd()) return failed("unexpected end of document, expected a value");
    switch (peek()) {
      case '{':
        return object(path, depth + 1);
      case '[':
        return array(path, depth + 1);
      case '"': {
        std::string ignored;
        return string(ignored);
      }
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return number();
        return failed(describeUnexpected("a value"));
    }
  }

  std::string describeUnexpected(std::string_view expected) const {
    if (atEnd()) return "unexpected end of document, expected " + std::string(expected);
    const auto c = static_cast<unsigned char>(peek());
    std::string shown =
        (c >= 0x21 && c < 0x7f) ? std::string("'") + peek() + "'" : "byte " + std::to_string(c);
    return "unexpected " + shown + ", expected " + std::string(expected);
  }

  bool enter(int depth) {
    if (depth > limits_.maxDepth) {
      return failed("nesting deeper than " + std::to_string(limits_.maxDepth) + " levels");
    }
    return true;
  }

  bool object(const std::string& path, int depth) {
    if (!enter(depth)) return false;
    advance();  // '{'
    skipSpace();
    std::unordered_set<std::string> seen;
    if (!atEnd() && peek() == '}') {
      advance();
      return true;
    }
    while (true) {
      skipSpace();
      if (atEnd() || peek() != '"') return failed(describeUnexpected("a string key"));
      const SourcePos keyStart = pos_;
      std::string key;
      if (!string(key)) return false;
      const std::string child = childPath(path, key);
      if (!seen.insert(key).second) {
        pos_ = keyStart;
        path_ = child;
        return failed("duplicate key \"" + key + "\"");
      }
      skipSpace();
      if (atEnd() || peek() != ':') return failed(describeUnexpected("':' after the key"));
      advance();
      skipSpace();
      const SourcePos valueStart = pos_;
      map_.entries_[child] = {keyStart, valueStart};
      if (!value(child, depth)) return false;
      path_ = path;
      skipSpace();
      if (atEnd()) return failed("unexpected end of document, expected ',' or '}'");
      if (peek() == ',') {
        advance();
        continue;
      }
      if (peek() == '}') {
        advance();
        return true;
      }
      return failed(describeUnexpected("',' or '}'"));
    }
  }

  bool array(const std::string& path, int depth) {
    if (!enter(depth)) return false;
    advance();  // '['
    skipSpace();
    if (!atEnd() && peek() == ']') {
      advance();
      return true;
    }
    for (std::size_t index = 0;; ++index) {
      skipSpace();
      const std::string child = indexPath(path, index);
      const SourcePos start = pos_;
      map_.entries_[child] = {start, start};
      if (!value(child, depth)) return false;
      path_ = path;
      skipSpace();
      if (atEnd()) return failed("unexpected end of document, expected ',' or ']'");
      if (peek() == ',') {
        advance();
        continue;
      }
      if (peek() == ']') {
        advance();
        return true;
      }
      return failed(describeUnexpected("',' or ']'"));
    }
  }

  bool literal(std::string_view word) {
    if (text_.substr(i_, word.size()) != word) return failed(describeUnexpected("a value"));
    advance(word.size());
    return true;
  }

  bool digits() {
    if (atEnd() || peek() < '0' || peek() > '9') return failed(describeUnexpected("a digit"));
    while (!atEnd() && peek() >= '0' && peek() <= '9') advance();
    return true;
  }

  bool number() {
    const std::size_t begin = i_;
    const SourcePos start = pos_;
    if (peek() == '-') advance();
    if (!atEnd() && peek() == '0') {
      advance();
      if (!atEnd() && peek() >= '0' && peek() <= '9')
        return failed("numbers must not have leading zeros");
    } else if (!digits()) {
      return false;
    }
    if (!atEnd() && peek() == '.') {
      advance();
      if (!digits()) return false;
    }
    if (!atEnd() && (peek() == 'e' || peek() == 'E')) {
      advance();
      if (!atEnd() && (peek() == '+' || peek() == '-')) advance();
      if (!digits()) return false;
    }
    if (!representable(text_.substr(begin, i_ - begin))) {
      // Poco would wrap such an integer silently (2^64 reads as 0) or fail
      // without a position; refuse it here, where its place is known.
      pos_ = start;
      std::string shown(text_.substr(begin, std::min<std::size_t>(i_ - begin, 40)));
      if (i_ - begin > 40) shown += "...";
      return failed("number " + shown + " is out of range");
    }
    return true;
  }

  // Whether a number fits the 64-bit integer (signed, or unsigned when
  // positive) or the double that Poco::JSON reads it into. A double that
  // underflows is refused too: no policy field takes a fraction.
  static bool representable(std::string_view literal) {
    const bool integer = literal.find_first_of(".eE") == std::string_view::npos;
    if (integer) {
      const bool negative = literal.front() == '-';
      std::string_view digits = negative ? literal.substr(1) : literal;
      constexpr std::string_view kMaxUnsigned = "18446744073709551615";
      constexpr std::string_view kMinSigned = "9223372036854775808";  // magnitude of INT64_MIN
      const std::string_view limit = negative ? kMinSigned : kMaxUnsigned;
      return digits.size() < limit.size() || (digits.size() == limit.size() && digits <= limit);
    }
    double value = 0;
    const auto [end, error] =
        std::from_chars(literal.data(), literal.data() + literal.size(), value);
    return error == std::errc() && end == literal.data() + literal.size() && std::isfinite(value);
  }

  static int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  std::optional<std::uint32_t> hex4() {
    if (text_.size() - i_ < 4) return std::nullopt;
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const int h = hexValue(text_[i_ + static_cast<std::size_t>(k)]);
      if (h < 0) return std::nullopt;
      v = v * 16 + static_cast<std::uint32_t>(h);
    }
    advance(4);
    return v;
  }

  static void appendUtf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // Length of the valid UTF-8 sequence at i_, or 0.
  std::size_t utf8Length() const {
    const auto b0 = static_cast<unsigned char>(text_[i_]);
    std::size_t n = 0;
    std::uint32_t min = 0;
    std::uint32_t cp = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      n = 2, min = 0x80, cp = b0 & 0x1Fu;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      n = 3, min = 0x800, cp = b0 & 0x0Fu;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      n = 4, min = 0x10000, cp = b0 & 0x07u;
    } else {
      return 0;
    }
    if (text_.size() - i_ < n) return 0;
    for (std::size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(text_[i_ + k]);
      if ((b & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
  }

  bool string(std::string& out) {
    advance();  // opening quote
    while (true) {
      if (out.size() > limits_.maxString) {
        return failed("string longer than " + std::to_string(limits_.maxString) + " bytes");
      }
      if (atEnd()) return failed("unterminated string");
      const auto c = static_cast<unsigned char>(peek());
      if (c == '"') {
        advance();
        return true;
      }
      if (c < 0x20) return failed("control character in string (escape it as \\u00XX)");
      if (c == '\\') {
        advance();
        if (atEnd()) return failed("unterminated escape sequence");
        const char e = peek();
        advance();
        switch (e) {
          case '"':
            out += '"';
            break;
          case '\\':
            out += '\\';
            break;
          case '/':
            out += '/';
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'n':
            out += '\n';
            break;
          case 'r':
            out += '\r';
            break;
          case 't':
            out += '\t';
            break;
          case 'u': {
            auto cp = hex4();
            if (!cp) return failed("invalid \\u escape (expected four hex digits)");
            if (*cp == 0) return failed("NUL character (\\u0000) is not allowed");
            if (*cp >= 0xDC00 && *cp <= 0xDFFF) return failed("unpaired surrogate in \\u escape");
            if (*cp >= 0xD800 && *cp <= 0xDBFF) {
              if (text_.substr(i_, 2) != "\\u") return failed("unpaired surrogate in \\u escape");
              advance(2);
              auto low = hex4();
              if (!low || *low < 0xDC00 || *low > 0xDFFF) {
                return failed("unpaired surrogate in \\u escape");
              }
              *cp = 0x10000 + ((*cp - 0xD800) << 10) + (*low - 0xDC00);
            }
            appendUtf8(out, *cp);
            break;
          }
          default:
            return failed(std::string("invalid escape sequence \\") + e);
        }
        continue;
      }
      if (c < 0x80) {
        out += static_cast<char>(c);
        advance();
        continue;
      }
      const std::size_t n = utf8Length();
      if (n == 0) return failed("invalid UTF-8 in string");
      out.append(text_.substr(i_, n));
      advance(n);
    }
  }

  std::string_view text_;
  const JsonLimits& limits_;
  SourceMap& map_;
  std::size_t i_ = 0;
  SourcePos pos_;
  std::string path_;
  SourceMap::ScanError error_;
};

std::variant<SourceMap, SourceMap::ScanError> SourceMap::scan(std::string_view text,
                                                              const JsonLimits& limits) {
  SourceMap map;
  JsonScanner scanner(text, limits, map);
  if (auto error = scanner.run()) return *error;
  return map;
}

const SourceMap::Entry* SourceMap::find(const std::string& path) const {
  std::string p = path;
  while (true) {
    if (auto it = entries_.find(p); it != entries_.end()) return &it->second;
    if (p.empty()) return nullptr;
    // Strip the last component: ".key", "[n]" or "[\"key\"]".
    const std::size_t dot = p.rfind('.');
    const std::size_t bracket = p.rfind('[');
    const std::size_t cut = (dot == std::string::npos)       ? bracket
                            : (bracket == std::string::npos) ? dot
                                                             : std::max(dot, bracket);
    p.resize(cut == std::string::npos ? 0 : cut);
  }
}

SourcePos SourceMap::valuePos(const std::string& path) const {
  const Entry* e = find(path);
  return e ? e->value : SourcePos{};
}

SourcePos SourceMap::keyPos(const std::string& path) const {
  const Entry* e = find(path);
  return e ? e->key : SourcePos{};
}

}  // namespace lens::json
