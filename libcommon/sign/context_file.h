#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "libcommon/sign/sigv4.h"
#include "libcommon/util/result.h"

namespace lens::sign {

// A signing context as JSON, in the layout of the AWS SigV4 test suite
// (context.json of tests/data/aws-sigv4):
//
//   {"credentials": {"access_key_id": "...", "secret_access_key": "...",
//                    "token": "..."},
//    "region": "us-east-1", "service": "service",
//    "timestamp": "2015-08-30T12:36:00Z", "normalize": true,
//    "sign_body": false, "expiration_in_seconds": 3600,
//    "omit_session_token": false}
//
// Every key is optional (a command line can supply the rest); unknown keys
// and wrong types are errors.
struct ContextFile {
  SigningContext context;  // fields absent from the file keep their defaults
  std::optional<std::chrono::sys_seconds> timestamp;
  std::optional<std::uint32_t> expirationSeconds;
};

// Errors (ErrorCode::kInvalidArgument) name the key and never quote a
// secret.
[[nodiscard]] Result<ContextFile> parseContextFile(std::string_view text);

}  // namespace lens::sign
