#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/graphql/request.h"
#include "libcommon/mcp/request.h"
#include "libcommon/policy/match_pattern.h"
#include "libcommon/policy/path_glob.h"

namespace lens::policy {

// The typed PolicyDocument (DESIGN.md section 4). Built only by parsePolicy(),
// which has validated every field; shared between threads as
// std::shared_ptr<const PolicyDocument>.

enum class Verdict : std::uint8_t { kAllow, kDeny, kAsk };
enum class Transport : std::uint8_t { kUpstream, kDirect };
enum class Scheme : std::uint8_t { kHttp, kHttps };

std::string_view toString(Verdict v);
std::string_view toString(Transport t);
std::string_view toString(Scheme s);

// One entry of a rule's `rules` list: method (empty = any) and path glob,
// and (route rules only, one or neither) what the body must be: GraphQL
// operations or an MCP request (original-behaviour 1.7, 1.8, 5.9).
struct HttpRule {
  std::string method;  // upper-case; empty or "*" = any
  std::optional<PathGlob> path;
  std::optional<graphql::Matcher> graphql;
  std::optional<mcp::Matcher> mcp;
};

// A route's mutual-TLS bridge (`forward`, set by the control plane): the
// requests for the rule's host:port go to `dialHost`:`dialPort` over TLS
// with a client certificate; the sandbox's Authorization is dropped.
struct ForwardBridge {
  std::string dialHost;  // a name or an IP literal (no brackets)
  std::uint16_t dialPort = 0;
  std::string tlsServerName;       // SNI and the name the origin's certificate must carry
  std::string certPem;             // client certificate chain
  std::string keyPem;              // its private key
  std::string caPem;               // roots for the origin; empty = system roots and --origin-ca
  std::string upstreamHostHeader;  // Host sent to the origin; empty = the client's
};

struct RouteRule {  // network.egress.http[] (and legacy network.allowedRoutes[])
  MatchPattern match;
  Verdict verdict = Verdict::kDeny;
  Transport transport = Transport::kUpstream;
  std::optional<Scheme> scheme;
  std::string description;
  bool tlsTerminate = false;
  std::vector<HttpRule> rules;
  std::vector<std::string> binaries;
  std::optional<ForwardBridge> forward;
};

struct RawRule {       // network.egress.tcp[] and network.egress.udp[]
  MatchPattern match;  // always carries a port
  Verdict verdict = Verdict::kDeny;
  std::string description;
  std::vector<std::string> binaries;
};

struct NetworkPolicy {
  Verdict defaultVerdict = Verdict::kDeny;
  Transport defaultTransport = Transport::kUpstream;
  std::vector<RouteRule> http;
  std::vector<RawRule> tcp;
  std::vector<RawRule> udp;
  bool fromAllowedRoutes = false;  // http came from the legacy spelling
};

enum class InjectionType : std::uint8_t {
  kHeader,
  kUriPlaceholder,
  kAwsSigv4,
  kOauthClientCredentials
};

// The placeholder of a credential with an awsSigv4 injection is the fake
// access key id the sandbox signs with; it starts with this prefix.
inline constexpr std::string_view kAwsPlaceholderPrefix = "LENSFAKE";
std::string_view toString(InjectionType t);

struct Injection {
  InjectionType type = InjectionType::kHeader;
  MatchPattern domain;
  std::vector<HttpRule> rules;  // header and uriPlaceholder only
  std::string header;           // header
  std::string value;            // header, uriPlaceholder (empty = unarmed)
  std::string accessKeyId;      // awsSigv4
  std::string secretAccessKey;  // awsSigv4
  std::string sessionToken;     // awsSigv4
  // oauthClientCredentials: the token endpoint the proxy answers itself,
  // with the credential's placeholder as the access token.
  std::string tokenPath;  // normalised path
  std::string clientId;
  std::vector<std::string> scopes;  // sorted, no repeats; empty = a request without scope
  std::uint32_t expiresIn = 3600;
};

struct Credential {
  std::string id;
  std::string envVar;
  std::string placeholder;
  std::vector<Injection> injections;
};

struct TempFile {
  std::string path;
  std::string content;
  std::uint32_t mode = 0600;
};

struct PolicyDocument {
  // Absent network = allow everything through the default transport.
  std::optional<NetworkPolicy> network;
  std::vector<Credential> credentials;
  std::map<std::string, std::string> env;
  std::vector<TempFile> files;
  // sha256 of the policy text: the version reported in events and frames.
  std::string version;
  // Transport fields of a control-plane policy frame (read only when the
  // parser is told to accept them): the upstream proxy URL and extra PEM
  // roots to verify an https:// one. Empty when absent.
  std::string proxyUpstream;
  std::string proxyCaCert;
};

}  // namespace lens::policy
