#include "libcommon/lockdown/ruleset.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "libcommon/app/lockdown.h"
#include "libcommon/util/strings.h"

using lens::lockdown::Mode;
using lens::lockdown::Scope;

namespace {

const std::string kDataDir = std::string(LENS_TESTDATA_DIR) + "/lockdown";

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct Case {
  std::string name;
  std::vector<std::string> args;
};

std::vector<Case> goldenCases() {
  std::vector<Case> cases;
  std::istringstream in(readFile(kDataDir + "/cases.txt"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    Case c;
    words >> c.name;
    for (std::string w; words >> w;)
      c.args.push_back(w == "policy.json" ? kDataDir + "/policy.json" : w);
    cases.push_back(c);
  }
  return cases;
}

// What `lens-lockdown render ARGS` prints, through the tool's own option parsing.
std::string renderWith(std::vector<std::string> args) {
  lens::app::lockdown::Options options;
  auto app = lens::app::lockdown::makeCli(options);
  args.push_back("render");
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments in reverse
  app->parse(args);
  auto plan = lens::app::lockdown::makePlan(options);
  REQUIRE(std::holds_alternative<lens::app::lockdown::Plan>(plan));
  const auto& p = std::get<lens::app::lockdown::Plan>(plan);
  return lens::lockdown::renderScript(p.config, p.elements);
}

// The rules of each chain inside the table block, comments dropped.
std::map<std::string, std::vector<std::string>> chains(const std::string& script) {
  std::map<std::string, std::vector<std::string>> out;
  std::istringstream in(script);
  std::string line;
  std::string current;
  const std::regex open(R"(^\s+chain (\w+) \{$)");
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, open)) {
      current = m[1];
      out[current];
      continue;
    }
    const auto start = line.find_first_not_of(' ');
    if (current.empty() || start == std::string::npos || line[start] == '#') continue;
    const std::string rule = line.substr(start);
    if (rule == "}") {
      current.clear();
      continue;
    }
    if (rule.starts_with("type ")) continue;
    out[current].push_back(rule);
  }
  return out;
}

std::size_t indexOf(const std::vector<std::string>& rules, std::string_view needle) {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (rules[i].find(needle) != std::string::npos) return i;
  }
  FAIL("no rule contains " << needle);
  return 0;
}

std::string hookLine(const std::string& script, const std::string& chain) {
  const auto at = script.find("chain " + chain + " {");
  REQUIRE(at != std::string::npos);
  const auto start = script.find_first_not_of(" \n", script.find('\n', at));
  return script.substr(start, script.find('\n', start) - start);
}

}  // namespace

TEST_CASE("the rendered ruleset of every option combination matches its golden file",
          "[lockdown]") {
  const auto cases = goldenCases();
  REQUIRE(cases.size() >= 8);
  for (const Case& c : cases) {
    INFO("case " << c.name
                 << " (regenerate with scripts/regen-lockdown-golden and review the diff)");
    const std::string golden = readFile(kDataDir + "/" + c.name + ".nft");
    REQUIRE_FALSE(golden.empty());
    CHECK(renderWith(c.args) == golden);
  }
}

