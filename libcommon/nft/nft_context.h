#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "libcommon/util/result.h"

struct nft_ctx;

namespace lens::nft {

// libnftables in-process (never the nft program). Each run() is one
// nftables transaction: all commands of the script apply, or none.
class NftContext {
 public:
  NftContext();

  // Runs the script. Returns nft's output (listings) or an error whose code
  // says who can fix it:
  //   kPermission  missing CAP_NET_ADMIN, or a kernel without nftables (or
  //                without an expression the script uses)
  //   kNotFound    the object named does not exist (listing an absent table), or,
  //                inside a transaction that creates everything it names, a
  //                kernel without a module the script needs
  //   kInvalidInput  the script was rejected (the message carries nft's text)
  // With dryRun the kernel checks the whole transaction and then discards it.
  Result<std::string> run(std::string_view script, bool dryRun = false);

 private:
  struct Free {
    void operator()(nft_ctx* ctx) const;
  };
  std::unique_ptr<nft_ctx, Free> ctx_;
};

// Turns libnftables' error text into one line: the first "Error:" message
// and the command it refers to, without the caret lines. Exposed for tests.
std::string summarizeError(std::string_view errorText);

// Classifies libnftables' error text (see NftContext::run).
ErrorCode classifyError(std::string_view errorText);

}  // namespace lens::nft
