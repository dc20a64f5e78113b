#include "libcommon/util/privilege.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace lens {

bool hasEffectiveCapability(int capability) {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  const int word = capability / 32;
  if (word < 0 || word >= _LINUX_CAPABILITY_U32S_3) return false;
  return (data[word].effective & (1U << (capability % 32))) != 0;
}

}  // namespace lens
