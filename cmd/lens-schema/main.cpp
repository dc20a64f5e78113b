// lens-schema: print the policy JSON Schema, validate policies, explain decisions.
#include "libcommon/app/schema.h"

int main(int argc, char** argv) {
  lens::app::schema::Options options;
  auto app = lens::app::schema::makeCli(options);
  if (auto code = lens::cli::parse(*app, argc, argv, options.common)) return *code;
  return lens::app::schema::run(options);
}
