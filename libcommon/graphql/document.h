#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/util/result.h"

namespace lens::graphql {

// A GraphQL executable document (the October 2021 specification, section
// 2), read for what body rules judge (original-behaviour 1.8, 5.8): each
// operation's type, name and root fields. Debian 12 packages no C or C++
// GraphQL parser (libgraphqlparser is not in the archive), so this is our
// own: one pass over the tokens, bounded in bytes, tokens and nesting.
//
// Refused (kInvalidInput with "line:column: what"): anything the grammar
// does not allow, type-system definitions (not executable), two operations
// or two fragments of one name, an anonymous operation beside others, a
// spread of a fragment that is not defined, a fragment named "on".
// kLimit: over a limit.

struct Limits {
  std::size_t maxBytes = 64 * 1024;
  std::size_t maxTokens = 20000;
  int maxDepth = 128;  // nested selection sets, values, types and lists
};

enum class OperationType : std::uint8_t { kQuery, kMutation, kSubscription };
[[nodiscard]] std::string_view toString(OperationType type);

struct Operation {
  OperationType type = OperationType::kQuery;
  std::string name;  // empty: anonymous
  // The real names (aliases resolved) of the fields selected at the root,
  // inline fragments and fragment spreads followed (each fragment once),
  // in the order first met, each once.
  std::vector<std::string> rootFields;
};

struct Document {
  std::vector<Operation> operations;
};

[[nodiscard]] Result<Document> parse(std::string_view text, const Limits& limits = {});

// The operation a request runs: the one named `operationName`, or the only
// one when no name is given. kInvalidInput when there is none such, or when
// several operations and no name.
[[nodiscard]] Result<const Operation*> select(const Document& document,
                                              std::optional<std::string_view> operationName);

}  // namespace lens::graphql
