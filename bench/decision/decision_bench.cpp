// lens_bench_decision: the indexed decision engine against a linear
// first-match scan over the same rules (DESIGN.md section 5: a decision must
// cost the same at 10 and at 100,000 rules). See bench/README.md.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "bench/decision/linear_scan_engine.h"
#include "bench/decision/policy_generator.h"
#include "bench/decision/thread_cpu.h"
#include "libcommon/decision/engine.h"
#include "libcommon/policy/policy_parser.h"

namespace lens::bench {
namespace {

using Clock = std::chrono::steady_clock;
using decision::Decision;
using decision::Request;

constexpr std::size_t kBatch = 32;     // decisions per timed batch
constexpr std::size_t kHotNames = 64;  // names in the cache-resident host workload

struct Options {
  std::vector<std::size_t> sizes{10, 1000, 100000};
  int rounds = 9;
  double roundMs = 100;  // per engine, per round
  std::size_t requests = 4096;
  std::uint64_t seed = 20240601;
};

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  if (v.size() % 2 == 1) return *mid;
  return (*mid + *std::max_element(v.begin(), mid)) / 2;
}

// Folds a decision into a value the optimiser cannot drop.
std::uint64_t fold(const Decision& d) {
  return static_cast<std::uint64_t>(d.verdict) * 131 + (d.rule ? d.rule->index : 7777) +
         d.detail.size();
}

using DecideFn = std::function<Decision(const Request&)>;

// One engine's measurements over all rounds of one workload.
struct Series {
  std::vector<double> batchNs;       // ns per decision of each timed batch
  std::vector<double> perSecond;     // decisions per second of each round
  std::vector<double> cpuNsPerCall;  // getrusage user+sys per decision of each round
  std::size_t decisions = 0;
};

struct Engines {
  DecideFn indexed;
  DecideFn naive;
};

std::uint64_t gSink = 0;  // results go here so the loops are not optimised away

void runRound(const DecideFn& decide, const std::vector<Request>& pool, std::size_t count,
              std::size_t& cursor, Series& out) {
  const double cpu0 = threadCpuSeconds();
  const auto t0 = Clock::now();
  std::uint64_t sink = 0;
  for (std::size_t done = 0; done < count; done += kBatch) {
    const auto b0 = Clock::now();
    for (std::size_t i = 0; i < kBatch; ++i) {
      sink += fold(decide(pool[cursor]));
      if (++cursor == pool.size()) cursor = 0;
    }
    out.batchNs.push_back(std::chrono::duration<double, std::nano>(Clock::now() - b0).count() /
                          kBatch);
  }
  const double wallNs = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  const double cpuNs = (threadCpuSeconds() - cpu0) * 1e9;
  out.perSecond.push_back(static_cast<double>(count) * 1e9 / wallNs);
  out.cpuNsPerCall.push_back(cpuNs / static_cast<double>(count));
  out.decisions += count;
  gSink += sink;
}

// Decisions per round so that one round of this engine takes about roundMs.
std::size_t calibrate(const DecideFn& decide, const std::vector<Request>& pool, double roundMs) {
  std::size_t n = kBatch;
  std::size_t cursor = 0;
  for (;;) {
    Series warm;
    const auto t0 = Clock::now();
    runRound(decide, pool, n, cursor, warm);
    const double ms = msSince(t0);
    if (ms > roundMs / 10 || n >= (1u << 22)) {
      const double perCall = ms / static_cast<double>(n);
      const auto count = static_cast<std::size_t>(roundMs / perCall);
      return std::max<std::size_t>(kBatch, (count + kBatch - 1) / kBatch * kBatch);
    }
    n *= 4;
  }
}

// Both engines must give the same answer to every request of the pool.
void checkAgreement(const Engines& engines, const std::vector<Request>& pool, const char* workload,
                    std::size_t rules) {
  for (const Request& r : pool) {
    const Decision a = engines.indexed(r);
    const Decision b = engines.naive(r);
    const bool same =
        a.verdict == b.verdict && a.transport == b.transport && a.reason == b.reason &&
        a.intercept == b.intercept && a.detail == b.detail &&
        a.rule.has_value() == b.rule.has_value() &&
        (!a.rule || (a.rule->table == b.rule->table && a.rule->index == b.rule->index));
    if (!same) {
      std::fprintf(stderr,
                   "lens_bench_decision: %s decision for \"%s\" at %zu rules differs:\n"
                   "  indexed: %s (%s)\n  linear:  %s (%s)\n",
                   workload, r.host.c_str(), rules,
                   std::string(policy::toString(a.verdict)).c_str(), a.detail.c_str(),
                   std::string(policy::toString(b.verdict)).c_str(), b.detail.c_str());
      std::abort();
    }
  }
}

struct Row {
  std::size_t rules = 0;
  std::string workload;
  Series indexed;
  Series naive;
};

// Interleaved rounds: indexed then linear, then linear then indexed, ...,
// so that frequency changes of the core hit both alike.
Row measure(const Engines& engines, const std::vector<Request>& pool, const Options& opt,
            std::size_t rules, const std::string& workload) {
  Row row{rules, workload, {}, {}};
  const std::size_t indexedCount = calibrate(engines.indexed, pool, opt.roundMs);
  const std::size_t naiveCount = calibrate(engines.naive, pool, opt.roundMs);
  std::size_t cursorIndexed = 0;
  std::size_t cursorNaive = 0;
  for (int round = 0; round < opt.rounds; ++round) {
    if (round % 2 == 0) {
      runRound(engines.indexed, pool, indexedCount, cursorIndexed, row.indexed);
      runRound(engines.naive, pool, naiveCount, cursorNaive, row.naive);
    } else {
      runRound(engines.naive, pool, naiveCount, cursorNaive, row.naive);
      runRound(engines.indexed, pool, indexedCount, cursorIndexed, row.indexed);
    }
  }
  return row;
}

std::string grouped(double value) {
  auto n = static_cast<std::uint64_t>(value + 0.5);
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

std::string nanos(double ns) { return ns < 100 ? fixed(ns, 1) : grouped(ns); }

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("model name")) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown CPU";
}

