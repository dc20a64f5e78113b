#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "libcommon/util/result.h"

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

// Why a text is not accepted: where, the path of the value being read, and what.
struct ParseError {
  SourcePos pos;
  std::string path;
  std::string message;
};

enum class Kind : std::uint8_t { kNull, kBoolean, kNumber, kString, kArray, kObject };

// One value of a Document, with where it starts in the text. Object members
// are values that also carry their key (and where the key starts); they keep
// the order of the text.
class Value {
 public:
  [[nodiscard]] Kind kind() const { return kind_; }
  [[nodiscard]] bool isNull() const { return kind_ == Kind::kNull; }
  [[nodiscard]] bool isBoolean() const { return kind_ == Kind::kBoolean; }
  [[nodiscard]] bool isNumber() const { return kind_ == Kind::kNumber; }
  [[nodiscard]] bool isString() const { return kind_ == Kind::kString; }
  [[nodiscard]] bool isArray() const { return kind_ == Kind::kArray; }
  [[nodiscard]] bool isObject() const { return kind_ == Kind::kObject; }

  [[nodiscard]] bool boolean() const { return boolean_; }
  // The decoded text of a string; the literal of a number.
  [[nodiscard]] std::string_view text() const { return {text_, size_}; }
  // A number written without fraction or exponent (what Poco::JSON reads as
  // an integer).
  [[nodiscard]] bool isInteger() const;
  // The value of an integer that fits int64_t.
  [[nodiscard]] std::optional<std::int64_t> int64() const;

  // Array items or object members, in the order of the text.
  [[nodiscard]] std::span<const Value> children() const {
    return {children_, isArray() || isObject() ? size_ : 0};
  }
  // The member named `key` of an object, or null.
  [[nodiscard]] const Value* find(std::string_view key) const;

  // The key of an object member.
  [[nodiscard]] std::string_view key() const { return {key_, keySize_}; }
  [[nodiscard]] SourcePos pos() const { return pos_; }
  // Where the key of an object member starts; pos() for other values.
  [[nodiscard]] SourcePos keyPos() const { return keyPos_; }

 private:
  friend class DocumentBuilder;
  friend class Document;

  const char* text_ = nullptr;       // string or number text
  const Value* children_ = nullptr;  // containers, after the document is complete
  const char* key_ = nullptr;
  std::size_t size_ = 0;   // text bytes, or number of children
  std::size_t first_ = 0;  // index of the first child while building
  std::uint32_t keySize_ = 0;
  Kind kind_ = Kind::kNull;
  bool boolean_ = false;
  SourcePos pos_;
  SourcePos keyPos_;
};

// A JSON document read in one pass by a strict RFC 8259 parser: it enforces
// JsonLimits, refuses duplicate keys, invalid UTF-8, lone surrogates, NUL
// characters and numbers that a 64-bit integer or a double cannot hold, and
// records where every value and key starts. A UTF-8 byte order mark is
// skipped. The document keeps its own copy of the text; strings without
// escapes are views into it.
class Document {
 public:
  static std::variant<Document, ParseError> parse(std::string_view text,
                                                  const JsonLimits& limits = {});

  [[nodiscard]] const Value& root() const { return nodes_.back(); }

 private:
  friend class DocumentBuilder;
  Document() = default;

  std::unique_ptr<char[]> text_;
  std::deque<std::string> decoded_;  // strings with escapes (stable addresses)
  std::vector<Value> nodes_;         // the root last
};

// Document::parse as a Result, for bodies a proxy judges: kInvalidInput
// "the body is not one strict JSON value: LINE:COLUMN: what".
[[nodiscard]] Result<Document> parseBody(std::string_view text, const JsonLimits& limits);

}  // namespace lens::json
