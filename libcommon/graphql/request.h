#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/graphql/document.h"
#include "libcommon/json/document.h"
#include "libcommon/util/result.h"

namespace lens::graphql {

// What a GraphQL rule matches (original-behaviour 1.8): the operation's
// type (nullopt: `*`, any), a glob (util::globMatch) over its name (an unnamed operation is
// the empty name) and globs its root fields must each match one of.
struct Matcher {
  std::optional<OperationType> type;
  std::optional<std::string> operationName;
  std::vector<std::string> fields;  // empty: no condition on fields
};

// The matcher covers the operation whole: its type, its name, and every
// root field. A matcher that names fields never covers an introspection
// field (`__schema`, `__type`, ...) through a wildcard: only a pattern
// written with the leading "__" does.
[[nodiscard]] bool covers(const Matcher& matcher, const Operation& operation);

// The operations a request runs (original-behaviour 5.8), one per request
// object: GET takes the document from the query string (`query`,
// `operationName`; a GET with a body is refused, as are repeated `query`,
// `operationName` or `extensions` parameters), POST a JSON object or a batch
// (an array of at most 32 objects) with `query` and `operationName`; other
// methods are refused. A request object without a document (a persisted
// query sent by its hash or id alone) is refused: there is nothing to judge.
// The JSON is read strictly (duplicate keys, trailing bytes refused). Every
// refusal is kInvalidInput (kLimit over a limit) with the reason.
inline constexpr std::size_t kMaxBatch = 32;
[[nodiscard]] Result<std::vector<Operation>> requestOperations(std::string_view method,
                                                               std::string_view queryString,
                                                               std::string_view body,
                                                               const Limits& limits = {});

// The operation of one request object (`query`, `operationName`; a POST
// body, an item of a batch, the payload of a graphql-ws subscribe), refused
// as requestOperations refuses it.
[[nodiscard]] Result<Operation> objectOperation(const json::Value& object,
                                                const Limits& limits = {});

}  // namespace lens::graphql