std::vector<Request> connectRequests(const std::vector<std::string>& hosts) {
  std::vector<Request> out;
  out.reserve(hosts.size());
  for (const std::string& h : hosts) {
    Request r;
    r.door = decision::Door::kConnect;
    r.host = h;
    r.port = 443;
    out.push_back(std::move(r));
  }
  return out;
}

struct BuildStats {
  std::size_t rules = 0;
  std::size_t bytes = 0;
  double parseMs = 0;
  double indexMs = 0;
};

int run(const Options& opt) {
  std::fprintf(stderr,
               "lens_bench_decision: %s, %zu requests per pool, %d rounds of ~%.0f ms per engine\n",
               cpuModel().c_str(), opt.requests, opt.rounds, opt.roundMs);
  std::vector<Row> rows;
  std::vector<BuildStats> builds;
  double hostMedianAtLargest = 0;
  for (std::size_t size : opt.sizes) {
    const GeneratedPolicy generated = generatePolicy(ruleMix(size), opt.requests, opt.seed + size);
    BuildStats build{generated.counts.total(), generated.json.size(), 0, 0};

    auto t0 = Clock::now();
    const policy::ParseOutcome parsed = policy::parsePolicy(generated.json);
    build.parseMs = msSince(t0);
    if (!parsed.ok()) {
      std::fprintf(
          stderr, "lens_bench_decision: the generated policy of %zu rules does not parse:\n", size);
      for (std::size_t i = 0; i < parsed.errors.size() && i < 10; ++i) {
        std::fprintf(stderr, "  %s\n", parsed.errors[i].format().c_str());
      }
      return 1;
    }
    t0 = Clock::now();
    const decision::Engine engine(parsed.policy);
    build.indexMs = msSince(t0);
    const LinearScanEngine naive(parsed.policy);
    builds.push_back(build);

    const Engines engines{[&](const Request& r) { return engine.decide(r); },
                          [&](const Request& r) { return naive.decide(r); }};
    const std::vector<Request> hostPool = connectRequests(generated.hosts);
    const std::vector<Request> addressPool = connectRequests(generated.addresses);
    std::fprintf(
        stderr,
        "  %zu rules: policy %.1f MB parsed in %.0f ms, indexed in %.0f ms; checking agreement\n",
        build.rules, static_cast<double>(build.bytes) / 1e6, build.parseMs, build.indexMs);
    checkAgreement(engines, hostPool, "host", build.rules);
    checkAgreement(engines, addressPool, "address", build.rules);

    std::fprintf(stderr, "  %zu rules: measuring host decisions\n", build.rules);
    rows.push_back(measure(engines, hostPool, opt, build.rules, "host, random names"));
    if (size == opt.sizes.back()) hostMedianAtLargest = median(rows.back().indexed.batchNs);
    // The same kind of names, but few enough to stay in the caches: what the
    // lookups cost when memory latency is taken out.
    const std::vector<Request> hotPool(
        hostPool.begin(), hostPool.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(
                                                 kHotNames, hostPool.size())));
    std::fprintf(stderr, "  %zu rules: measuring host decisions over %zu hot names\n", build.rules,
                 hotPool.size());
    rows.push_back(measure(engines, hotPool, opt, build.rules,
                           "host, " + std::to_string(hotPool.size()) + " hot names"));
    std::fprintf(stderr, "  %zu rules: measuring address decisions\n", build.rules);
    rows.push_back(measure(engines, addressPool, opt, build.rules, "address, random IP literals"));
  }

  std::printf("Decision engine: indexed (lens::decision::Engine) vs linear first-match scan\n\n");
  std::printf(
      "CPU: %s. Medians of %d interleaved rounds; ns/decision is the median over batches of "
      "%zu.\n\n",
      cpuModel().c_str(), opt.rounds, kBatch);
  std::printf(
      "| rules | workload | indexed decisions/s | indexed median ns | indexed CPU ns | "
      "linear decisions/s | linear median ns | linear CPU ns | linear/indexed |\n");
  std::printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const Row& row : rows) {
    const double indexedNs = median(row.indexed.batchNs);
    const double naiveNs = median(row.naive.batchNs);
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                grouped(static_cast<double>(row.rules)).c_str(), row.workload.c_str(),
                grouped(median(row.indexed.perSecond)).c_str(), nanos(indexedNs).c_str(),
                nanos(median(row.indexed.cpuNsPerCall)).c_str(),
                grouped(median(row.naive.perSecond)).c_str(), nanos(naiveNs).c_str(),
                nanos(median(row.naive.cpuNsPerCall)).c_str(),
                (fixed(naiveNs / indexedNs, naiveNs / indexedNs < 10 ? 2 : 0) + "x").c_str());
  }
  std::printf(
      "\n| rules | policy bytes | parsePolicy ms | Engine build ms |\n|---:|---:|---:|---:|\n");
  for (const BuildStats& b : builds) {
    std::printf("| %s | %s | %s | %s |\n", grouped(static_cast<double>(b.rules)).c_str(),
                grouped(static_cast<double>(b.bytes)).c_str(), fixed(b.parseMs, 1).c_str(),
                fixed(b.indexMs, 1).c_str());
  }
  const std::size_t largest = opt.sizes.back();
  std::printf("\nTarget: median host decision under 1,000 ns at %s rules: %s ns, %s.\n",
              grouped(static_cast<double>(largest)).c_str(), nanos(hostMedianAtLargest).c_str(),
              hostMedianAtLargest < 1000 ? "met" : "MISSED");
  std::fprintf(stderr, "(checksum %" PRIu64 ")\n", gSink);
  return 0;
}

}  // namespace
}  // namespace lens::bench

