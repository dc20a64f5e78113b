#include "libcommon/lockdown/pinner.h"

#include <algorithm>

#include "libcommon/decision/safety_floor.h"
#include "libcommon/lockdown/ruleset.h"
#include "libcommon/nft/nft_context.h"

namespace lens::lockdown {

namespace {

constexpr std::size_t kMaxRemembered = 65536;

std::string element(const Pin& p) {
  return p.address.toString() + " . " + std::string(toString(p.protocol)) + " . " +
         std::to_string(p.port);
}

}  // namespace

std::uint32_t pinTimeout(std::uint32_t ttl) {
  return std::clamp(ttl, kMinPinSeconds, kMaxPinSeconds);
}

bool pinnable(const net::IpAddress& address) { return !decision::checkAddressFloor(address); }

Pinner::Pinner() : nft_(std::make_unique<nft::NftContext>()) {}
Pinner::~Pinner() = default;

std::string Pinner::script(const std::vector<Pin>& pins, std::uint32_t seconds) {
  const std::string table = std::string(kTableFamily) + " " + std::string(kTableName) + " ";
  std::string out;
  for (const Pin& p : pins) {
    const std::string set = table + std::string(p.address.isV4() ? kDynamicSet4 : kDynamicSet6);
    const std::string e = element(p);
    // add (a no-op when present) + delete + add: the new timeout applies
    // whether or not the element existed, atomically.
    out += "add element " + set + " { " + e + " timeout 1s }\n";
    out += "delete element " + set + " { " + e + " }\n";
    out += "add element " + set + " { " + e + " timeout " + std::to_string(seconds) + "s }\n";
  }
  return out;
}

Result<std::size_t> Pinner::pin(const std::vector<Pin>& pins, std::uint32_t seconds,
                                Clock::time_point now) {
  std::vector<Pin> due;
  for (const Pin& p : pins) {
    if (!pinnable(p.address)) continue;
    auto it = written_.find(element(p));
    if (it != written_.end()) {
      const auto age = now - it->second.at;
      const bool fresh = age < std::chrono::seconds(it->second.seconds) / 2;
      // Fresh and lasting at least as long as asked: nothing to do.
      const auto left = std::chrono::seconds(it->second.seconds) - age;
      if (fresh && left >= std::chrono::seconds(seconds) / 2) continue;
    }
    if (std::none_of(due.begin(), due.end(),
                     [&](const Pin& d) { return element(d) == element(p); })) {
      due.push_back(p);
    }
  }
  if (due.empty()) return std::size_t{0};
  auto result = nft_->run(script(due, seconds));
  if (!result) return result.error();
  if (written_.size() + due.size() > kMaxRemembered) written_.clear();
  for (const Pin& p : due) written_[element(p)] = Written{now, seconds};
  return due.size();
}

}  // namespace lens::lockdown
