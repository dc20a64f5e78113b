#pragma once

// Builds DNS wire bytes by hand for the DNS tests.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace lens::dns::test {

using Bytes = std::vector<std::uint8_t>;

inline void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

inline void put32(Bytes& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}

// "www.example.com" as uncompressed labels ("" is the root).
inline void putName(Bytes& b, std::string_view dotted) {
  std::size_t start = 0;
  while (start < dotted.size()) {
    auto dot = dotted.find('.', start);
    if (dot == std::string_view::npos) dot = dotted.size();
    b.push_back(static_cast<std::uint8_t>(dot - start));
    for (std::size_t i = start; i < dot; ++i) b.push_back(static_cast<std::uint8_t>(dotted[i]));
    start = dot + 1;
  }
  b.push_back(0);
}

}  // namespace lens::dns::test
