#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/json/document.h"
#include "libcommon/util/result.h"

namespace lens::mcp {

// An MCP request as a proxy judges it (original-behaviour 5.9, MCP over
// streamable HTTP: every JSON-RPC message is a POST of its own): the
// JSON-RPC method, params.name (tools/call, prompts/get), params.uri
// (resources/read) and params.arguments.
inline constexpr std::size_t kMaxBody = 1024 * 1024;

class Request {
 public:
  // One JSON-RPC object with a string "method" ("jsonrpc": "2.0"), read
  // strictly (duplicate keys, trailing bytes refused); a batch (an array),
  // another method than POST, a body over kMaxBody (kLimit), a non-string
  // params.name or params.uri, non-object params or arguments are refused
  // with the reason (kInvalidInput).
  [[nodiscard]] static Result<Request> parse(std::string_view httpMethod, std::string_view body);

  [[nodiscard]] const std::string& method() const { return method_; }
  [[nodiscard]] const std::optional<std::string>& name() const { return name_; }
  [[nodiscard]] const std::optional<std::string>& uri() const { return uri_; }
  // The value a JSON pointer (RFC 6901) names inside params.arguments, or
  // null (no arguments, no such member, a malformed pointer).
  [[nodiscard]] const json::Value* argument(std::string_view pointer) const;

  // The mirrored headers (Mcp-Method, Mcp-Name; every value each had, so
  // that a repeated one is seen): present, each must be one value equal to
  // the body's (an "=?base64?...?=" value is decoded first). kInvalidInput
  // with the reason otherwise.
  [[nodiscard]] Status checkHeaders(const std::vector<std::string>& mcpMethod,
                                    const std::vector<std::string>& mcpName) const;

 private:
  Request() = default;
  std::optional<json::Document> doc_;
  std::string method_;
  std::optional<std::string> name_;
  std::optional<std::string> uri_;
};

// What an MCP rule matches: a method glob (required), optional tool and uri
// globs, and arguments by JSON pointer whose string values must match a
// glob (util::globMatch). One rule covers a request alone.
struct ArgumentMatch {
  std::string pointer;
  std::string glob;
};
struct Matcher {
  std::string method;
  std::optional<std::string> tool;
  std::optional<std::string> uri;
  std::vector<ArgumentMatch> arguments;
};
[[nodiscard]] bool covers(const Matcher& matcher, const Request& request);

}  // namespace lens::mcp
