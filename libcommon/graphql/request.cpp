#include "libcommon/graphql/request.h"

#include <utility>

#include "libcommon/json/document.h"
#include "libcommon/util/strings.h"

namespace lens::graphql {

namespace {

Error refuse(std::string why) { return Error{ErrorCode::kInvalidInput, std::move(why)}; }

// The one operation a document and its operationName select, copied out.
Result<Operation> operationOf(std::string_view document, std::optional<std::string_view> name,
                              const Limits& limits) {
  auto doc = parse(document, limits);
  if (!doc) return doc.error();
  auto op = select(*doc, name);
  if (!op) return op.error();
  return **op;
}

}  // namespace

Result<Operation> objectOperation(const json::Value& object, const Limits& limits) {
  if (!object.isObject()) return refuse("a GraphQL request that is not a JSON object");
  const json::Value* query = object.find("query");
  if (!query || query->isNull()) {
    const bool persisted = object.find("extensions") || object.find("id") ||
                           object.find("documentId") || object.find("queryId");
    return refuse(persisted ? "a persisted query sent without its document (nothing to judge)"
                            : "a GraphQL request without \"query\"");
  }
  if (!query->isString()) return refuse("\"query\" is not a string");
  std::optional<std::string_view> name;
  if (const json::Value* n = object.find("operationName"); n && !n->isNull()) {
    if (!n->isString()) return refuse("\"operationName\" is not a string");
    name = n->text();
  }
  return operationOf(query->text(), name, limits);
}

bool covers(const Matcher& matcher, const Operation& operation) {
  if (matcher.type && *matcher.type != operation.type) return false;
  if (matcher.operationName && !util::globMatch(*matcher.operationName, operation.name))
    return false;
  if (matcher.fields.empty()) return true;
  for (const std::string& field : operation.rootFields) {
    const bool introspection = field.rfind("__", 0) == 0;
    bool matched = false;
    for (const std::string& pattern : matcher.fields) {
      if (introspection && pattern.rfind("__", 0) != 0) continue;
      if (util::globMatch(pattern, field)) {
        matched = true;
        break;
      }
    }
    if (!matched) return false;
  }
  return true;
}

Result<std::vector<Operation>> requestOperations(std::string_view method,
                                                 std::string_view queryString,
                                                 std::string_view body, const Limits& limits) {
  std::vector<Operation> out;
  if (method == "GET") {
    if (!body.empty()) return refuse("a GraphQL GET with a body");
    std::optional<std::string> query;
    std::optional<std::string> name;
    bool extensions = false;
    bool persisted = false;
    while (!queryString.empty()) {
      const std::size_t amp = queryString.find('&');
      const std::string_view pair = queryString.substr(0, amp);
      queryString =
          amp == std::string_view::npos ? std::string_view() : queryString.substr(amp + 1);
      const std::size_t eq = pair.find('=');
      auto key = util::formDecode(pair.substr(0, eq));
      auto value =
          util::formDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
      if (!key || !value) return refuse("a malformed query string");
      if (*key == "query" || *key == "operationName" || *key == "extensions") {
        std::optional<std::string>& slot = *key == "query" ? query : name;
        const bool repeated = *key == "extensions" ? extensions : slot.has_value();
        if (repeated) return refuse("a repeated \"" + *key + "\" parameter");
        if (*key == "extensions") {
          extensions = true;
        } else {
          slot = std::move(*value);
        }
      } else if (*key == "id" || *key == "documentId" || *key == "queryId") {
        if (persisted) return refuse("more than one of id, documentId and queryId");
        persisted = true;
      }
    }
    if (!query) {
      return refuse(persisted || extensions
                        ? "a persisted query sent without its document (nothing to judge)"
                        : "a GraphQL GET without a \"query\" parameter");
    }
    auto op =
        operationOf(*query, name ? std::optional<std::string_view>(*name) : std::nullopt, limits);
    if (!op) return op.error();
    out.push_back(std::move(*op));
    return out;
  }
  if (method != "POST")
    return refuse("a GraphQL request by " + std::string(method) + " (GET or POST only)");
  json::JsonLimits jl;
  jl.maxBytes = limits.maxBytes;
  jl.maxDepth = 32;
  jl.maxString = limits.maxBytes;
  auto parsed = json::parseBody(body, jl);
  if (!parsed) return parsed.error();
  const json::Value& root = parsed->root();
  if (root.isArray()) {
    if (root.children().empty()) return refuse("an empty batch");
    if (root.children().size() > kMaxBatch)
      return Error{ErrorCode::kLimit, "a batch of " + std::to_string(root.children().size()) +
                                          " operations (at most " + std::to_string(kMaxBatch) +
                                          ")"};
    for (const json::Value& item : root.children()) {
      auto op = objectOperation(item, limits);
      if (!op) return op.error();
      out.push_back(std::move(*op));
    }
    return out;
  }
  auto op = objectOperation(root, limits);
  if (!op) return op.error();
  out.push_back(std::move(*op));
  return out;
}

}  // namespace lens::graphql
