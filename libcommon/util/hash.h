#pragma once

#include <string>
#include <string_view>

namespace lens::util {

// Lower-case hex SHA-256 of the bytes (OpenSSL).
std::string sha256Hex(std::string_view data);

}  // namespace lens::util
