#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace lens::policy::spec {

// A declarative description of the policy's JSON shape. The parser validates
// structure against it (types, required and unknown keys, enum values) and
// the schema generator turns it into the JSON Schema, so the two cannot drift.

enum class Kind : std::uint8_t {
  kString,
  kBoolean,
  kInteger,
  kEnum,       // string from a fixed list
  kObject,     // fixed keys
  kStringMap,  // object with arbitrary keys and string values
  kArray,
  kTagged,  // object whose `tag` key selects one of `variants`
};

struct Type;

struct Field {
  std::string_view name;
  const Type* type = nullptr;
  bool required = false;
  std::string_view description;
  bool deprecated = false;  // accepted for compatibility, ignored
};

struct Type {
  Kind kind = Kind::kString;
  std::string_view name;  // $defs name for objects, enums and tagged unions
  std::string_view description;
  std::vector<Field> fields;                                       // kObject
  const Type* items = nullptr;                                     // kArray
  std::vector<std::string_view> values;                            // kEnum
  std::string_view tag;                                            // kTagged
  std::vector<std::pair<std::string_view, const Type*>> variants;  // kTagged
  std::optional<std::int64_t> minimum;                             // kInteger
  std::optional<std::int64_t> maximum;                             // kInteger
  std::optional<std::size_t> minLength;                            // kString
  // Constraints the parser checks in code, stated for the JSON Schema too:
  std::string_view pattern;      // kString: an ECMA-262 regular expression
  std::string_view extraSchema;  // JSON object text merged into this type's schema
};

const Type& policyDocument();

// Keys a control-plane policy frame may carry beside the document.
const std::vector<std::string_view>& transportFields();

}  // namespace lens::policy::spec
