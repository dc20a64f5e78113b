#include "libcommon/json/document.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <unordered_set>

#include "libcommon/json/json_path.h"

namespace lens::json {

bool Value::isInteger() const {
  return isNumber() && text().find_first_of(".eE") == std::string_view::npos;
}

std::optional<std::int64_t> Value::int64() const {
  if (!isInteger()) return std::nullopt;
  std::int64_t n = 0;
  const auto [end, error] = std::from_chars(text_, text_ + size_, n);
  if (error != std::errc() || end != text_ + size_) return std::nullopt;
  return n;
}

const Value* Value::find(std::string_view key) const {
  if (!isObject()) return nullptr;
  for (const Value& member : children()) {
    if (member.key() == key) return &member;
  }
  return nullptr;
}

// Recursive-descent parser; recursion depth is bounded by JsonLimits::maxDepth.
// Values are built on a stack; when a container closes, its children move to
// the document's node vector, next to each other.
class DocumentBuilder {
 public:
  DocumentBuilder(std::string_view text, const JsonLimits& limits, Document& doc)
      : text_(text), limits_(limits), doc_(doc) {}

  std::optional<ParseError> run() {
    if (text_.size() > limits_.maxBytes) {
      return ParseError{{1, 1},
                        "",
                        "document is " + std::to_string(text_.size()) +
                            " bytes, over the limit of " + std::to_string(limits_.maxBytes)};
    }
    if (text_.starts_with("\xEF\xBB\xBF")) {  // tolerate a UTF-8 byte order mark
      advance(3);
      pos_.column = 1;  // editors do not show it, so it takes no column
    }
    skipSpace();
    if (atEnd()) return fail("empty document, expected a JSON value");
    if (!value(0)) return error_;
    skipSpace();
    if (!atEnd()) return fail("unexpected data after the JSON value");
    doc_.nodes_.push_back(stack_.back());
    for (Value& v : doc_.nodes_) {
      if (v.isArray() || v.isObject()) v.children_ = doc_.nodes_.data() + v.first_;
    }
    return std::nullopt;
  }

 private:
  // A step of the path to the value being read, kept for error messages.
  struct Step {
    std::string_view key;
    std::size_t index = 0;
    bool isIndex = false;
  };

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

  std::string path() const {
    std::string out;
    for (const Step& s : path_) out = s.isIndex ? indexPath(out, s.index) : childPath(out, s.key);
    return out;
  }

  std::optional<ParseError> fail(std::string message) {
    error_ = ParseError{pos_, path(), std::move(message)};
    return error_;
  }
  bool failed(std::string message) {
    fail(std::move(message));
    return false;
  }

  void skipSpace() {
    while (!atEnd()) {
      const char c = peek();
      if (c == ' ' || c == '\t' || c == '\r') {
        ++i_;
        ++pos_.column;
      } else if (c == '\n') {
        ++i_;
        ++pos_.line;
        pos_.column = 1;
      } else {
        return;
      }
    }
  }

