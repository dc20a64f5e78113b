#include "libcommon/lockdown/ruleset.h"

#include <charconv>
#include <cstdio>

#include "libcommon/util/strings.h"

namespace lens::lockdown {

namespace {

constexpr std::string_view kNatChain = "nat_output";
constexpr std::string_view kRouteChain = "route_output";
constexpr std::string_view kFilterChain = "filter_output";
constexpr std::string_view kTproxyChain = "tproxy_prerouting";
constexpr std::string_view kNatCage = "nat_cage";
constexpr std::string_view kRouteCage = "route_cage";
constexpr std::string_view kFilterCage = kRefusalChain;

std::string hex(std::uint32_t value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", value);
  return buf;
}

bool validCgroupComponent(std::string_view part) {
  if (part.empty() || part == "." || part == "..") return false;
  for (char c : part) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

// The match that selects the caged sockets, or empty for scope all. A
// positive match: packets it cannot judge (no socket, or a cgroup shallower
// than the level) are not in the scope.
std::string inScope(const Scope& scope) {
  switch (scope.kind) {
    case Scope::Kind::kAll:
      return {};
    case Scope::Kind::kUid:
      return "meta skuid " + std::to_string(scope.uid);
    case Scope::Kind::kCgroup: {
      const auto level = util::split(scope.cgroup, '/').size();
      const std::string path = scope.cgroupMountPrefix.empty()
                                   ? scope.cgroup
                                   : scope.cgroupMountPrefix + "/" + scope.cgroup;
      return "socket cgroupv2 level " + std::to_string(level) + " \"" + path + "\"";
    }
  }
  return {};
}

struct Writer {
  std::string out;
  void line(std::string_view text, int indent) {
    out.append(static_cast<std::size_t>(indent) * 8, ' ');
    out += text;
    out += '\n';
  }
};

void setLookups(Writer& w, std::string_view verdict, bool tcpOnly) {
  const std::string proto = tcpOnly ? "meta l4proto tcp " : "";
  for (auto [family, dynamicSet, staticSet] : {std::tuple{"ip", kDynamicSet4, kStaticSet4},
                                               std::tuple{"ip6", kDynamicSet6, kStaticSet6}}) {
    for (std::string_view set : {dynamicSet, staticSet}) {
      w.line(proto + family + " daddr . meta l4proto . th dport @" + std::string(set) + " " +
                 std::string(verdict),
             2);
    }
  }
}

// A hook's base chain: trusted (marked) packets leave it first, packets in
// the scope go through the cage chain, the rest get `outside`.
void baseChain(Writer& w, const Config& c, std::string_view name, std::string_view hook,
               std::string_view trusted, std::string_view cage, std::string_view outside) {
  w.line("chain " + std::string(name) + " {", 1);
  w.line(hook, 2);
  w.line("meta mark " + hex(c.mark) + " " + std::string(trusted), 2);
  const std::string scope = inScope(c.scope);
  w.line((scope.empty() ? "" : scope + " ") + "jump " + std::string(cage), 2);
  if (!scope.empty() && !outside.empty()) w.line(outside, 2);
  w.line("}", 1);
}

void natChain(Writer& w, const Config& c) {
  const std::string dns = std::to_string(c.dnsPort);
  w.line("# DNS of unmarked traffic goes to lens-dns, even to a loopback server;", 1);
  w.line("# then local destinations and raw-allow destinations are left alone.", 1);
  baseChain(w, c, kNatChain, "type nat hook output priority -100; policy accept;", "return",
            kNatCage, "");
  w.line("chain " + std::string(kNatCage) + " {", 1);
  w.line("udp dport 53 redirect to :" + dns, 2);
  w.line("tcp dport 53 redirect to :" + dns, 2);
  if (c.mode == Mode::kRedirect) {
    w.line("oifname \"lo\" return", 2);
    setLookups(w, "return", true);
    w.line("tcp dport 853 return", 2);  // DoT is refused by the filter chain, not proxied
    w.line("meta l4proto tcp redirect to :" + std::to_string(c.transparentPort), 2);
  }
  w.line("}", 1);
}

void routeChain(Writer& w, const Config& c) {
  w.line("# TPROXY mode: unmarked TCP leaving the host gets the steering mark; the", 1);
  w.line("# policy routing rule (fwmark " + hex(c.tproxyMark) + " lookup " +
             std::to_string(c.routeTable) + ") delivers it locally,",
         1);
  w.line("# where " + std::string(kTproxyChain) + " hands it to the transparent listener.", 1);
  baseChain(w, c, kRouteChain, "type route hook output priority mangle; policy accept;", "return",
            kRouteCage, "");
  w.line("chain " + std::string(kRouteCage) + " {", 1);
  w.line("meta l4proto != tcp return", 2);
  w.line("tcp dport 53 return", 2);
  w.line("oifname \"lo\" return", 2);
  setLookups(w, "return", true);
  w.line("tcp dport 853 return", 2);
  w.line("meta mark set " + hex(c.tproxyMark), 2);
  w.line("}", 1);
  w.line("chain " + std::string(kTproxyChain) + " {", 1);
  w.line("type filter hook prerouting priority mangle; policy accept;", 2);
  w.line("iifname \"lo\" meta mark " + hex(c.tproxyMark) +
             " meta l4proto tcp tproxy to :" + std::to_string(c.transparentPort) + " accept",
         2);
  w.line("}", 1);
}

void filterChain(Writer& w, const Config& c) {
  w.line("# Everything unmarked that no rule accepts is refused at once (ICMP", 1);
  w.line("# port-unreachable), never silently dropped. Established flows pass, but", 1);
  w.line("# never UDP: a datagram leaves only while its destination is in a set.", 1);
  w.line("# Refusals are logged to NFLOG group " + std::to_string(c.logGroup) +
             " (lens-lockdown watch), rate-limited and counted.",
         1);
  baseChain(w, c, kFilterChain, "type filter hook output priority 0; policy drop;", "accept",
            kFilterCage, "accept");
  w.line("chain " + std::string(kFilterCage) + " {", 1);
  // After a redirect the packet goes to loopback, but oifname still names
  // the device of the first route: accept by destination too.
  w.line("oifname \"lo\" accept", 2);
  w.line("ip daddr 127.0.0.0/8 accept", 2);
  w.line("ip6 daddr ::1 accept", 2);
  if (c.mode == Mode::kTproxy) w.line("meta mark " + hex(c.tproxyMark) + " accept", 2);
  w.line(
      "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, "
      "mld2-listener-report } accept",
      2);
  w.line("meta l4proto != udp ct state established,related accept", 2);
  setLookups(w, "accept", false);
  // Each refusal: a rate-limited, counted NFLOG rule, then the counted reject
  // (lens-lockdown watch reads both counters: refused - logged = not logged).
  const auto logRule = [&](std::string_view match, std::string_view prefix) {
    w.line(std::string(match) + "limit rate " + std::to_string(kLogRatePerSecond) +
               "/second burst " + std::to_string(kLogBurst) + " packets counter log prefix \"" +
               std::string(prefix) + "\" group " + std::to_string(c.logGroup),
           2);
    w.line(std::string(match) + "counter reject with icmpx port-unreachable", 2);
  };
  logRule("tcp dport 853 ", kRefusals[0].prefix);
  logRule("udp dport 443 ", kRefusals[1].prefix);
  logRule("", kRefusals[2].prefix);
  w.line("}", 1);
}

std::string setDefinition(std::string_view name, bool v6, bool dynamic) {
  return "set " + std::string(name) + " { type " + (v6 ? "ipv6_addr" : "ipv4_addr") +
         " . inet_proto . inet_service; " +
         (dynamic ? "flags timeout; size 65536; }" : "flags interval; }");
}

}  // namespace

const Refusal* refusalForPrefix(std::string_view prefix) {
  for (const Refusal& r : kRefusals) {
    if (r.prefix == prefix) return &r;
  }
  return nullptr;
}

std::string_view toString(Mode mode) { return mode == Mode::kTproxy ? "tproxy" : "redirect"; }

Result<Scope> Scope::parse(std::string_view text) {
  Scope scope;
  if (text == "all") return scope;
  if (text.starts_with("uid:")) {
    const auto uid = util::parseDecimal(text.substr(4), 0xfffffffeUL);
    if (!uid) {
      return makeError(ErrorCode::kInvalidArgument, "invalid scope \"" + std::string(text) +
                                                        "\": uid:N needs a numeric user id");
    }
    scope.kind = Kind::kUid;
    scope.uid = static_cast<std::uint32_t>(*uid);
    return scope;
  }
  if (text.starts_with("cgroup:")) {
    std::string_view path = text.substr(7);
    while (path.starts_with('/')) path.remove_prefix(1);
    while (path.ends_with('/')) path.remove_suffix(1);
    const auto parts = util::split(path, '/');
    bool valid = !path.empty() && parts.size() <= 255;
    for (const auto& part : parts) valid = valid && validCgroupComponent(part);
    if (!valid) {
      return makeError(
          ErrorCode::kInvalidArgument,
          "invalid scope \"" + std::string(text) +
              "\": cgroup:PATH needs a path below the cgroup v2 root such as cgroup:/sandbox/job1");
    }
    scope.kind = Kind::kCgroup;
    scope.cgroup = std::string(path);
    return scope;
  }
  return makeError(ErrorCode::kInvalidArgument,
                   "invalid scope \"" + std::string(text) + "\": use all, uid:N or cgroup:PATH");
}

std::string Scope::toString() const {
  switch (kind) {
    case Kind::kAll:
      return "all";
    case Kind::kUid:
      return "uid:" + std::to_string(uid);
    case Kind::kCgroup:
      return "cgroup:/" + cgroup;
  }
  return "all";
}

// Base chains first: deleting them drops the jumps into the cage chains.
std::vector<std::string_view> chainNames() {
  return {kNatChain, kRouteChain, kFilterChain, kTproxyChain, kNatCage, kRouteCage, kFilterCage};
}

std::string renderScript(const Config& c, const std::vector<AllowElement>& staticElements) {
  const std::string table = std::string(kTableFamily) + " " + std::string(kTableName);
  Writer w;
  w.line("# lens-lockdown ruleset: mode " + std::string(toString(c.mode)) + ", scope " +
             c.scope.toString() + ", trusted mark " + hex(c.mark),
         0);
  w.line("# Applied as one transaction. The dynamic sets raw4/raw6 (filled by lens-dns)", 0);
  w.line("# keep their elements; static sets and chains are replaced.", 0);
  w.line("add table " + table, 0);
  for (auto [name, v6, dynamic] :
       {std::tuple{kDynamicSet4, false, true}, std::tuple{kDynamicSet6, true, true},
        std::tuple{kStaticSet4, false, false}, std::tuple{kStaticSet6, true, false}}) {
    w.line("add " + setDefinition(name, v6, dynamic).insert(4, table + " "), 0);
  }
  for (std::string_view set : {kStaticSet4, kStaticSet6})
    w.line("flush set " + table + " " + std::string(set), 0);
  for (std::string_view chain : chainNames()) {
    const std::string name = table + " " + std::string(chain);
    w.line("add chain " + name, 0);
    w.line("flush chain " + name, 0);
    w.line("delete chain " + name, 0);
  }
  w.line("table " + table + " {", 0);
  natChain(w, c);
  if (c.mode == Mode::kTproxy) routeChain(w, c);
  filterChain(w, c);
  w.line("}", 0);
  for (auto [set, v4] : {std::pair{kStaticSet4, true}, std::pair{kStaticSet6, false}}) {
    std::vector<std::string> elements;
    for (const AllowElement& e : staticElements) {
      if (e.first.isV4() == v4) elements.push_back(e.toNft());
    }
    if (elements.empty()) continue;
    w.line("add element " + table + " " + std::string(set) + " {", 0);
    for (std::size_t i = 0; i < elements.size(); ++i) {
      w.line(elements[i] + (i + 1 < elements.size() ? "," : ""), 1);
    }
    w.line("}", 0);
  }
  return w.out;
}

}  // namespace lens::lockdown
