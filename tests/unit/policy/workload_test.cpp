#include "libcommon/policy/workload.h"

#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "libcommon/policy/policy_parser.h"

namespace {

std::shared_ptr<const lens::policy::PolicyDocument> parse(const std::string& json) {
  auto out = lens::policy::parsePolicy(json);
  INFO(json);
  REQUIRE(out.ok());
  return out.policy;
}

struct TempRoot {
  std::filesystem::path path;
  TempRoot() {
    char pattern[] = "/tmp/lens-workload-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~TempRoot() { std::filesystem::remove_all(path); }
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("the workload's environment is the policy's env plus the credentials' placeholders",
          "[policy]") {
  auto doc = parse(R"({"env": {"A": "1", "GH_TOKEN": "overridden"},
    "credentials": [{"id": "gh", "envVar": "GH_TOKEN", "placeholder": "ghp_PLACEHOLDER",
                     "injections": [{"injectionType": "header", "domain": "api.github.com",
                                     "header": "Authorization", "value": "Bearer secret"}]}]})");
  const auto env = lens::policy::workloadEnvironment(*doc);
  REQUIRE(env.size() == 2);
  CHECK(env[0] == std::pair<std::string, std::string>{"A", "1"});
  CHECK(env[1] == std::pair<std::string, std::string>{"GH_TOKEN", "ghp_PLACEHOLDER"});
  for (const auto& [name, value] : env) CHECK(value.find("secret") == std::string::npos);
}

TEST_CASE("files are written below the root with their mode and owner, never through a link",
          "[policy]") {
  TempRoot root;
  auto doc = parse(R"({"files": [{"path": "/tmp/creds/config.json", "content": "{}\n", "mode": 416},
                                  {"path": "note.txt", "content": "hi"}]})");
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  auto ok = lens::policy::writeWorkloadFiles(*doc, uid, gid, root.path.string());
  INFO((ok ? "" : ok.error().message));
  REQUIRE(ok.ok());
  CHECK(slurp(root.path / "creds/config.json") == "{}\n");
  CHECK(slurp(root.path / "note.txt") == "hi");
  struct stat st {};
  REQUIRE(::stat((root.path / "creds/config.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  REQUIRE(::stat((root.path / "note.txt").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);  // the default
  REQUIRE(::stat((root.path / "creds").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);

  // A second write collides: fail closed, file unchanged.
  auto again = lens::policy::writeWorkloadFiles(*doc, uid, gid, root.path.string());
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().message.find("/tmp/creds/config.json") != std::string::npos);
  CHECK(again.error().message.find("exists already") != std::string::npos);

  // A directory planted as a symbolic link is refused.
  TempRoot other;
  std::filesystem::create_directory_symlink(other.path, root.path / "linked");
  auto viaLink = lens::policy::writeWorkloadFiles(
      *parse(R"({"files": [{"path": "/tmp/linked/x", "content": "x"}]})"), uid, gid,
      root.path.string());
  REQUIRE_FALSE(viaLink.ok());
  CHECK(viaLink.error().message.find("not a plain directory") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(other.path / "x"));

  // So is a file planted as a link.
  std::filesystem::create_symlink(other.path / "target", root.path / "planted");
  auto fileLink = lens::policy::writeWorkloadFiles(
      *parse(R"({"files": [{"path": "planted", "content": "x"}]})"), uid, gid, root.path.string());
  REQUIRE_FALSE(fileLink.ok());
  CHECK_FALSE(std::filesystem::exists(other.path / "target"));
}
