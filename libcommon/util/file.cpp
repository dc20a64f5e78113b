#include "libcommon/util/file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

namespace lens::util {

Result<std::string> readFile(const std::string& path, std::size_t maxBytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(ErrorCode::kIo, "cannot open: " + std::string(std::strerror(errno)));
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return makeError(ErrorCode::kIo, "is a directory");
  }
  std::string text;
  std::vector<char> buffer(64 * 1024);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    text.append(buffer.data(), static_cast<std::size_t>(in.gcount()));
    if (text.size() > maxBytes) {
      return makeError(ErrorCode::kLimit,
                       "file is larger than the limit of " + std::to_string(maxBytes) + " bytes");
    }
  }
  if (in.bad())
    return makeError(ErrorCode::kIo, "read error: " + std::string(std::strerror(errno)));
  return text;
}

}  // namespace lens::util
