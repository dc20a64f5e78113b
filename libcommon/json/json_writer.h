#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace lens::json {

// Appends `s` to `out` as a JSON string literal, quotes included.
//
// Escapes '"', '\\', every control byte below 0x20 (\b \t \n \f \r in their
// short forms, the others as \u00XX) and DEL (0x7f, as \u007f). Valid UTF-8
// is copied through unchanged. Invalid UTF-8 (stray continuation bytes,
// C0/C1/F5..FF lead bytes, truncated sequences, overlong forms, surrogates
// U+D800..U+DFFF, code points above U+10FFFF) is replaced by U+FFFD, one
// replacement per maximal subpart (Unicode chapter 3, "U+FFFD substitution
// of maximal subparts"), so the output is always valid UTF-8 and valid JSON.
void appendString(std::string& out, std::string_view s);

// appendString() into a fresh string.
[[nodiscard]] std::string quote(std::string_view s);

namespace detail {
template <class T>
inline constexpr bool kIsCharType =
    std::is_same_v<T, char> || std::is_same_v<T, signed char> || std::is_same_v<T, unsigned char> ||
    std::is_same_v<T, wchar_t> || std::is_same_v<T, char8_t> || std::is_same_v<T, char16_t> ||
    std::is_same_v<T, char32_t>;

// Any arithmetic type except bool: these go to the number overloads so that
// an `int` is not ambiguous between std::int64_t and bool. Characters and
// floating point are rejected at compile time inside the overload.
template <class T>
concept NumberLike = std::is_arithmetic_v<T> && !std::is_same_v<T, bool>;
}  // namespace detail

// Builds one JSON object, members in insertion order, on a single line with
// no insignificant whitespace.
//
//   ObjectWriter w;
//   w.field("type", "audit_event").field("status_code", 403);
//   w.beginArray("tags").element("a").element(7).endArray();
//   std::string text = w.finish();  // {"type":"audit_event","status_code":403,"tags":["a",7]}
//
// Keys are escaped like values. Duplicate keys are not detected. Misuse (a
// field() inside an array, an element() inside an object, unbalanced
// end*(), finish() with open containers or twice) is a programmer error and
// throws std::logic_error.
//
// Overloads: a string literal or `const char*` is written as a string (never
// as bool); a null `const char*` is written as null. Integers of any width
// and signedness are written as numbers; bool as true/false.
class ObjectWriter {
 public:
  ObjectWriter();

  // Members of the current object.
  ObjectWriter& field(std::string_view key, std::string_view value);
  ObjectWriter& field(std::string_view key, const char* value);
  ObjectWriter& field(std::string_view key, bool value);
  template <detail::NumberLike T>
  ObjectWriter& field(std::string_view key, T value) {
    checkNumberType<T>();
    memberPrefix(key);
    appendNumber(value);
    return *this;
  }
  ObjectWriter& fieldNull(std::string_view key);
  // `json` must already be a complete JSON value; it is copied verbatim.
  ObjectWriter& fieldRaw(std::string_view key, std::string_view json);
  ObjectWriter& beginObject(std::string_view key);
  ObjectWriter& beginArray(std::string_view key);
  ObjectWriter& endObject();

  // Elements of the current array.
  ObjectWriter& element(std::string_view value);
  ObjectWriter& element(const char* value);
  ObjectWriter& element(bool value);
  template <detail::NumberLike T>
  ObjectWriter& element(T value) {
    checkNumberType<T>();
    elementPrefix();
    appendNumber(value);
    return *this;
  }
  ObjectWriter& elementNull();
  ObjectWriter& elementRaw(std::string_view json);
  ObjectWriter& beginObject();  // an object as an array element
  ObjectWriter& beginArray();   // an array as an array element
  ObjectWriter& endArray();

  // Closes the top-level object and returns the text. Call once.
  [[nodiscard]] std::string finish();

 private:
  struct Frame {
    bool isArray = false;
    bool empty = true;
  };

  template <class T>
  static constexpr void checkNumberType() {
    static_assert(std::is_integral_v<T>, "ObjectWriter: floating-point numbers are not supported");
    static_assert(!detail::kIsCharType<T>,
                  "ObjectWriter: a character is not a number; pass a std::string_view or an int");
  }
  template <class T>
  void appendNumber(T value) {
    if constexpr (std::is_signed_v<T>) {
      appendSigned(static_cast<std::int64_t>(value));
    } else {
      appendUnsigned(static_cast<std::uint64_t>(value));
    }
  }

  void memberPrefix(std::string_view key);
  void elementPrefix();
  void appendSigned(std::int64_t value);
  void appendUnsigned(std::uint64_t value);

  std::string out_;
  std::vector<Frame> stack_;
  bool finished_ = false;
};

}  // namespace lens::json
