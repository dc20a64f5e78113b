// Audit lines received on lens-policy-sync's intake socket: acceptAuditLine.
// Invariants: no crash; a refused line has a message; an accepted line
// becomes one line (no newline) that is a valid spool record carrying the
// id given, and is refused a second time (it now has an id).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "libcommon/sync/audit_intake.h"
#include "libcommon/sync/spool.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "audit_intake_fuzz: invariant broken: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto record = lens::sync::acceptAuditLine(text, "0123456789abcdef-1");
  if (!record.ok()) {
    if (record.error().message.empty()) fail("a refused line without a message");
    return 0;
  }
  if (record->find('\n') != std::string::npos || record->find('\r') != std::string::npos) {
    fail("an accepted line spans several lines");
  }
  if (record->rfind("{\"id\":\"0123456789abcdef-1\"", 0) != 0) fail("the id is not first");
  if (!lens::sync::isSpoolRecord(*record)) fail("an accepted line is not a spool record");
  if (lens::sync::acceptAuditLine(*record, "x-2").ok()) fail("a line with an id accepted again");
  return 0;
}
