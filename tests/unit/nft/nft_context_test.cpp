#include "libcommon/nft/nft_context.h"

#include <catch2/catch.hpp>

using lens::ErrorCode;
using lens::nft::classifyError;
using lens::nft::summarizeError;

TEST_CASE("libnftables errors become one line with the offending command", "[nft]") {
  const char* text =
      "<cmdline>:29:44-58: Error: cgroupv2 path fails: No such file or directory\n"
      "                socket cgroupv2 level 2 != \"nonexistent/x\" return\n"
      "                                           ^^^^^^^^^^^^^^^\n"
      "<cmdline>:45:44-58: Error: cgroupv2 path fails: No such file or directory\n";
  CHECK(summarizeError(text) ==
        "cgroupv2 path fails: No such file or directory (line 29: socket cgroupv2 level 2 != "
        "\"nonexistent/x\" return)");
  CHECK(summarizeError("Error: Could not process rule: Operation not permitted\n") ==
        "Could not process rule: Operation not permitted");
  CHECK(summarizeError("something odd\n") == "something odd");
  CHECK(summarizeError("") == "libnftables failed");
}

TEST_CASE("libnftables errors are classified by who can fix them", "[nft]") {
  CHECK(classifyError("Error: Could not process rule: Operation not permitted") ==
        ErrorCode::kPermission);
  CHECK(classifyError("Error: Could not process rule: Protocol not supported") ==
        ErrorCode::kPermission);
  CHECK(classifyError("Error: Could not process rule: No such file or directory") ==
        ErrorCode::kNotFound);
  CHECK(classifyError("Error: syntax error, unexpected string") == ErrorCode::kInvalidInput);
}
