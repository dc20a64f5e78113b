#pragma once

#include <sys/resource.h>

namespace lens::bench {

// The calling thread's CPU time (user and system) in seconds.
inline double threadCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  auto sec = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
  };
  return sec(usage.ru_utime) + sec(usage.ru_stime);
}

}  // namespace lens::bench
