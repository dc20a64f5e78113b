// A stand-in for a daemon that follows the policy file (the "reload helper
// test double"): PolicyReloader on a path, its audit events (policy-applied,
// policy-rejected, with the version and trigger) as JSON lines on stdout,
// until SIGTERM or SIGINT.
//
//   lens_reload_probe POLICY_FILE
#include <signal.h>

#include <cstdio>

#include "libcommon/audit/sink.h"
#include "libcommon/decision/policy_reloader.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: lens_reload_probe POLICY_FILE\n");
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto sink = lens::audit::FdSink::openStdout();
  lens::decision::PolicyReloader reloader({argv[1], "lens_reload_probe", sink.get(), true, {}});
  (void)reloader.reload("startup");
  if (auto started = reloader.start(); !started) {
    std::fprintf(stderr, "lens_reload_probe: %s\n", started.error().message.c_str());
    return 1;
  }
  int sig = 0;
  sigwait(&stop, &sig);
  reloader.stop();
  return 0;
}
