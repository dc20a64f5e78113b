#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/lockdown/allow_set.h"
#include "libcommon/util/result.h"

namespace lens::lockdown {

// The one table lens-lockdown owns (DESIGN.md section 3).
inline constexpr std::string_view kTableFamily = "inet";
inline constexpr std::string_view kTableName = "lens_sandbox";

// The dynamic raw-allow sets lens-dns fills (ADDRESS . PROTOCOL . PORT with a
// timeout) and the static ones filled from the policy at apply time.
inline constexpr std::string_view kDynamicSet4 = "raw4";
inline constexpr std::string_view kDynamicSet6 = "raw6";
inline constexpr std::string_view kStaticSet4 = "static4";
inline constexpr std::string_view kStaticSet6 = "static6";

// Why the filter cage refused a packet. Each refusing rule logs, rate-limited
// in the kernel, to the NFLOG group with its own prefix (lens-lockdown watch
// turns each logged packet into an audit event with the reason), and the rule
// and the reject after it are counted, so the packets the rate limit kept
// from the log are known: refused - logged.
struct Refusal {
  std::string_view prefix;  // NFLOG prefix, as the rule sets it
  std::string_view reason;  // metadata.reason of the audit event
};
inline constexpr Refusal kRefusals[] = {
    {"lens:dot: ", "dot-refused"},      // TCP 853 (DNS over TLS)
    {"lens:quic: ", "quic-refused"},    // UDP 443 (QUIC)
    {"lens:deny: ", "kernel-refused"},  // everything else the cage refuses
};
// The refusal logged with `prefix`, or nullptr.
const Refusal* refusalForPrefix(std::string_view prefix);

// The chain that holds the refusing rules (and their counters).
inline constexpr std::string_view kRefusalChain = "filter_cage";

// The default NFLOG group (--log-group) and the kernel's log rate limit,
// per refusal reason.
inline constexpr std::uint16_t kDefaultLogGroup = 3129;
inline constexpr int kLogRatePerSecond = 200;
inline constexpr int kLogBurst = 400;

enum class Mode : std::uint8_t { kRedirect, kTproxy };
std::string_view toString(Mode mode);

// Which sockets the cage applies to.
struct Scope {
  enum class Kind : std::uint8_t { kAll, kUid, kCgroup };
  Kind kind = Kind::kAll;
  std::uint32_t uid = 0;
  std::string cgroup;  // path below the cgroup v2 root, without leading '/'
  // Where the cgroup v2 root is below /sys/fs/cgroup ("" in the unified
  // layout, "unified" in the hybrid one): nftables resolves the path from
  // /sys/fs/cgroup, while the level counts from the cgroup v2 root.
  std::string cgroupMountPrefix;

  // "all", "uid:N" or "cgroup:PATH" ("cgroup:/sandbox/job1" or
  // "cgroup:sandbox/job1"; the path is relative to the cgroup v2 root).
  static Result<Scope> parse(std::string_view text);
  [[nodiscard]] std::string toString() const;
};

struct Config {
  Mode mode = Mode::kRedirect;
  Scope scope;
  std::uint16_t dnsPort = 5355;               // lens-dns stub
  std::uint16_t transparentPort = 3129;       // lens-tproxy
  std::uint32_t mark = 0x4E585553;            // trusted traffic (the daemons' SO_MARK)
  std::uint32_t tproxyMark = 0x4E585554;      // steers packets to the TPROXY route (tproxy mode)
  std::uint32_t routeTable = 3129;            // holds the local default route (tproxy mode)
  std::uint16_t logGroup = kDefaultLogGroup;  // NFLOG group of the refusal log
};

// The nftables script `apply` runs as one transaction (and `render` prints):
// it (re)creates the table, keeps the dynamic sets and their live elements,
// replaces the static sets' elements and every chain.
std::string renderScript(const Config& config, const std::vector<AllowElement>& staticElements);

// The chain names any version of the ruleset may create; the script deletes
// each before creating the current ones so a re-apply leaves no stale chain.
std::vector<std::string_view> chainNames();

}  // namespace lens::lockdown
