// What lens-policy-sync reads back from its disk spool: isSpoolRecord on
// every line, parseCursor on the cursor file. Invariants: no crash; a
// parsed cursor formats back to text that parses to the same position.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "libcommon/sync/spool.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "spool_record_fuzz: invariant broken: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    if (lens::sync::isSpoolRecord(line) && line.find('\n') != std::string_view::npos)
      fail("a record with a newline");
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  if (auto cursor = lens::sync::parseCursor(text)) {
    auto again = lens::sync::parseCursor(lens::sync::formatCursor(*cursor));
    if (!again || *again != *cursor) fail("a cursor does not survive formatting");
  }
  return 0;
}
