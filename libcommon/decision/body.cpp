#include "libcommon/decision/body.h"

namespace lens::decision {

std::string_view toString(BodyKind kind) {
  switch (kind) {
    case BodyKind::kNone:
      return "none";
    case BodyKind::kGraphql:
      return "graphql";
    case BodyKind::kMcp:
      return "mcp";
  }
  return "none";
}

std::string BodyFacts::graphqlOperations() const {
  std::string out;
  for (const graphql::Operation& op : operations) {
    if (!out.empty()) out += ", ";
    out += graphql::toString(op.type);
    if (!op.name.empty()) out += " " + op.name;
  }
  return out;
}

BodyFacts classifyBody(BodyKind kind, std::string_view method, std::string_view target,
                       std::string_view body, const BodyHeaders& headers) {
  BodyFacts facts;
  facts.kind = kind;
  if (kind == BodyKind::kGraphql) {
    const std::size_t q = target.find('?');
    const std::string_view query =
        q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
    auto ops = graphql::requestOperations(method, query, body);
    if (!ops) {
      // The body's size was the door's to check; a document over the
      // parser's token or nesting limits, a batch over 32, cannot be judged.
      facts.problem = Error{ErrorCode::kInvalidInput, ops.error().message};
      return facts;
    }
    facts.operations = std::move(ops).value();
  } else if (kind == BodyKind::kMcp) {
    auto request = mcp::Request::parse(method, body);
    if (!request) {
      facts.problem = request.error();
      return facts;
    }
    if (auto agreed = request->checkHeaders(headers.mcpMethod, headers.mcpName); !agreed) {
      facts.problem = agreed.error();
      return facts;
    }
    facts.mcp = std::move(request).value();
  }
  return facts;
}

BodyFacts unreadableBody(BodyKind kind, Error problem) {
  BodyFacts facts;
  facts.kind = kind;
  facts.problem = std::move(problem);
  return facts;
}

}  // namespace lens::decision
