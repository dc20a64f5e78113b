#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace lens::proxy {

// Bytes waiting to be written, consumed from the front.
class Buffer {
 public:
  [[nodiscard]] bool empty() const { return offset_ == data_.size(); }
  [[nodiscard]] std::size_t size() const { return data_.size() - offset_; }
  [[nodiscard]] const char* data() const { return data_.data() + offset_; }
  void append(std::string_view bytes) { data_.append(bytes); }
  void consume(std::size_t n) {
    offset_ += n;
    if (offset_ == data_.size()) clear();
  }
  void clear() {
    data_.clear();
    offset_ = 0;
  }

 private:
  std::string data_;
  std::size_t offset_ = 0;
};

}  // namespace lens::proxy
