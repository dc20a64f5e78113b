#pragma once

#include <cstddef>
#include <string>

namespace lens::util {

// `bytes` random bytes from the kernel (getrandom), in lower-case hex.
// Throws std::runtime_error when the kernel gives none (fatal).
[[nodiscard]] std::string randomHex(std::size_t bytes);

}  // namespace lens::util
