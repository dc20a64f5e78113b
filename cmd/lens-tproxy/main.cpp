// lens-tproxy: the transparent proxy (connections the cage redirects, classified and judged by the
// policy).
#include "libcommon/app/tproxy.h"

int main(int argc, char** argv) {
  lens::app::tproxy::Options options;
  auto app = lens::app::tproxy::makeCli(options);
  if (auto code = lens::cli::parse(*app, argc, argv, options.common)) return *code;
  return lens::app::tproxy::run(options);
}
