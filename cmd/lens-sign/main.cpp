// lens-sign: AWS SigV4 signing and re-signing, credential placeholder exchange.
#include "libcommon/app/sign.h"

int main(int argc, char** argv) {
  lens::app::sign::Options options;
  auto app = lens::app::sign::makeCli(options);
  if (auto code = lens::cli::parse(*app, argc, argv, options.common)) return *code;
  return lens::app::sign::run(options);
}
