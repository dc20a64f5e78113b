// lens-proxy: the explicit HTTP proxy (CONNECT and absolute-form requests judged by the policy).
#include "libcommon/app/proxy.h"

int main(int argc, char** argv) {
  lens::app::proxy::Options options;
  auto app = lens::app::proxy::makeCli(options);
  if (auto code = lens::cli::parse(*app, argc, argv, options.common)) return *code;
  return lens::app::proxy::run(options);
}
