#include "libcommon/nft/nft_context.h"

#include <nftables/libnftables.h>

#include <stdexcept>

#include "libcommon/util/strings.h"

namespace lens::nft {

void NftContext::Free::operator()(nft_ctx* ctx) const { nft_ctx_free(ctx); }

NftContext::NftContext() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
  if (!ctx_) throw std::runtime_error("libnftables: cannot allocate a context");
  nft_ctx_buffer_output(ctx_.get());
  nft_ctx_buffer_error(ctx_.get());
}

Result<std::string> NftContext::run(std::string_view script, bool dryRun) {
  nft_ctx_set_dry_run(ctx_.get(), dryRun);
  const std::string text(script);
  const int rc = nft_run_cmd_from_buffer(ctx_.get(), text.c_str());
  const char* output = nft_ctx_get_output_buffer(ctx_.get());
  const char* errors = nft_ctx_get_error_buffer(ctx_.get());
  std::string out = output ? output : "";
  std::string err = errors ? errors : "";
  nft_ctx_set_dry_run(ctx_.get(), false);
  if (rc == 0) return out;
  if (err.empty()) err = "Error: libnftables failed without a message";
  return makeError(classifyError(err), summarizeError(err));
}

std::string summarizeError(std::string_view errorText) {
  // libnftables reports "<cmdline>:29:44-58: Error: MESSAGE", then the
  // offending line, then a line of carets.
  std::string message;
  std::string where;
  std::string command;
  bool wantCommand = false;
  for (std::string_view line : util::split(errorText, '\n')) {
    const std::size_t at = line.find("Error: ");
    if (at != std::string_view::npos) {
      if (!message.empty()) break;  // the first error is the one that matters
      message = std::string(line.substr(at + 7));
      const std::string_view location = line.substr(0, at);
      if (const std::size_t colon = location.find(':'); colon != std::string_view::npos) {
        const std::string_view rest = location.substr(colon + 1);
        where = std::string(rest.substr(0, rest.find(':')));
      }
      wantCommand = true;
      continue;
    }
    if (wantCommand && line.find_first_not_of(" \t^~") != std::string_view::npos) {
      const std::size_t start = line.find_first_not_of(" \t");
      command = std::string(line.substr(start));
      wantCommand = false;
    }
  }
  if (message.empty()) {
    for (std::string_view line : util::split(errorText, '\n')) {
      if (!line.empty()) return std::string(line);
    }
    return "libnftables failed";
  }
  if (command.empty()) return message;
  return message + " (" + (where.empty() ? std::string() : "line " + where + ": ") + command + ")";
}

ErrorCode classifyError(std::string_view errorText) {
  const auto has = [&](std::string_view needle) {
    return errorText.find(needle) != std::string_view::npos;
  };
  if (has("Operation not permitted") || has("Permission denied")) return ErrorCode::kPermission;
  if (has("Protocol not supported") || has("Operation not supported") ||
      has("Address family not supported")) {
    return ErrorCode::kPermission;
  }
  if (has("No such file or directory")) return ErrorCode::kNotFound;
  return ErrorCode::kInvalidInput;
}

}  // namespace lens::nft
