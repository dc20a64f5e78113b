#include "libcommon/mcp/request.h"

#include <utility>
#include <variant>

#include "libcommon/util/base64.h"
#include "libcommon/util/strings.h"

namespace lens::mcp {

namespace {

Error refuse(std::string why) { return Error{ErrorCode::kInvalidInput, std::move(why)}; }

// An optional string member: absent, or its text; an error for another type.
Result<std::optional<std::string>> optionalString(const json::Value* object, std::string_view key,
                                                  std::string_view where) {
  const json::Value* v = object ? object->find(key) : nullptr;
  if (!v) return std::optional<std::string>();
  if (!v->isString())
    return refuse(std::string(where) + "." + std::string(key) + " is not a string");
  return std::optional<std::string>(std::string(v->text()));
}

// An "=?base64?...?=" header value decoded; other values as they are.
std::optional<std::string> headerValue(std::string_view v) {
  constexpr std::string_view kOpen = "=?base64?";
  constexpr std::string_view kClose = "?=";
  if (v.size() >= kOpen.size() + kClose.size() && v.substr(0, kOpen.size()) == kOpen &&
      v.substr(v.size() - kClose.size()) == kClose)
    return util::base64Decode(v.substr(kOpen.size(), v.size() - kOpen.size() - kClose.size()));
  return std::string(v);
}

Status agree(std::string_view header, const std::vector<std::string>& values,
             const std::optional<std::string>& body) {
  if (values.empty()) return Ok{};
  if (values.size() > 1) return refuse("a repeated " + std::string(header) + " header");
  auto decoded = headerValue(values.front());
  if (!decoded) return refuse(std::string(header) + ": a malformed =?base64?...?= value");
  if (!body || *decoded != *body)
    return refuse(std::string(header) + " does not agree with the body");
  return Ok{};
}

}  // namespace

Result<Request> Request::parse(std::string_view httpMethod, std::string_view body) {
  if (httpMethod != "POST")
    return refuse("an MCP message by " + std::string(httpMethod) + " (POST only)");
  if (body.size() > kMaxBody)
    return Error{ErrorCode::kLimit, "an MCP body of " + std::to_string(body.size()) +
                                        " bytes (at most " + std::to_string(kMaxBody) + ")"};
  json::JsonLimits limits;
  limits.maxBytes = kMaxBody;
  limits.maxDepth = 64;
  limits.maxString = kMaxBody;
  auto parsed = json::parseBody(body, limits);
  if (!parsed) return parsed.error();
  Request r;
  r.doc_.emplace(std::move(*parsed));
  const json::Value& root = r.doc_->root();
  if (root.isArray()) return refuse("a JSON-RPC batch (one message per POST)");
  if (!root.isObject()) return refuse("the body is not a JSON-RPC object");
  const json::Value* version = root.find("jsonrpc");
  if (!version || !version->isString() || version->text() != "2.0")
    return refuse("not a JSON-RPC 2.0 message (\"jsonrpc\": \"2.0\")");
  const json::Value* method = root.find("method");
  if (!method) return refuse("a JSON-RPC message without \"method\" (not a request)");
  if (!method->isString()) return refuse("\"method\" is not a string");
  r.method_ = std::string(method->text());
  const json::Value* params = root.find("params");
  if (params && !params->isObject() && !params->isArray())
    return refuse("\"params\" is neither an object nor an array");
  const json::Value* object = params && params->isObject() ? params : nullptr;
  auto name = optionalString(object, "name", "params");
  if (!name) return name.error();
  auto uri = optionalString(object, "uri", "params");
  if (!uri) return uri.error();
  r.name_ = std::move(*name);
  r.uri_ = std::move(*uri);
  if (const json::Value* args = object ? object->find("arguments") : nullptr;
      args && !args->isObject())
    return refuse("params.arguments is not an object");
  return r;
}

const json::Value* Request::argument(std::string_view pointer) const {
  const json::Value* params = doc_->root().find("params");
  const json::Value* v = params && params->isObject() ? params->find("arguments") : nullptr;
  if (!v) return nullptr;
  if (pointer.empty()) return v;
  if (pointer.front() != '/') return nullptr;
  pointer.remove_prefix(1);
  while (true) {
    const std::size_t slash = pointer.find('/');
    const std::string_view raw = pointer.substr(0, slash);
    std::string token;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '~') {
        token += raw[i];
      } else if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token += raw[++i] == '0' ? '~' : '/';
      } else {
        return nullptr;  // "~" not followed by 0 or 1
      }
    }
    if (v->isObject()) {
      v = v->find(token);
    } else if (v->isArray()) {
      const auto index = util::parseDecimal(token, v->children().size());
      if (!index || *index >= v->children().size()) return nullptr;
      v = &v->children()[*index];
    } else {
      return nullptr;
    }
    if (!v || slash == std::string_view::npos) return v;
    pointer.remove_prefix(slash + 1);
  }
}

Status Request::checkHeaders(const std::vector<std::string>& mcpMethod,
                             const std::vector<std::string>& mcpName) const {
  if (Status s = agree("Mcp-Method", mcpMethod, method_); !s) return s;
  return agree("Mcp-Name", mcpName, name_);
}

bool covers(const Matcher& matcher, const Request& request) {
  if (!util::globMatch(matcher.method, request.method())) return false;
  if (matcher.tool && (!request.name() || !util::globMatch(*matcher.tool, *request.name())))
    return false;
  if (matcher.uri && (!request.uri() || !util::globMatch(*matcher.uri, *request.uri())))
    return false;
  for (const ArgumentMatch& a : matcher.arguments) {
    const json::Value* v = request.argument(a.pointer);
    if (!v || !v->isString() || !util::globMatch(a.glob, v->text())) return false;
  }
  return true;
}

}  // namespace lens::mcp
