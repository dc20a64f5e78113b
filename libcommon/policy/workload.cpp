#include "libcommon/policy/workload.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "libcommon/util/strings.h"
#include "libcommon/util/unique_fd.h"

namespace lens::policy {

namespace {

Error failure(const std::string& path, const std::string& what) {
  const int e = errno;
  return makeError(e == EACCES || e == EPERM ? ErrorCode::kPermission : ErrorCode::kIo,
                   "cannot write " + path + ": " + what + ": " + std::strerror(e));
}

// The path below the root: "/tmp/a/b" and "a/b" both give "a/b".
std::string relativePart(const std::string& path) {
  if (path.starts_with("/tmp/")) return path.substr(5);
  return path;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> workloadEnvironment(const PolicyDocument& policy) {
  std::vector<std::pair<std::string, std::string>> env(policy.env.begin(), policy.env.end());
  for (const Credential& c : policy.credentials) {
    if (c.envVar.empty() || c.placeholder.empty()) continue;
    std::erase_if(env, [&](const auto& kv) { return kv.first == c.envVar; });
    env.emplace_back(c.envVar, c.placeholder);
  }
  return env;
}

Status writeWorkloadFiles(const PolicyDocument& policy, uid_t uid, gid_t gid,
                          const std::string& root) {
  for (const TempFile& file : policy.files) {
    const std::string shown = file.path.starts_with('/') ? file.path : "/tmp/" + file.path;
    util::UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (dir.get() < 0) return failure(shown, "cannot open " + root);
    const std::string relative = relativePart(file.path);
    const auto parts = util::split(relative, '/');
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      const std::string name(parts[i]);
      if (::mkdirat(dir.get(), name.c_str(), 0700) == 0) {
        if (::fchownat(dir.get(), name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
          return failure(shown, "cannot give directory " + name + " to its owner");
        }
      } else if (errno != EEXIST) {
        return failure(shown, "cannot create directory " + name);
      }
      util::UniqueFd next(
          ::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (next.get() < 0) return failure(shown, name + " is not a plain directory");
      dir = std::move(next);
    }
    const std::string name(parts.back());
    util::UniqueFd out(::openat(dir.get(), name.c_str(),
                                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (out.get() < 0)
      return failure(shown, errno == EEXIST ? "it exists already" : "cannot create it");
    std::string_view rest = file.content;
    while (!rest.empty()) {
      const ssize_t n = ::write(out.get(), rest.data(), rest.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return failure(shown, "write failed");
      }
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    if (::fchown(out.get(), uid, gid) != 0) return failure(shown, "cannot give it to its owner");
    if (::fchmod(out.get(), file.mode & 07777) != 0) return failure(shown, "cannot set its mode");
  }
  return Ok{};
}

}  // namespace lens::policy
