#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace lens::proxy {

// Bytes waiting to be written, consumed from the front. Its memory stays
// within about twice the bytes waiting (and kCompactAt).
class Buffer {
 public:
  static constexpr std::size_t kCompactAt = 64 * 1024;
  [[nodiscard]] bool empty() const { return offset_ == data_.size(); }
  [[nodiscard]] std::size_t size() const { return data_.size() - offset_; }
  [[nodiscard]] const char* data() const { return data_.data() + offset_; }
  void append(std::string_view bytes) { data_.append(bytes); }
  void consume(std::size_t n) {
    offset_ += n;
    if (offset_ == data_.size()) {
      clear();
    } else if (offset_ >= kCompactAt && offset_ >= data_.size() / 2) {
      // A reader that lags keeps the buffer from emptying: drop what was
      // written, or the string grows by everything that ever passed.
      data_.erase(0, offset_);
      offset_ = 0;
    }
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
