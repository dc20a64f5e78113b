#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "libcommon/lockdown/allow_set.h"
#include "libcommon/net/ip_address.h"
#include "libcommon/util/result.h"

namespace lens::nft {
class NftContext;
}

namespace lens::lockdown {

// One destination lens-dns opens in the dynamic raw-allow sets.
struct Pin {
  net::IpAddress address;
  Protocol protocol = Protocol::kTcp;
  std::uint16_t port = 0;
};

// The timeout of a pin: the record's TTL clamped to [30 s, 3600 s].
inline constexpr std::uint32_t kMinPinSeconds = 30;
inline constexpr std::uint32_t kMaxPinSeconds = 3600;
std::uint32_t pinTimeout(std::uint32_t ttl);

// Whether an address may ever be pinned: never one the safety floor refuses
// (loopback, unspecified, link-local, and their IPv4-mapped forms).
bool pinnable(const net::IpAddress& address);

// Adds elements to raw4/raw6 of the lockdown table through libnftables and
// refreshes the timeouts of present ones (add, delete, add again in one
// transaction, so an element is never missing in between). A pin whose
// element was set less than half its timeout ago is not sent again.
class Pinner {
 public:
  using Clock = std::chrono::steady_clock;
  Pinner();
  ~Pinner();
  Pinner(const Pinner&) = delete;
  Pinner& operator=(const Pinner&) = delete;

  // Pins every pinnable address for `seconds` (already clamped). Returns the
  // number of elements written; kNotFound when the lockdown table or its sets
  // do not exist.
  Result<std::size_t> pin(const std::vector<Pin>& pins, std::uint32_t seconds,
                          Clock::time_point now);

  // The nftables commands pin() would run for these pins (for tests).
  static std::string script(const std::vector<Pin>& pins, std::uint32_t seconds);

 private:
  std::unique_ptr<nft::NftContext> nft_;
  // When each element was last written, and for how long.
  struct Written {
    Clock::time_point at;
    std::uint32_t seconds;
  };
  std::unordered_map<std::string, Written> written_;
};

}  // namespace lens::lockdown
