#pragma once

#include <array>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string_view>

#include "libcommon/lockdown/ruleset.h"
#include "libcommon/util/result.h"

namespace lens::lockdown {

// The counters of one refusal reason in the installed cage: the packets its
// reject refused and those its log rule logged (the rest the kernel's rate
// limit kept from the log).
struct RefusalCount {
  std::uint64_t refused = 0;
  std::uint64_t logged = 0;
  std::optional<std::uint16_t> group;  // the NFLOG group the rule logs to

  [[nodiscard]] std::uint64_t notLogged() const { return refused > logged ? refused - logged : 0; }
};

// Indexed like kRefusals.
using RefusalCounters = std::array<RefusalCount, std::size(kRefusals)>;

// Reads the counters from the listing of the refusal chain (`list chain inet
// lens_sandbox filter_cage`): each log rule is found by its prefix, its
// reject is the counted rule right after it. An error (kNotFound) when a
// reason's rules are missing: a cage applied by an older lens-lockdown.
[[nodiscard]] Result<RefusalCounters> parseRefusalCounters(std::string_view listing);

}  // namespace lens::lockdown
