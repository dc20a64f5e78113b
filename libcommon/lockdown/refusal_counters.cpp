#include "libcommon/lockdown/refusal_counters.h"

#include <charconv>

#include "libcommon/util/strings.h"

namespace lens::lockdown {

namespace {

// The number after `word` in `line` ("counter packets 12" -> 12).
std::optional<std::uint64_t> numberAfter(std::string_view line, std::string_view word) {
  const std::size_t at = line.find(word);
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view rest = line.substr(at + word.size());
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
  if (ec != std::errc() || end == rest.data()) return std::nullopt;
  return value;
}

}  // namespace

Result<RefusalCounters> parseRefusalCounters(std::string_view listing) {
  RefusalCounters counters;
  std::array<bool, std::size(kRefusals)> sawLog{}, sawReject{};
  constexpr std::size_t kNone = std::size(kRefusals);
  std::size_t pending = kNone;  // the reason whose reject comes next
  constexpr std::string_view kLog = "log prefix \"";
  for (std::string_view line : util::split(listing, '\n')) {
    if (const std::size_t at = line.find(kLog); at != std::string_view::npos) {
      pending = kNone;
      const std::string_view rest = line.substr(at + kLog.size());
      const std::string_view prefix = rest.substr(0, rest.find('"'));
      const Refusal* refusal = refusalForPrefix(prefix);
      if (refusal == nullptr) continue;
      const auto index = static_cast<std::size_t>(refusal - std::begin(kRefusals));
      RefusalCount& c = counters[index];
      c.logged = numberAfter(line, "counter packets ").value_or(0);
      if (auto group = numberAfter(rest, "\" group "); group && *group <= 0xffff) {
        c.group = static_cast<std::uint16_t>(*group);
      }
      sawLog[index] = true;
      pending = index;
      continue;
    }
    if (pending != kNone && line.find("reject") != std::string_view::npos) {
      if (auto refused = numberAfter(line, "counter packets ")) {
        counters[pending].refused = *refused;
        sawReject[pending] = true;
      }
      pending = kNone;
    }
  }
  for (std::size_t i = 0; i < std::size(kRefusals); ++i) {
    if (!sawLog[i] || !sawReject[i]) {
      return makeError(ErrorCode::kNotFound,
                       "the installed cage has no counted NFLOG rule with prefix \"" +
                           std::string(kRefusals[i].prefix) +
                           "\" (applied by an older lens-lockdown? apply it again)");
    }
  }
  return counters;
}

}  // namespace lens::lockdown
