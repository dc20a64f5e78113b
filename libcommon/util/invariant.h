#pragma once

#include <cstdio>
#include <cstdlib>

// LENS_INVARIANT(condition, what): a condition the code relies on to enforce
// the policy, checked in release builds too. A broken one is a bug: the
// daemon says where and stops (fail closed) rather than go on with state it
// no longer understands. `what` says what was expected, for the report.
#define LENS_INVARIANT(condition, what) \
  ((condition) ? static_cast<void>(0)   \
               : ::lens::util::invariantBroken(#condition, what, __FILE__, __LINE__))

namespace lens::util {

[[noreturn]] inline void invariantBroken(const char* condition, const char* what, const char* file,
                                         int line) {
  std::fprintf(stderr, "lens: invariant broken at %s:%d: %s (%s); stopping\n", file, line, what,
               condition);
  std::abort();
}

}  // namespace lens::util
