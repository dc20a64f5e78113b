// lens-dns: the filtering DNS stub (policy by name, cache, pinning into the cage).
#include "libcommon/app/dns.h"

int main(int argc, char** argv) {
  lens::app::dns::Options options;
  auto app = lens::app::dns::makeCli(options);
  if (auto code = lens::cli::parse(*app, argc, argv, options.common)) return *code;
  return lens::app::dns::run(options);
}
