// lens_bench_body: the CPU a request's body judgment costs (issue 17's
// target: under 10 µs for a 2 KiB GraphQL POST), measured in process so
// that the proxy's I/O noise does not hide it. The same request as
// bench/mitm/run.sh --body-rules, decided the way a door decides it:
//   head only    the policy's method/path rule decides on the head;
//   body judged  the graphql matcher asks for the body (body-required), the
//                body is classified (strict JSON, the GraphQL document) and
//                the request decided again with what it says.
// Rounds interleave the two; each prints the median of its rounds in µs of
// thread CPU per request and their difference. See bench/README.md.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/decision/thread_cpu.h"
#include "libcommon/decision/body.h"
#include "libcommon/decision/engine.h"
#include "libcommon/policy/policy_parser.h"

namespace lens::bench {
namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::shared_ptr<const decision::Engine> engineFor(const std::string& rules) {
  const std::string text =
      R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
      {"match": "gql.bench.test:8443", "verdict": "allow", "transport": "direct", "rules": [)" +
      rules + "]}]}}}";
  policy::ParseOutcome parsed = policy::parsePolicy(text);
  if (!parsed.ok()) {
    std::fprintf(stderr, "lens_bench_body: the policy does not parse: %s\n",
                 parsed.errors.front().message.c_str());
    std::exit(1);
  }
  return std::make_shared<const decision::Engine>(parsed.policy);
}

// The 2 KiB GraphQL POST body of bench/mitm/body_rules.sh: a named query
// with variables, nested selections, an alias and a fragment, padded with a
// variable to exactly 2048 bytes.
std::string graphqlBody() {
  std::string fields;
  for (int i = 0; i < 40; ++i) fields += " field" + std::to_string(i) + " { id name createdAt }";
  const std::string doc =
      "query BenchQuery($owner: String!, $name: String!) { viewer { login name ...who } "
      "repo: repository(owner: $owner, name: $name) { issues(first: 20) { nodes { title number" +
      fields + " } } } } fragment who on User { id email }";
  std::string body =
      R"({"query": ")" + doc +
      R"(", "operationName": "BenchQuery", "variables": {"owner": "acme", "name": "web", "pad": ")";
  const std::size_t tail = std::string(R"("}})").size();
  if (body.size() + tail < 2048) body.append(2048 - body.size() - tail, 'x');
  return body + R"("}})";
}

decision::Request request() {
  decision::Request r;
  r.door = decision::Door::kConnect;
  r.host = "gql.bench.test";
  r.port = 8443;
  r.method = "POST";
  r.path = "/aws/graphql";
  return r;
}

}  // namespace
}  // namespace lens::bench

int main(int argc, char** argv) {
  using namespace lens;
  using namespace lens::bench;
  CLI::App app{"lens_bench_body: CPU per request of body judgment (GraphQL, 2 KiB)"};
  int rounds = 9;
  int perRound = 20000;
  bool quick = false;
  app.add_option("--rounds", rounds, "Interleaved rounds")->check(CLI::Range(1, 1000));
  app.add_option("--requests", perRound, "Requests per round and case")
      ->check(CLI::Range(1, 10000000));
  app.add_flag("--quick", quick, "One short round (the test suite's smoke run)");
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    rounds = 1;
    perRound = 200;
  }

  const auto headOnly = engineFor(R"({"method": "POST", "path": "/aws/**"})");
  const auto judged = engineFor(
      R"({"method": "POST", "path": "/aws/graphql", "graphql": {"operationType": "query", "fields": ["viewer", "repository*"]}})");
  const std::string body = graphqlBody();
  const decision::Request base = request();

  // Each case once, checked: both allow, the judged one only with the body.
  if (!headOnly->decide(base).allowed()) {
    std::fprintf(stderr, "lens_bench_body: the method/path rule does not allow the request\n");
    return 1;
  }
  const decision::Decision first = judged->decide(base);
  if (first.body != decision::BodyKind::kGraphql) {
    std::fprintf(stderr, "lens_bench_body: the graphql rule does not ask for the body\n");
    return 1;
  }

  auto judgeOnce = [&] {
    decision::Request r = base;
    const decision::Decision d = judged->decide(r);
    r.body = std::make_shared<const decision::BodyFacts>(
        decision::classifyBody(d.body, r.method, r.path, body, {}));
    return judged->decide(r).allowed();
  };
  if (!judgeOnce()) {
    std::fprintf(stderr, "lens_bench_body: the graphql rule refuses the body: %s\n",
                 judged->decide(base).detail.c_str());
    return 1;
  }

  std::vector<double> headUs;
  std::vector<double> bodyUs;
  std::vector<double> addedUs;
  for (int round = 0; round < rounds; ++round) {
    double t0 = threadCpuSeconds();
    int allowed = 0;
    for (int i = 0; i < perRound; ++i) allowed += headOnly->decide(base).allowed() ? 1 : 0;
    const double head = (threadCpuSeconds() - t0) * 1e6 / perRound;
    t0 = threadCpuSeconds();
    for (int i = 0; i < perRound; ++i) allowed += judgeOnce() ? 1 : 0;
    const double judgedUs = (threadCpuSeconds() - t0) * 1e6 / perRound;
    if (allowed != 2 * perRound) {
      std::fprintf(stderr, "lens_bench_body: a decision changed between runs\n");
      return 1;
    }
    headUs.push_back(head);
    bodyUs.push_back(judgedUs);
    addedUs.push_back(judgedUs - head);
  }
  std::printf("Thread CPU per request, median of %d interleaved round(s) of %d requests each;\n",
              rounds, perRound);
  std::printf("a 2 KiB GraphQL POST (%zu bytes) as bench/mitm/run.sh --body-rules sends it.\n\n",
              body.size());
  std::printf("| decision | µs/request |\n|---|---:|\n");
  std::printf("| head only (method/path rule) | %.2f |\n", median(headUs));
  std::printf("| body judged (graphql matcher: decide, classify, decide) | %.2f |\n",
              median(bodyUs));
  std::printf("\nbody judgment adds %.2f µs per request [%.2f-%.2f] (target: under 10)\n",
              median(addedUs), *std::min_element(addedUs.begin(), addedUs.end()),
              *std::max_element(addedUs.begin(), addedUs.end()));
  return 0;
}
