#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "libcommon/policy/policy.h"
#include "libcommon/util/result.h"

namespace lens::policy {

// What a policy gives the sandboxed workload besides network rules: its
// environment (the policy's `env`, then each credential's placeholder under
// the credential's `envVar`: the workload sees placeholders, never secrets)
// and its files.
std::vector<std::pair<std::string, std::string>> workloadEnvironment(const PolicyDocument& policy);

// Writes the policy's files below `root` (/tmp; a relative path is placed
// there, "/tmp/a/b" becomes ROOT/a/b), owned by uid:gid with the file's mode.
// Missing directories are created (0700, same owner); no path component may
// be a symbolic link and no file may exist yet (a collision fails closed:
// the workload cannot pre-plant a link to redirect the write). Stops at the
// first failure, naming the file.
Status writeWorkloadFiles(const PolicyDocument& policy, uid_t uid, gid_t gid,
                          const std::string& root = "/tmp");

}  // namespace lens::policy
