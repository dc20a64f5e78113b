#pragma once

#include <map>
#include <memory>
#include <string>

#include "libcommon/decision/decision.h"
#include "libcommon/decision/engine.h"
#include "libcommon/policy/policy.h"
#include "libcommon/proxy/stream.h"
#include "libcommon/util/result.h"

// The mutual TLS bridge (a route's `forward`, lens-policy(5)): requests of
// an intercepted connection the route allows go to the bridge's dial
// address over TLS with its client certificate, named by its
// tlsServerName; the sandbox's Authorization is dropped (the client
// certificate is the authentication) and Host rewritten when configured.
namespace lens::proxy {

// The bridge of the rule that decided `decision`, or null.
[[nodiscard]] const policy::ForwardBridge* bridgeOf(const decision::Engine& engine,
                                                    const decision::Decision& decision);

// The TLS settings of a bridge, made once per distinct identity and roots
// and kept while a policy names them.
class BridgeTlsCache {
 public:
  // `originCaPem`: --origin-ca, trusted with the system roots when the
  // bridge names no caPem.
  [[nodiscard]] Result<std::shared_ptr<TlsClientConfig>> get(const policy::ForwardBridge& bridge,
                                                             std::string_view originCaPem);

 private:
  static constexpr std::size_t kMaxEntries = 64;  // distinct bridges; more: start over
  std::map<std::string, std::shared_ptr<TlsClientConfig>> configs_;
};

}  // namespace lens::proxy
