// MCP request bodies (libcommon/mcp/request.h). Invariants: no crash; a
// refusal has a reason; an accepted request has a method, its arguments
// answer JSON pointers (including malformed ones) without crashing, a
// matcher for its own method covers it, and headers equal to its own
// method and name agree.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "libcommon/mcp/request.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "mcp_request_fuzz: invariant broken: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto request = lens::mcp::Request::parse("POST", text);
  if (!request) {
    if (request.error().message.empty()) fail("a refusal without a reason");
    return 0;
  }
  for (std::string_view pointer : {"", "/", "/a", "/a/0", "/~0/~1", "/~", "/0/1/2/3", "x"})
    (void)request->argument(pointer);
  lens::mcp::Matcher own;
  own.method = request->method();
  for (char& c : own.method)
    if (c == '*' || c == '?') c = '?';  // a glob that still matches the method itself
  if (!lens::mcp::covers(own, *request)) fail("a matcher of its own method does not cover it");
  const std::vector<std::string> names =
      request->name() ? std::vector<std::string>{*request->name()} : std::vector<std::string>{};
  // (A value written "=?base64?...?=" is read as encoded: not its own text then.)
  const auto sentinel = [](std::string_view v) { return v.rfind("=?base64?", 0) == 0; };
  const bool plain =
      !sentinel(request->method()) && !(request->name() && sentinel(*request->name()));
  if (plain && !request->checkHeaders({request->method()}, names))
    fail("its own headers do not agree");
  return 0;
}
