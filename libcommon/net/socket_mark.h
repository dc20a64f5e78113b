#pragma once

#include <cstdint>

#include "libcommon/util/result.h"

namespace lens::net {

// The mark of trusted traffic (DESIGN.md section 3): the cage lets packets
// carrying it pass, so every socket a daemon opens to the network has it.
inline constexpr std::uint32_t kTrustedMark = 0x4E585553;

enum class MarkResult {
  kMarked,
  kNotPermitted,  // EPERM: no CAP_NET_ADMIN or CAP_NET_RAW (unprivileged tests); tolerated
};

// Sets SO_MARK on `fd`. EPERM is not an error (see MarkResult); any other
// failure is kIo naming the system error.
[[nodiscard]] Result<MarkResult> markSocket(int fd, std::uint32_t mark = kTrustedMark);

}  // namespace lens::net
