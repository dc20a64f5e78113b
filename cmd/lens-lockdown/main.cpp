// lens-lockdown: the nftables cage around a sandbox (render, check, apply, show, remove).
#include "libcommon/app/lockdown.h"

int main(int argc, char** argv) {
  lens::app::lockdown::Options options;
  auto app = lens::app::lockdown::makeCli(options);
  if (auto code = lens::cli::parse(*app, argc, argv, options.common)) return *code;
  return lens::app::lockdown::run(options);
}
