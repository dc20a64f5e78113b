// GraphQL documents (libcommon/graphql/document.h), as a request body
// brings them. Invariants: no crash, no unbounded recursion (the depth and
// token limits hold); a refusal has a "line:column: what" message or names
// the limit; an accepted document has at least one operation, every
// operation's root fields are non-empty names without duplicates, and the
// only operation is selected without a name. The same bytes as a POST
// body and as a GET query string (requestOperations): a refusal has a
// reason, an acceptance at most the batch limit of operations.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "libcommon/graphql/document.h"
#include "libcommon/graphql/request.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "graphql_document_fuzz: invariant broken: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  lens::graphql::Limits limits;
  limits.maxDepth = 64;
  limits.maxTokens = 4000;
  for (const bool post : {true, false}) {
    auto ops = lens::graphql::requestOperations(post ? "POST" : "GET", post ? "" : text,
                                                post ? text : "", limits);
    if (!ops && ops.error().message.empty()) fail("a refused request without a reason");
    if (ops && (ops->empty() || ops->size() > lens::graphql::kMaxBatch))
      fail("a request with no operation or too many");
  }
  auto doc = lens::graphql::parse(text, limits);
  if (!doc) {
    if (doc.error().message.empty()) fail("a refusal without a message");
    return 0;
  }
  if (doc->operations.empty()) fail("an accepted document without an operation");
  for (const auto& op : doc->operations) {
    std::set<std::string> seen;
    for (const auto& f : op.rootFields) {
      if (f.empty()) fail("an empty root field name");
      if (!seen.insert(f).second) fail("a root field listed twice");
    }
  }
  if (doc->operations.size() == 1 && !lens::graphql::select(*doc, std::nullopt))
    fail("the only operation is not selected");
  return 0;
}
