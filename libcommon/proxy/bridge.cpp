#include "libcommon/proxy/bridge.h"

namespace lens::proxy {

const policy::ForwardBridge* bridgeOf(const decision::Engine& engine,
                                      const decision::Decision& decision) {
  const auto& policy = engine.policy();
  if (!policy || !decision.allowed() || !decision.rule ||
      decision.rule->table != decision::Table::kHttp) {
    return nullptr;
  }
  if (!policy->network) return nullptr;
  const std::vector<policy::RouteRule>& rules = policy->network->http;
  if (decision.rule->index >= rules.size()) return nullptr;
  const auto& forward = rules[decision.rule->index].forward;
  return forward ? &*forward : nullptr;
}

Result<std::shared_ptr<TlsClientConfig>> BridgeTlsCache::get(const policy::ForwardBridge& bridge,
                                                             std::string_view originCaPem) {
  const bool ownRoots = !bridge.caPem.empty();
  std::string key = bridge.certPem;
  key.append("\n--key--\n").append(bridge.keyPem).append("\n--roots--\n");
  key.append(ownRoots ? bridge.caPem : originCaPem);
  if (auto found = configs_.find(key); found != configs_.end()) return found->second;
  TlsClientOptions options;
  options.extraCaPem = ownRoots ? std::string_view(bridge.caPem) : originCaPem;
  options.systemRoots = !ownRoots;
  options.certPem = bridge.certPem;
  options.keyPem = bridge.keyPem;
  options.what = "forward bridge";
  auto config = TlsClientConfig::create(options);
  if (!config) return config.error();
  if (configs_.size() >= kMaxEntries) configs_.clear();
  configs_.emplace(std::move(key), *config);
  return config;
}

}  // namespace lens::proxy