TEST_CASE("ordering invariants hold for every golden ruleset", "[lockdown]") {
  for (const Case& c : goldenCases()) {
    INFO("case " << c.name);
    const std::string script = renderWith(c.args);
    const auto rules = chains(script);
    const bool tproxy = script.find("mode tproxy") != std::string::npos;
    const std::regex markAccept(R"(^meta mark 0x[0-9a-f]{8} accept$)");

    // Every chain created is one a re-apply deletes first.
    const auto names = lens::lockdown::chainNames();
    for (const auto& [name, list] : rules) {
      CHECK(std::find(names.begin(), names.end(), name) != names.end());
      CHECK(script.find("delete chain inet lens_sandbox " + name + "\n") <
            script.find("table inet lens_sandbox {"));
    }

    // Trusted traffic leaves each base chain first, before any reject or redirect.
    const auto& filterBase = rules.at("filter_output");
    CHECK(std::regex_match(filterBase.at(0), markAccept));
    CHECK(rules.at("nat_output").at(0).find("meta mark") == 0);
    CHECK(hookLine(script, "filter_output") == "type filter hook output priority 0; policy drop;");
    for (const auto& rule : filterBase) CHECK(rule.find("reject") == std::string::npos);

    // DNS is redirected before the loopback exemption (a loopback resolver is caught too).
    const auto& natCage = rules.at("nat_cage");
    CHECK(indexOf(natCage, "udp dport 53 redirect") == 0);
    CHECK(indexOf(natCage, "tcp dport 53 redirect") == 1);
    if (!tproxy) {
      CHECK(indexOf(natCage, "udp dport 53 redirect") < indexOf(natCage, "oifname \"lo\" return"));
      CHECK(indexOf(natCage, "tcp dport 853 return") <
            indexOf(natCage, "meta l4proto tcp redirect"));
      CHECK(natCage.back().starts_with("meta l4proto tcp redirect to :"));
    } else {
      CHECK(rules.count("route_cage") == 1);
      CHECK(rules.at("route_cage").back().starts_with("meta mark set 0x"));
      CHECK(rules.at("tproxy_prerouting").at(0).find("tproxy to :") != std::string::npos);
    }

    // The filter cage: refuses by default, never names DNS, and no accept lets
    // unmarked UDP out except a raw-allow set lookup.
    const auto& cage = rules.at("filter_cage");
    CHECK(cage.back() == "counter reject with icmpx port-unreachable");
    CHECK(indexOf(cage, "log prefix \"lens:deny: \"") == cage.size() - 2);
    const std::regex allowedAccept(
        R"(^(oifname "lo"|ip daddr 127\.0\.0\.0/8|ip6 daddr ::1|meta mark 0x[0-9a-f]{8}|icmpv6 type \{[a-z0-9, -]+\}|)"
        R"(meta l4proto != udp ct state established,related|ip6? daddr \. meta l4proto \. th dport @(raw|static)[46]) accept$)");
    for (const auto& rule : cage) {
      CHECK(rule.find("dport 53") == std::string::npos);
      if (rule.ends_with("accept")) {
        INFO("rule: " << rule);
        CHECK(std::regex_match(rule, allowedAccept));
      }
    }
    if (tproxy) CHECK(indexOf(cage, "meta mark 0x") < indexOf(cage, "reject"));
    // With a scope, packets outside it are accepted by the base chain only after the jump.
    if (script.find("scope all") == std::string::npos) {
      CHECK(filterBase.size() == 3);
      CHECK(filterBase.at(1).find(" jump filter_cage") != std::string::npos);
      CHECK(filterBase.at(2) == "accept");
    } else {
      CHECK(filterBase == std::vector<std::string>{filterBase.at(0), "jump filter_cage"});
    }
  }
}

TEST_CASE("the dynamic sets are declared with timeouts and never flushed", "[lockdown]") {
  const std::string script = lens::lockdown::renderScript({}, {});
  CHECK(script.find("add set inet lens_sandbox raw4 { type ipv4_addr . inet_proto . inet_service; "
                    "flags timeout;") != std::string::npos);
  CHECK(script.find("add set inet lens_sandbox raw6 { type ipv6_addr . inet_proto . inet_service; "
                    "flags timeout;") != std::string::npos);
  CHECK(script.find("flush set inet lens_sandbox raw") == std::string::npos);
  CHECK(script.find("flush set inet lens_sandbox static4") != std::string::npos);
  CHECK(script.find("delete table") == std::string::npos);
  CHECK(script.find("add element") == std::string::npos);  // no policy, no static elements
}

TEST_CASE("scopes parse from all, uid:N and cgroup:PATH", "[lockdown]") {
  CHECK(Scope::parse("all")->kind == Scope::Kind::kAll);
  auto uid = Scope::parse("uid:1000");
  REQUIRE(uid.ok());
  CHECK(uid->kind == Scope::Kind::kUid);
  CHECK(uid->uid == 1000);
  CHECK(uid->toString() == "uid:1000");
  auto cg = Scope::parse("cgroup:/sandbox/job1/");
  REQUIRE(cg.ok());
  CHECK(cg->cgroup == "sandbox/job1");
  CHECK(cg->toString() == "cgroup:/sandbox/job1");
  CHECK(Scope::parse("cgroup:sandbox")->cgroup == "sandbox");

  CHECK(Scope::parse("uid:").error().message ==
        "invalid scope \"uid:\": uid:N needs a numeric user id");
  CHECK_FALSE(Scope::parse("uid:-1").ok());
  CHECK_FALSE(Scope::parse("uid:4294967295").ok());  // (uid_t)-1 is "no user"
  CHECK_FALSE(Scope::parse("cgroup:").ok());
  CHECK_FALSE(Scope::parse("cgroup:/a/../b").ok());
  CHECK_FALSE(Scope::parse("cgroup:/a\"b").ok());
  CHECK_FALSE(Scope::parse("cgroup:a//b").ok());
  CHECK(Scope::parse("user:1").error().message ==
        "invalid scope \"user:1\": use all, uid:N or cgroup:PATH");
}

TEST_CASE("a cgroup in the hybrid layout is named from /sys/fs/cgroup, its level from the v2 root",
          "[lockdown]") {
  lens::lockdown::Config c;
  c.scope = *Scope::parse("cgroup:/sandbox/job1");
  c.scope.cgroupMountPrefix = "unified";
  const std::string script = lens::lockdown::renderScript(c, {});
  CHECK(script.find("socket cgroupv2 level 2 \"unified/sandbox/job1\" jump filter_cage") !=
        std::string::npos);
}
