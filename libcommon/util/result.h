#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace lens {

// Broad classes of expected failure. Each maps onto one exit code (see
// exit_code.h) when a tool gives up because of it.
enum class ErrorCode {
  kInvalidArgument,  // bad usage or malformed input on the command line
  kInvalidInput,     // malformed bytes from a file, socket or peer
  kInvalidPolicy,    // a policy or configuration that fails validation
  kDenied,           // refused by policy
  kNotFound,
  kIo,          // a system call failed
  kPermission,  // missing privilege or kernel feature
  kTimeout,
  kLimit,  // an input limit was exceeded
  kInternal,
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

// Expected failures are values: a Result holds either a T or an Error.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  [[nodiscard]] const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};

// Result<void> equivalent.
using Status = Result<Ok>;

inline Error makeError(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

}  // namespace lens
