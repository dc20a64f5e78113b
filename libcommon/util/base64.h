#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace lens::util {

// Standard base64 (RFC 4648 section 4, with padding), by OpenSSL.
std::string base64Encode(std::string_view bytes);

// Decodes standard base64 with padding; nullopt for anything else (a length
// that is not a multiple of 4, a character outside the alphabet, whitespace,
// padding in the middle).
std::optional<std::string> base64Decode(std::string_view text);

}  // namespace lens::util
