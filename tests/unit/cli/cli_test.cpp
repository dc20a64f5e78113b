#include "libcommon/cli/cli.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <vector>

#include "libcommon/app/schema.h"
#include "libcommon/log/logging.h"

namespace {

struct Args {
  std::vector<const char*> argv;
  explicit Args(std::initializer_list<const char*> list) : argv(list) {}
  int argc() const { return static_cast<int>(argv.size()); }
};

}  // namespace

TEST_CASE("long option names map to LENS_ environment variables", "[cli]") {
  CHECK(lens::cli::envNameFor("state-dir") == "LENS_STATE_DIR");
  CHECK(lens::cli::envNameFor("log-level") == "LENS_LOG_LEVEL");
}

TEST_CASE("the cli-spec option prints the option tree as JSON and exits 0", "[cli]") {
  lens::app::schema::Options o;
  auto app = lens::app::schema::makeCli(o);
  const std::string spec = lens::cli::cliSpecJson(*app);
  Poco::JSON::Parser parser;
  auto root = parser.parse(spec).extract<Poco::JSON::Object::Ptr>();
  CHECK(root->getValue<std::string>("name") == "lens-schema");
  CHECK(spec.find("\"--log-level\"") != std::string::npos);
  CHECK(spec.find("\"--door\"") != std::string::npos);
  CHECK(spec.find("\"--cli-spec\"") == std::string::npos);  // hidden
  Args args{"lens-schema", "--cli-spec"};
  CHECK(lens::cli::parse(*app, args.argc(), args.argv.data(), o.common) == 0);
}

TEST_CASE("usage errors exit 2, help exits 0", "[cli]") {
  lens::app::schema::Options o;
  auto app = lens::app::schema::makeCli(o);
  Args bad{"lens-schema", "explain", "--door", "nowhere", "--host", "x"};
  CHECK(lens::cli::parse(*app, bad.argc(), bad.argv.data(), o.common) == 2);
  lens::app::schema::Options o2;
  auto app2 = lens::app::schema::makeCli(o2);
  Args missing{"lens-schema", "explain", "--door", "dns"};
  CHECK(lens::cli::parse(*app2, missing.argc(), missing.argv.data(), o2.common) == 2);
  lens::app::schema::Options o3;
  auto app3 = lens::app::schema::makeCli(o3);
  Args help{"lens-schema", "--help"};
  CHECK(lens::cli::parse(*app3, help.argc(), help.argv.data(), o3.common) == 0);
}

TEST_CASE("environment variables set shared settings and flags win", "[cli]") {
  ::setenv("LENS_LOG_LEVEL", "error", 1);
  ::setenv("LENS_POLICY", "/from-env.json", 1);
  ::setenv("LENS_HOST", "from-env.example", 1);  // not a setting: ignored
  lens::app::schema::Options o;
  auto app = lens::app::schema::makeCli(o);
  Args args{"lens-schema", "explain", "--addr", "10.0.0.1"};
  CHECK_FALSE(lens::cli::parse(*app, args.argc(), args.argv.data(), o.common).has_value());
  CHECK(o.common.logLevel == "error");
  CHECK(o.policyFile == "/from-env.json");
  CHECK(o.host.empty());

  lens::app::schema::Options o2;
  auto app2 = lens::app::schema::makeCli(o2);
  Args flags{"lens-schema", "explain",  "--policy",    "/from-flag.json",
             "--addr",      "10.0.0.1", "--log-level", "warn"};
  CHECK_FALSE(lens::cli::parse(*app2, flags.argc(), flags.argv.data(), o2.common).has_value());
  CHECK(o2.policyFile == "/from-flag.json");
  CHECK(o2.common.logLevel == "warn");
  ::unsetenv("LENS_LOG_LEVEL");
  ::unsetenv("LENS_POLICY");
  ::unsetenv("LENS_HOST");
  lens::log::setup("info");
}
