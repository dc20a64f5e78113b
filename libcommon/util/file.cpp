#include "libcommon/util/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "libcommon/util/system_error.h"
#include "libcommon/util/unique_fd.h"

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

Status writeFileAtomically(const std::string& path, std::string_view content, mode_t mode) {
  const std::filesystem::path target(path);
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  std::string tmp = dir + "/." + target.filename().string() + ".XXXXXX";
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return systemError("cannot create a temporary file in " + dir, errno);
  auto fail = [&](const std::string& what) {
    const int err = errno;
    fd.reset();
    ::unlink(tmp.c_str());
    return systemError(what, err);
  };
  if (::fchmod(fd.get(), mode) != 0) return fail("fchmod " + tmp);
  std::string_view rest = content;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write " + tmp);
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(fd.get()) != 0) return fail("fsync " + tmp);
  // Closed by hand: a failed close can mean lost data, so the rename must not happen.
  if (::close(fd.release()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return systemError("close " + tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return systemError("rename " + tmp + " to " + path, err);
  }
  const UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd) return systemError("open " + dir, errno);
  if (::fsync(dfd.get()) != 0) {
    const int err = errno;
    return systemError("fsync " + dir, err);
  }
  return Ok{};
}

}  // namespace lens::util
