#include "libcommon/policy/policy_spec.h"

namespace lens::policy::spec {

namespace {

const Type kString{.kind = Kind::kString};
const Type kNonEmptyString{.kind = Kind::kString, .minLength = 1};
const Type kBoolean{.kind = Kind::kBoolean};
const Type kStringMap{.kind = Kind::kStringMap};
const Type kStringList{.kind = Kind::kArray, .items = &kString};
const Type kAbsolutePath{.kind = Kind::kString, .pattern = "^/"};
const Type kBinaryList{.kind = Kind::kArray, .items = &kAbsolutePath};

// host or address, then a port 1-65535 (IPv6 in brackets).
#define LENS_PORT_RE \
  "([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
const Type kRawMatch{
    .kind = Kind::kString,
    .minLength = 1,
    .pattern = "^(\\[[0-9A-Fa-f:.]+(/[0-9]{1,3})?\\]|[^:\\[\\]]+):" LENS_PORT_RE "$"};
#undef LENS_PORT_RE

const Type kVerdict{
    .kind = Kind::kEnum,
    .name = "Verdict",
    .description =
        "allow: let it through; deny: refuse it; ask: hold it for a person to decide "
        "(refused where no approver is present).",
    .values = {"allow", "deny", "ask"}};

const Type kTransport{
    .kind = Kind::kEnum,
    .name = "Transport",
    .description =
        "upstream: through the control plane's upstream proxy; direct: straight out "
        "from the sandbox on a trusted socket.",
    .values = {"upstream", "direct"}};

const Type kScheme{.kind = Kind::kEnum,
                   .name = "Scheme",
                   .description = "Restricts a rule to plain HTTP or to HTTPS (CONNECT) traffic.",
                   .values = {"http", "https"}};

const Field kMethodField{"method", &kNonEmptyString, false,
                         "HTTP method, case-insensitive; \"*\" or absent = any."};
const Field kPathField{"path", &kNonEmptyString, false,
                       "Path glob on the normalised path: \"*\" = one segment, \"**\" = any "
                       "number of segments."};

// Which requests a credential injection applies to (head only: no body
// matchers here).
const Type kHttpRequestMatch{
    .kind = Kind::kObject,
    .name = "HttpRequestMatch",
    .description = "A request shape. At least one of method and path is required.",
    .fields = {kMethodField, kPathField},
    // null counts as absent, so "required" alone would let {"method": null} through.
    .extraSchema =
        R"({"anyOf": [{"required": ["method"], "properties": {"method": {"type": "string"}}}, )"
        R"({"required": ["path"], "properties": {"path": {"type": "string"}}}]})"};
const Type kHttpRequestMatchList{.kind = Kind::kArray, .items = &kHttpRequestMatch};

const Type kGraphqlOperationType{
    .kind = Kind::kEnum,
    .name = "GraphqlOperationType",
    .description =
        "The operation's type; \"*\" = any (subscription or \"*\" also grants a "
        "WebSocket subscription).",
    .values = {"query", "mutation", "subscription", "*"}};

const Type kGraphqlMatcher{
    .kind = Kind::kObject,
    .name = "GraphqlMatcher",
    .description =
        "GraphQL operations the rule permits; the request body is read (at most "
        "--max-graphql-body) and every operation must be covered whole by one matcher.",
    .fields = {
        {"operationType", &kGraphqlOperationType, true, "The operation's type."},
        {"operationName", &kString, false,
         "Glob over the operation's name (an unnamed operation is \"\"); absent = any."},
        {"fields", &kStringList, false,
         "Globs every root field must match (aliases resolved, fragments followed); absent = "
         "any. Naming fields denies introspection (__schema) unless a glob starts with \"__\"."},
    }};

const Type kJsonPointer{.kind = Kind::kString, .pattern = "^(/|$)"};

const Type kMcpArgumentMatch{
    .kind = Kind::kObject,
    .name = "McpArgumentMatch",
    .description = "A string argument of the call that must match a glob.",
    .fields = {
        {"pointer", &kJsonPointer, true, "JSON pointer (RFC 6901) into params.arguments."},
        {"glob", &kString, true, "Glob the argument's string value must match."},
    }};
const Type kMcpArgumentMatchList{.kind = Kind::kArray, .items = &kMcpArgumentMatch};

const Type kMcpMatcher{
    .kind = Kind::kObject,
    .name = "McpMatcher",
    .description =
        "MCP JSON-RPC requests the rule permits (one object per POST, read at most "
        "--max-mcp-body); one matcher must cover the request alone.",
    .fields = {
        {"method", &kNonEmptyString, true, "Glob over the JSON-RPC method, e.g. tools/call."},
        {"tool", &kString, false, "Glob over params.name (tools/call, prompts/get)."},
        {"uri", &kString, false, "Glob over params.uri (resources/read)."},
        {"arguments", &kMcpArgumentMatchList, false,
         "Arguments that must be strings matching their globs."},
    }};

const Type kHttpRule{
    .kind = Kind::kObject,
    .name = "HttpRule",
    .description =
        "One permitted request shape: at least one of method, path, graphql and mcp. When a "
        "rule covering a request carries graphql (else mcp), those rules alone decide, by the "
        "body.",
    .fields =
        {
            kMethodField,
            kPathField,
            {"graphql", &kGraphqlMatcher, false, "GraphQL operations permitted (body read)."},
            {"mcp", &kMcpMatcher, false, "MCP requests permitted (body read)."},
        },
    .extraSchema =
        R"({"anyOf": [{"required": ["method"], "properties": {"method": {"type": "string"}}}, )"
        R"({"required": ["path"], "properties": {"path": {"type": "string"}}}, )"
        R"({"required": ["graphql"], "properties": {"graphql": {"type": "object"}}}, )"
        R"({"required": ["mcp"], "properties": {"mcp": {"type": "object"}}}], )"
        R"("not": {"required": ["graphql", "mcp"], "properties": {"graphql": {"type": "object"}, "mcp": {"type": "object"}}}})"};
const Type kHttpRuleList{.kind = Kind::kArray, .items = &kHttpRule};

const Type kForwardBridge{
    .kind = Kind::kObject,
    .name = "ForwardConfig",
    .description =
        "A mutual-TLS bridge set by the control plane: requests for the rule's host:port go to "
        "dialAddr with a client certificate, without the sandbox's Authorization.",
    .fields = {
        {"dialAddr", &kNonEmptyString, true,
         "host:port the proxy dials instead of the requested one."},
        {"tlsServerName", &kNonEmptyString, true, "TLS server name sent and verified at dialAddr."},
        {"certPem", &kNonEmptyString, true, "Client certificate chain (PEM)."},
        {"keyPem", &kNonEmptyString, true, "The client certificate's private key (PEM)."},
        {"upstreamHostHeader", &kString, false,
         "Host header sent to dialAddr; absent = the client's."},
        {"caPem", &kString, false,
         "Roots (PEM) that dialAddr's certificate must chain to; absent = the system's and "
         "--origin-ca."},
    }};

const Type kRouteRule{
    .kind = Kind::kObject,
    .name = "RouteRule",
    .description = "An HTTP-aware egress rule. Rules are ordered; the first match wins.",
    .fields = {
        {"match", &kNonEmptyString, true,
         "Destination: \"*\", host, \"*.domain\", mid-label wildcard, IP, CIDR, each optionally "
         "with \":port\"; IPv6 with a port in brackets."},
        {"verdict", &kVerdict, true, "What happens to matching traffic."},
        {"transport", &kTransport, true, "How allowed traffic leaves the sandbox."},
        {"scheme", &kScheme, false, "Only match this scheme; absent = both."},
        {"description", &kString, false, "Human-readable note."},
        {"tlsTerminate", &kBoolean, false,
         "Terminate the client's TLS and re-encrypt (upstream transport)."},
        {"rules", &kHttpRuleList, false,
         "Permitted requests; a non-empty list denies every request it does not cover."},
        {"binaries", &kBinaryList, false,
         "Absolute paths of the executables (or their ancestors) this rule applies to."},
        {"forward", &kForwardBridge, false,
         "Mutual-TLS bridge (set by the control plane); only on a host:port rule."},
    }};
const Type kRouteRuleList{.kind = Kind::kArray, .items = &kRouteRule};

const std::vector<Field> kRawRuleFields = {
    {"match", &kRawMatch, true, "host:port, ip:port, cidr:port, [v6]:port or *.domain:port."},
    {"verdict", &kVerdict, true, "What happens to matching traffic."},
    {"binaries", &kBinaryList, false,
     "Absolute paths of the executables (or their ancestors) this rule applies to."},
    {"description", &kString, false, "Human-readable note."},
};

const Type kTcpRule{
    .kind = Kind::kObject,
    .name = "TcpEgressRule",
    .description = "A raw TCP egress rule. Never intercepted. The match must carry a port.",
    .fields = kRawRuleFields};

const Type kUdpRule{
    .kind = Kind::kObject,
    .name = "UdpEgressRule",
    .description = "A raw UDP egress rule. The match must carry a port other than 53.",
    .fields = kRawRuleFields,
    .extraSchema =
        R"({"not": {"properties": {"match": {"pattern": ":53$"}}, "required": ["match"]}})"};
const Type kTcpRuleList{.kind = Kind::kArray, .items = &kTcpRule};
const Type kUdpRuleList{.kind = Kind::kArray, .items = &kUdpRule};

const Type kEgress{
    .kind = Kind::kObject,
    .name = "Egress",
    .description = "Egress rules by layer.",
    .fields = {
        {"http", &kRouteRuleList, false, "HTTP-aware rules (CONNECT, forward, transparent)."},
        {"tcp", &kTcpRuleList, false, "Raw TCP rules; they decide before the http rules."},
        {"udp", &kUdpRuleList, false,
         "Raw UDP rules; UDP is denied unless a rule allows it. "
         "Port 53 is refused (DNS goes through lens-dns)."},
    }};

const Type kNetwork{
    .kind = Kind::kObject,
    .name = "NetworkPolicy",
    .description = "Outbound network policy.",
    .fields = {
        {"defaultVerdict", &kVerdict, true, "Verdict for connections no rule matches."},
        {"defaultTransport", &kTransport, true, "Transport for the default verdict."},
        {"egress", &kEgress, false, "Rules by layer."},
        {"allowedRoutes", &kRouteRuleList, false,
         "Legacy spelling of egress.http; egress.http wins when both are present.", true},
    }};

const Type kHeaderInjection{
    .kind = Kind::kObject,
    .name = "HeaderInjection",
    .description = "Replace a request header on matching requests to the domain.",
    .fields = {
        {"injectionType", nullptr, true, "\"header\""},
        {"domain", &kNonEmptyString, true, "Host pattern the injection applies to."},
        {"header", &kNonEmptyString, true, "Name of the header to set."},
        {"value", &kString, true, "Full header value; empty = unarmed (gate first use)."},
        {"rules", &kHttpRequestMatchList, false, "Requests the injection applies to; empty = all."},
    }};

const Type kUriInjection{
    .kind = Kind::kObject,
    .name = "UriPlaceholderInjection",
    .description = "Replace the credential's placeholder in the request line.",
    .fields = {
        {"injectionType", nullptr, true, "\"uriPlaceholder\""},
        {"domain", &kNonEmptyString, true, "Host pattern the injection applies to."},
        {"value", &kString, true, "Real value; empty = unarmed (gate first use)."},
        {"rules", &kHttpRequestMatchList, false, "Requests the injection applies to; empty = all."},
    }};

const Type kAwsInjection{
    .kind = Kind::kObject,
    .name = "AwsSigv4Injection",
    .description = "Re-sign AWS SigV4 requests made with the placeholder key id (LENSFAKE...).",
    .fields = {
        {"injectionType", nullptr, true, "\"awsSigv4\""},
        {"domain", &kNonEmptyString, true, "Host pattern, e.g. *.amazonaws.com."},
        {"accessKeyId", &kNonEmptyString, true, "Real access key id."},
        {"secretAccessKey", &kNonEmptyString, true, "Real secret access key."},
        {"sessionToken", &kNonEmptyString, true, "Real session token."},
        {"region", &kString, false, "Ignored: the region comes from the client's signature.", true},
        {"rules", &kHttpRequestMatchList, false, "Ignored.", true},
    }};

const Type kTokenPath{.kind = Kind::kString, .minLength = 1, .pattern = "^/[^?#]*$"};
const Type kExpiresIn{.kind = Kind::kInteger, .minimum = 1, .maximum = 86400};

const Type kOauthInjection{
    .kind = Kind::kObject,
    .name = "OauthClientCredentialsInjection",
    .description =
        "Answer an OAuth client-credentials token request in the proxy, with the credential's "
        "placeholder as the access token (a header injection swaps it on the API calls).",
    .fields = {
        {"injectionType", nullptr, true, "\"oauthClientCredentials\""},
        {"domain", &kNonEmptyString, true, "Host pattern of the token endpoint."},
        {"tokenPath", &kTokenPath, true, "Path of the token endpoint (no query)."},
        {"clientId", &kNonEmptyString, true, "The client_id the sandbox asks with."},
        {"scope", &kString, false,
         "Space-separated scopes the request must ask for exactly; absent or empty = no scope."},
        {"expiresIn", &kExpiresIn, false, "expires_in of the answer in seconds (default 3600)."},
    }};

const Type kInjection{.kind = Kind::kTagged,
                      .name = "CredentialInjection",
                      .description = "How a credential is exchanged at the boundary.",
                      .tag = "injectionType",
                      .variants = {{"header", &kHeaderInjection},
                                   {"uriPlaceholder", &kUriInjection},
                                   {"awsSigv4", &kAwsInjection},
                                   {"oauthClientCredentials", &kOauthInjection}}};
const Type kInjectionList{.kind = Kind::kArray, .items = &kInjection};

const Type kCredential{
    .kind = Kind::kObject,
    .name = "Credential",
    .description = "A secret the sandbox only ever sees as a placeholder.",
    .fields =
        {
            {"id", &kNonEmptyString, true, "Unique identifier."},
            {"envVar", &kString, false, "Environment variable that receives the placeholder."},
            {"placeholder", &kString, false,
             "Fake value the sandbox sees (LENSFAKE... for AWS access key ids)."},
            {"injections", &kInjectionList, false, "Where and how the real value is injected."},
        },
    .extraSchema =
        R"({"if": {"properties": {"injections": {"type": "array", "contains": {"type": "object", "properties": {"injectionType": {"const": "awsSigv4"}}, "required": ["injectionType"]}}}, "required": ["injections"]}, "then": {"properties": {"placeholder": {"type": "string", "pattern": "^LENSFAKE"}}, "required": ["placeholder"]}})"};
const Type kCredentialList{.kind = Kind::kArray, .items = &kCredential};

const Type kFilePath{.kind = Kind::kString,
                     .minLength = 1,
                     .pattern = "^(?!.*//)(?!(.*/)?\\.\\.?(/|$))(?!.*/$)(/tmp/[^/]|[^/])"};
const Type kFileMode{.kind = Kind::kInteger, .minimum = 0, .maximum = 07777};

const Type kTempFile{
    .kind = Kind::kObject,
    .name = "TempFile",
    .description = "A file written for the workload before it starts.",
    .fields = {
        {"path", &kFilePath, true, "Path under /tmp (relative paths are placed there)."},
        {"content", &kString, true, "File content (text)."},
        {"mode", &kFileMode, false, "Permission bits as a number (384 = 0600, the default)."},
    }};
const Type kTempFileList{.kind = Kind::kArray, .items = &kTempFile};

const Type kPolicyDocument{
    .kind = Kind::kObject,
    .name = "PolicyDocument",
    .description = "Lens sandbox policy: network egress, credentials, environment and files.",
    .fields = {
        {"network", &kNetwork, false,
         "Absent: everything is allowed through the default transport."},
        {"credentials", &kCredentialList, false, "Credentials exchanged at the boundary."},
        {"env", &kStringMap, false, "Environment variables for the workload."},
        {"files", &kTempFileList, false, "Files written for the workload."},
    }};

}  // namespace

const Type& policyDocument() { return kPolicyDocument; }

const std::vector<std::string_view>& transportFields() {
  static const std::vector<std::string_view> kFields = {"type", "proxyUpstream", "proxyCaCert",
                                                        "minProtocolDate"};
  return kFields;
}

}  // namespace lens::policy::spec