int main(int argc, char** argv) {
  lens::bench::Options opt;
  bool quick = false;
  CLI::App app{"Measures the indexed decision engine against a linear first-match scan.",
               "lens_bench_decision"};
  app.add_option("--sizes", opt.sizes, "Policy sizes in rules (at least 5 each)")->delimiter(',');
  app.add_option("--rounds", opt.rounds, "Interleaved rounds per workload")
      ->check(CLI::Range(1, 1000));
  app.add_option("--round-ms", opt.roundMs, "Target duration of one round of one engine")
      ->check(CLI::Range(1.0, 60000.0));
  app.add_option("--requests", opt.requests, "Distinct requests per workload pool")
      ->check(CLI::Range(64, 1 << 20));
  app.add_option("--seed", opt.seed, "Seed of the policy and request generator");
  app.add_flag("--quick", quick,
               "Smoke run: 10 and 1,000 rules, 3 short rounds (still checks agreement)");
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    opt.sizes = {10, 1000};
    opt.rounds = 3;
    opt.roundMs = 5;
    opt.requests = 512;
  }
  if (opt.sizes.empty() ||
      std::any_of(opt.sizes.begin(), opt.sizes.end(), [](std::size_t s) { return s < 5; })) {
    std::fprintf(stderr, "lens_bench_decision: --sizes needs numbers of at least 5\n");
    return 2;
  }
  return lens::bench::run(opt);
}
