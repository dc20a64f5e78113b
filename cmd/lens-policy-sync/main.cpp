// lens-policy-sync: the control-plane client (policies in, audit events out).
#include "libcommon/app/policy_sync.h"

int main(int argc, char** argv) {
  lens::app::policy_sync::Options options;
  auto app = lens::app::policy_sync::makeCli(options);
  if (auto code = lens::cli::parse(*app, argc, argv, options.common)) return *code;
  return lens::app::policy_sync::run(options);
}