  // Reads one value and pushes it on stack_.
  bool value(int depth) {
    if (atEnd()) return failed("unexpected end of document, expected a value");
    Value v;
    v.pos_ = pos_;
    v.keyPos_ = pos_;
    switch (peek()) {
      case '{':
        return object(v, depth + 1);
      case '[':
        return array(v, depth + 1);
      case '"': {
        v.kind_ = Kind::kString;
        if (!string(v.text_, v.size_)) return false;
        break;
      }
      case 't':
        v.kind_ = Kind::kBoolean;
        v.boolean_ = true;
        if (!literal("true")) return false;
        break;
      case 'f':
        v.kind_ = Kind::kBoolean;
        if (!literal("false")) return false;
        break;
      case 'n':
        if (!literal("null")) return false;
        break;
      default: {
        if (peek() != '-' && (peek() < '0' || peek() > '9'))
          return failed(describeUnexpected("a value"));
        const std::size_t begin = i_;
        if (!number()) return false;
        v.kind_ = Kind::kNumber;
        v.text_ = text_.data() + begin;
        v.size_ = i_ - begin;
        break;
      }
    }
    stack_.push_back(v);
    return true;
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

  // Moves the children of a container, stack_[mark...], to the document.
  void close(Value& container, std::size_t mark) {
    container.first_ = doc_.nodes_.size();
    container.size_ = stack_.size() - mark;
    doc_.nodes_.insert(doc_.nodes_.end(), stack_.begin() + static_cast<std::ptrdiff_t>(mark),
                       stack_.end());
    stack_.resize(mark);
    stack_.push_back(container);
  }

  bool duplicateKey(std::size_t mark, int depth, std::string_view key) {
    const std::size_t members = stack_.size() - mark;
    if (members < 16) {
      for (std::size_t k = mark; k < stack_.size(); ++k) {
        if (stack_[k].key() == key) return true;
      }
      return false;
    }
    // Large objects (maps): a set over the keys, filled once it is worth it.
    std::unordered_set<std::string_view>& seen = seenKeys_[static_cast<std::size_t>(depth)];
    if (seen.empty()) {
      for (std::size_t k = mark; k < stack_.size(); ++k) seen.insert(stack_[k].key());
    }
    return !seen.insert(key).second;
  }

  bool object(Value& v, int depth) {
    if (!enter(depth)) return false;
    v.kind_ = Kind::kObject;
    advance();  // '{'
    skipSpace();
    const std::size_t mark = stack_.size();
    if (!atEnd() && peek() == '}') {
      advance();
      close(v, mark);
      return true;
    }
    if (seenKeys_.size() <= static_cast<std::size_t>(depth))
      seenKeys_.resize(static_cast<std::size_t>(depth) + 1);
    seenKeys_[static_cast<std::size_t>(depth)].clear();
    while (true) {
      skipSpace();
      if (atEnd() || peek() != '"') return failed(describeUnexpected("a string key"));
      const SourcePos keyStart = pos_;
      const char* key = nullptr;
      std::size_t keySize = 0;
      if (!string(key, keySize)) return false;
      const std::string_view keyView(key, keySize);
      if (duplicateKey(mark, depth, keyView)) {
        pos_ = keyStart;
        path_.push_back(Step{keyView});
        return failed("duplicate key \"" + std::string(keyView) + "\"");
      }
      skipSpace();
      if (atEnd() || peek() != ':') return failed(describeUnexpected("':' after the key"));
      advance();
      skipSpace();
      path_.push_back(Step{keyView});
      if (!value(depth)) return false;
      path_.pop_back();
      Value& member = stack_.back();
      member.key_ = key;
      member.keySize_ = static_cast<std::uint32_t>(keySize);
      member.keyPos_ = keyStart;
      skipSpace();
      if (atEnd()) return failed("unexpected end of document, expected ',' or '}'");
      if (peek() == ',') {
        advance();
        continue;
      }
      if (peek() == '}') {
        advance();
        seenKeys_[static_cast<std::size_t>(depth)].clear();
        close(v, mark);
        return true;
      }
      return failed(describeUnexpected("',' or '}'"));
    }
  }

  bool array(Value& v, int depth) {
    if (!enter(depth)) return false;
    v.kind_ = Kind::kArray;
    advance();  // '['
    skipSpace();
    const std::size_t mark = stack_.size();
    if (!atEnd() && peek() == ']') {
      advance();
      close(v, mark);
      return true;
    }
    for (std::size_t index = 0;; ++index) {
      skipSpace();
      path_.push_back(Step{{}, index, true});
      if (!value(depth)) return false;
      path_.pop_back();
      skipSpace();
      if (atEnd()) return failed("unexpected end of document, expected ',' or ']'");
      if (peek() == ',') {
        advance();
        continue;
      }
      if (peek() == ']') {
        advance();
        close(v, mark);
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
      // Refused here, where its place is known, rather than wrapped (2^64 as 0)
      // or rounded to infinity by whoever reads it.
      pos_ = start;
      std::string shown(text_.substr(begin, std::min<std::size_t>(i_ - begin, 40)));
      if (i_ - begin > 40) shown += "...";
      return failed("number " + shown + " is out of range");
    }
    return true;
  }

  // Whether a number fits the 64-bit integer (signed, or unsigned when
  // positive) or the double it is read into. A double that underflows is
  // refused too: no policy field takes a fraction.
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

  // Reads a string at i_. Without escapes its text is a view of the
  // document's text; with them, a decoded copy.
  bool string(const char*& data, std::size_t& size) {
    advance();  // opening quote
    const std::size_t begin = i_;
    std::size_t length = 0;          // decoded bytes so far
    std::string* decoded = nullptr;  // set at the first escape
    while (true) {
      if (length > limits_.maxString) {
        return failed("string longer than " + std::to_string(limits_.maxString) + " bytes");
      }
      if (atEnd()) return failed("unterminated string");
      const auto c = static_cast<unsigned char>(peek());
      if (c == '"') {
        if (decoded == nullptr) {
          data = text_.data() + begin;
          size = i_ - begin;
        } else {
          data = decoded->data();
          size = decoded->size();
        }
        advance();
        return true;
      }
      if (c < 0x20) return failed("control character in string (escape it as \\u00XX)");
      if (c == '\\') {
        if (decoded == nullptr) decoded = &doc_.decoded_.emplace_back(text_.substr(begin, length));
        std::string& out = *decoded;
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
        length = out.size();
        continue;
      }
      if (c < 0x80) {
        // A run of plain ASCII (no quote, backslash or control character;
        // so no line break: one column each) at once, never past the limit.
        const std::size_t cap = std::min(text_.size(), i_ + (limits_.maxString - length) + 1);
        std::size_t j = i_ + 1;
        while (j < cap) {
          const auto b = static_cast<unsigned char>(text_[j]);
          if (b < 0x20 || b >= 0x80 || b == '"' || b == '\\') break;
          ++j;
        }
        if (decoded != nullptr) decoded->append(text_.substr(i_, j - i_));
        length += j - i_;
        pos_.column += static_cast<int>(j - i_);
        i_ = j;
        continue;
      }
      const std::size_t n = utf8Length();
      if (n == 0) return failed("invalid UTF-8 in string");
      if (decoded != nullptr) decoded->append(text_.substr(i_, n));
      length += n;
      advance(n);
    }
  }

  std::string_view text_;
  const JsonLimits& limits_;
  Document& doc_;
  std::size_t i_ = 0;
  SourcePos pos_;
  std::vector<Step> path_;
  std::vector<Value> stack_;
  // Per object depth: the keys of a large object, for duplicate detection.
  std::vector<std::unordered_set<std::string_view>> seenKeys_;
  ParseError error_;
};

std::variant<Document, ParseError> Document::parse(std::string_view text,
                                                   const JsonLimits& limits) {
  Document doc;
  if (text.size() <= limits.maxBytes) {
    doc.text_ = std::make_unique_for_overwrite<char[]>(text.size());
    if (!text.empty())
      std::memcpy(doc.text_.get(), text.data(), text.size());  // data() may be null
    text = std::string_view(doc.text_.get(), text.size());
  }
  // Every value but the first follows a ',' or opens a container: an upper
  // bound for the nodes, so that the node vector is not grown by copying.
  std::size_t bound = 1;
  for (char c : text) bound += c == ',' || c == '[' || c == '{';
  doc.nodes_.reserve(bound);
  DocumentBuilder builder(text, limits, doc);
  if (auto error = builder.run()) return *std::move(error);
  return doc;
}

Result<Document> parseBody(std::string_view text, const JsonLimits& limits) {
  auto parsed = Document::parse(text, limits);
  if (auto* e = std::get_if<ParseError>(&parsed))
    return Error{ErrorCode::kInvalidInput,
                 "the body is not one strict JSON value: " + std::to_string(e->pos.line) + ":" +
                     std::to_string(e->pos.column) + ": " + e->message};
  return std::move(std::get<Document>(parsed));
}

}  // namespace lens::json
