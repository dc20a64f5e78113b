#include "libcommon/sync/token.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "libcommon/log/logging.h"

namespace lens::sync {

namespace {

constexpr std::size_t kMaxToken = 8192;

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

Result<std::string> check(std::string token, const std::string& where) {
  while (!token.empty() && isSpace(token.back())) token.pop_back();
  std::size_t start = 0;
  while (start < token.size() && isSpace(token[start])) ++start;
  token.erase(0, start);
  if (token.empty())
    return makeError(ErrorCode::kInvalidInput, "the token in " + where + " is empty");
  if (token.size() > kMaxToken) {
    return makeError(ErrorCode::kInvalidInput, "the token in " + where + " is longer than 8 KiB");
  }
  for (char c : token) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return makeError(ErrorCode::kInvalidInput,
                       "the token in " + where +
                           " holds a space, control or non-ASCII byte; it must be one HTTP token");
    }
  }
  return token;
}

}  // namespace

Result<std::string> loadToken(const std::string& tokenFile, const char* envToken) {
  if (!tokenFile.empty()) {
    std::ifstream in(tokenFile, std::ios::binary);
    if (!in)
      return makeError(ErrorCode::kIo,
                       "cannot read --token-file " + tokenFile + ": " + std::strerror(errno));
    struct stat st {};
    if (::stat(tokenFile.c_str(), &st) == 0 && (st.st_mode & 0077) != 0) {
      log::get("sync")->warn("--token-file {} can be read by other users (mode {:o}); chmod 600 it",
                             tokenFile, st.st_mode & 0777);
    }
    std::ostringstream text;
    text << in.rdbuf();
    return check(text.str().substr(0, kMaxToken + 64), "--token-file " + tokenFile);
  }
  if (envToken != nullptr && *envToken != '\0') return check(envToken, "LENS_TOKEN");
  return makeError(ErrorCode::kInvalidArgument,
                   "no token: give --token-file FILE or set LENS_TOKEN");
}

}  // namespace lens::sync
