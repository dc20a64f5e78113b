#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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

// A mark given on the command line as decimal or 0x-hex ("0x4e585553");
// `option` names it in the error ("--mark").
[[nodiscard]] Result<std::uint32_t> parseMark(std::string_view option, const std::string& text);

// Socket buffers of `bytes` each way, beyond net.core.[rw]mem_max when the
// process may (SO_*BUFFORCE), else as far as the limits allow: room for a
// burst of datagrams on one socket.
void growSocketBuffers(int fd, int bytes = 4 << 20);

}  // namespace lens::net
