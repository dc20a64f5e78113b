#include "libcommon/util/hash.h"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

namespace lens::util {

std::string sha256Hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  // Fetched once: EVP_sha256() is looked up, under a lock, on every use.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (sha256 == nullptr ||
      EVP_Digest(data.data(), data.size(), digest.data(), &length, sha256, nullptr) != 1) {
    throw std::runtime_error("EVP_Digest(sha256) failed");  // only on a broken libcrypto
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

}  // namespace lens::util
