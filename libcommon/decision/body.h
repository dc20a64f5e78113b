#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/graphql/request.h"
#include "libcommon/mcp/request.h"
#include "libcommon/util/result.h"

namespace lens::decision {

// What body rules read of a request (original-behaviour 1.7, 5.8, 5.9):
// when a rule covering its method and path carries `graphql` (else `mcp`),
// the engine decides only once the door has read the body and classified it
// here (Decision::body says which), and decides again with the facts.
enum class BodyKind : std::uint8_t { kNone, kGraphql, kMcp };
[[nodiscard]] std::string_view toString(BodyKind kind);

// The limits a door reads a body within (--max-graphql-body, --max-mcp-body).
struct BodyLimits {
  std::size_t graphql = 64 * 1024;
  std::size_t mcp = mcp::kMaxBody;
  [[nodiscard]] std::size_t of(BodyKind kind) const {
    return kind == BodyKind::kMcp ? mcp : graphql;
  }
};

// What of the head classification reads besides method and target: every
// value of the headers MCP mirrors the body into.
struct BodyHeaders {
  std::vector<std::string> mcpMethod;
  std::vector<std::string> mcpName;
};

struct BodyFacts {
  BodyKind kind = BodyKind::kNone;
  // Why the body cannot be judged: kLimit (too large) or kInvalidInput
  // (malformed, a persisted query without its document, headers that
  // disagree with it); the engine denies with body-too-large or
  // body-malformed. nullopt when the facts below are set.
  std::optional<Error> problem;
  std::vector<graphql::Operation> operations;  // kGraphql: every operation the request runs
  std::optional<mcp::Request> mcp;             // kMcp

  // For audit events: "query GetViewer, mutation AddStar" (an unnamed
  // operation is its type alone); the MCP method and params.name. Never an
  // argument value.
  [[nodiscard]] std::string graphqlOperations() const;
  [[nodiscard]] std::string mcpMethod() const { return mcp ? mcp->method() : std::string(); }
  [[nodiscard]] std::string mcpTool() const {
    return mcp && mcp->name() ? *mcp->name() : std::string();
  }
};

// Classifies a body the door read whole (within its limit, de-chunked, not
// encoded) as `kind`. `target` is the request target (a GraphQL GET carries
// its document in the query string).
[[nodiscard]] BodyFacts classifyBody(BodyKind kind, std::string_view method,
                                     std::string_view target, std::string_view body,
                                     const BodyHeaders& headers);

// A body the door could not read (too large, encoded, malformed framing):
// facts carrying only the problem, so the engine's refusal names it.
[[nodiscard]] BodyFacts unreadableBody(BodyKind kind, Error problem);

}  // namespace lens::decision
