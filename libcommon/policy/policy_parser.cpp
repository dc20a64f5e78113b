#include "libcommon/policy/policy_parser.h"

#include <algorithm>
#include <span>
#include <unordered_map>

#include "libcommon/graphql/request.h"
#include "libcommon/mcp/request.h"
#include "libcommon/net/host_port.h"
#include "libcommon/policy/policy_spec.h"
#include "libcommon/tls/pem.h"
#include "libcommon/util/file.h"
#include "libcommon/util/hash.h"
#include "libcommon/util/strings.h"

namespace lens::policy {

std::string_view toString(Verdict v) {
  switch (v) {
    case Verdict::kAllow:
      return "allow";
    case Verdict::kDeny:
      return "deny";
    case Verdict::kAsk:
      return "ask";
  }
  return "deny";
}

std::string_view toString(Transport t) { return t == Transport::kDirect ? "direct" : "upstream"; }
std::string_view toString(Scheme s) { return s == Scheme::kHttp ? "http" : "https"; }

std::string_view toString(InjectionType t) {
  switch (t) {
    case InjectionType::kHeader:
      return "header";
    case InjectionType::kUriPlaceholder:
      return "uriPlaceholder";
    case InjectionType::kAwsSigv4:
      return "awsSigv4";
    case InjectionType::kOauthClientCredentials:
      return "oauthClientCredentials";
  }
  return "header";
}

namespace {

using json::Value;

std::string_view kindName(const Value& v) {
  switch (v.kind()) {
    case json::Kind::kNull:
      return "null";
    case json::Kind::kObject:
      return "an object";
    case json::Kind::kArray:
      return "an array";
    case json::Kind::kBoolean:
      return "a boolean";
    case json::Kind::kString:
      return "a string";
    case json::Kind::kNumber:
      return "a number";
  }
  return "a value";
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string joinValues(const std::vector<std::string_view>& values) {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += (i + 1 == values.size()) ? " or " : ", ";
    out += values[i];
  }
  return out;
}

// Why a files[].path is refused, if it is: it must name a file under /tmp
// (relative paths are placed there) without "..", "." or empty segments.
std::optional<std::string> filePathProblem(std::string_view path) {
  const auto segments = util::split(path, '/');
  if (std::find(segments.begin(), segments.end(), "..") != segments.end())
    return "must not contain \"..\"";
  const bool absolute = path.starts_with('/');
  if (path.ends_with('/') || (absolute && (segments.size() < 3 || segments[1] != "tmp"))) {
    return "must name a file under /tmp";
  }
  for (std::size_t i = absolute ? 1 : 0; i < segments.size(); ++i) {
    if (segments[i].empty() || segments[i] == ".")
      return "must not contain \".\" or empty segments";
  }
  return std::nullopt;
}

bool isToken(std::string_view s) {  // RFC 9110 token
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool isEnvName(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// The fields of one JSON object that passed the structural check.
struct ObjectView {
  const Value* obj;
  std::string path;
  const spec::Type* type;
  std::uint64_t valid = 0;  // bit i: type->fields[i]

  [[nodiscard]] bool has(std::string_view key) const {
    for (std::size_t i = 0; i < type->fields.size(); ++i) {
      if (type->fields[i].name == key) return (valid >> i & 1u) != 0;
    }
    return false;
  }
  // The member `key`; only for a key that has() names.
  [[nodiscard]] const Value& get(std::string_view key) const { return *obj->find(key); }
  [[nodiscard]] std::string str(std::string_view key) const {
    return has(key) ? std::string(get(key).text()) : std::string();
  }
  [[nodiscard]] std::string at(std::string_view key) const { return json::childPath(path, key); }
};

// Poco::JSON, which this parser used to read into, treats a boolean as the
// integer 0 or 1 in an integer field; kept so that accepted policies stay
// accepted.
bool isIntegerLike(const Value& v) { return v.isInteger() || v.isBoolean(); }
std::optional<std::int64_t> integerOf(const Value& v) {
  if (v.isBoolean()) return v.boolean() ? 1 : 0;
  return v.int64();
}

class Parser {
 public:
  Parser(const json::SourceMap& map, const ParseOptions& options, ParseOutcome& out)
      : map_(map), options_(options), out_(out) {}

  void document(const Value& root, PolicyDocument& doc) {
    if (!root.isObject()) {
      error("", "a policy must be a JSON object, not " + std::string(kindName(root)));
      return;
    }
    if (options_.allowTransportFields) {
      transportField(root, "proxyUpstream", doc.proxyUpstream);
      transportField(root, "proxyCaCert", doc.proxyCaCert);
    }
    const ObjectView view = check(root, spec::policyDocument(), "", options_.allowTransportFields);
    if (view.has("network")) doc.network = network(view.get("network"), view.at("network"));
    if (view.has("credentials")) credentials(view, doc.credentials);
    if (view.has("env")) environment(view, doc.env);
    if (view.has("files")) files(view, doc.files);
  }

  // A string transport field of a frame, kept for the daemon that uses it
  // (lens-proxy: proxyUpstream, proxyCaCert); null or absent leaves it empty.
  void transportField(const Value& obj, const std::string& key, std::string& out) {
    const Value* v = obj.find(key);
    if (v == nullptr || v->isNull()) return;
    if (!v->isString()) {
      error(key, "must be a string, not " + std::string(kindName(*v)));
      return;
    }
    out = std::string(v->text());
  }

  void error(const std::string& path, std::string message, bool atKey = false) {
    report(out_.errors, Diagnostic::Severity::kError, path, std::move(message), atKey);
  }
  void warning(const std::string& path, std::string message, bool atKey = false) {
    report(out_.warnings, Diagnostic::Severity::kWarning, path, std::move(message), atKey);
  }

 private:
  void report(std::vector<Diagnostic>& list, Diagnostic::Severity severity, const std::string& path,
              std::string message, bool atKey) {
    list.push_back(Diagnostic{severity, options_.fileName,
                              atKey ? map_.keyPos(path) : map_.valuePos(path), path,
                              std::move(message)});
  }

  // ---- structure -------------------------------------------------------

  // Checks one value against a non-container type; containers only by kind.
  // The value's path is made only for a diagnostic: most values have none.
  bool checkShallow(const Value& v, const spec::Type& type, const std::string& parent,
                    std::string_view key) {
    const auto path = [&] { return json::childPath(parent, key); };
    switch (type.kind) {
      case spec::Kind::kString:
        if (!v.isString()) return wrongKind(path(), "a string", v);
        if (type.minLength && v.text().size() < *type.minLength) {
          error(path(), "must not be empty");
          return false;
        }
        return true;
      case spec::Kind::kBoolean:
        return v.isBoolean() || wrongKind(path(), "true or false", v);
      case spec::Kind::kInteger: {
        if (!isIntegerLike(v)) return wrongKind(path(), "an integer", v);
        const std::optional<std::int64_t> integer = integerOf(v);
        if (!integer) {
          error(path(), "number out of range");
          return false;
        }
        const std::int64_t n = *integer;
        if ((type.minimum && n < *type.minimum) || (type.maximum && n > *type.maximum)) {
          error(path(), "must be between " + std::to_string(type.minimum.value_or(0)) + " and " +
                            std::to_string(type.maximum.value_or(0)));
          return false;
        }
        return true;
      }
      case spec::Kind::kEnum: {
        if (!v.isString()) return wrongKind(path(), "a string", v);
        const std::string_view s = v.text();
        if (std::find(type.values.begin(), type.values.end(), s) != type.values.end()) return true;
        std::string message =
            "unknown value " + quoted(s) + " (expected " + joinValues(type.values) + ")";
        if (auto near = util::closestMatch(s, type.values))
          message += "; did you mean " + quoted(*near) + "?";
        error(path(), std::move(message));
        return false;
      }
      case spec::Kind::kObject:
      case spec::Kind::kTagged:
        return v.isObject() || wrongKind(path(), "an object", v);
      case spec::Kind::kStringMap: {
        if (!v.isObject()) return wrongKind(path(), "an object", v);
        // Values that are not strings are reported here and skipped by the
        // reader, so that the map's names are still checked.
        for (const Value& member : v.children()) {
          if (!member.isString())
            wrongKind(json::childPath(path(), member.key()), "a string", member);
        }
        return true;
      }
      case spec::Kind::kArray:
        return v.isArray() || wrongKind(path(), "an array", v);
    }
    return false;
  }

  bool wrongKind(const std::string& path, std::string_view expected, const Value& v) {
    error(path, "expected " + std::string(expected) + ", found " + std::string(kindName(v)));
    return false;
  }

  // Checks an object's keys and its fields' kinds; returns the valid fields.
  // Members are visited in the order of the text (Poco::JSON sorted them);
  // the diagnostics are sorted by position in the end, so the order they are
  // found in does not show. `skipTransport` passes over the control-plane
  // frame's transport fields.
  ObjectView check(const Value& obj, const spec::Type& type, const std::string& path,
                   bool skipTransport = false) {
    // A release-mode check: the bit set of valid fields holds 64.
    if (type.fields.size() > 64) throw std::logic_error("policy spec type with over 64 fields");
    ObjectView view{&obj, path, &type};
    for (const Value& value : obj.children()) {
      const std::string_view key = value.key();
      if (skipTransport && std::find(spec::transportFields().begin(), spec::transportFields().end(),
                                     key) != spec::transportFields().end()) {
        continue;
      }
      auto field = std::find_if(type.fields.begin(), type.fields.end(),
                                [key](const spec::Field& f) { return f.name == key; });
      if (field == type.fields.end()) {
        std::vector<std::string_view> names;
        for (const spec::Field& f : type.fields) names.push_back(f.name);
        std::string message = "unknown key " + quoted(key);
        if (auto near = util::closestMatch(key, names))
          message += " (did you mean " + quoted(*near) + "?)";
        error(json::childPath(path, key), std::move(message), true);
        continue;
      }
      if (value.isNull()) continue;  // null = absent; a required one is reported below
      if (field->type == nullptr || checkShallow(value, *field->type, path, key)) {
        view.valid |= std::uint64_t{1} << (field - type.fields.begin());
        if (field->deprecated && field->type != nullptr) {
          warning(view.at(key),
                  "key " + quoted(key) + " is deprecated: " + std::string(field->description),
                  true);
        }
      }
    }
    for (const spec::Field& f : type.fields) {
      if (!f.required) continue;
      const Value* member = obj.find(f.name);
      if (member == nullptr) {
        error(path, "missing required key " + quoted(f.name));
      } else if (member->isNull()) {
        error(json::childPath(path, f.name), "must not be null");
      }
    }
    return view;
  }

  // How many items the array `key` has (0 when it is not a valid field):
  // tables of 100,000 rules are reserved at once, not grown by copying.
  static std::size_t itemCount(const ObjectView& parent, std::string_view key) {
    return parent.has(key) ? parent.get(key).children().size() : 0;
  }

  template <class Fn>
  void eachItem(const ObjectView& parent, std::string_view key, Fn&& fn) {
    if (!parent.has(key)) return;
    const std::span<const Value> items = parent.get(key).children();
    const std::string at = parent.at(key);
    for (std::size_t i = 0; i < items.size(); ++i) fn(items[i], json::indexPath(at, i));
  }

  // Checks an array item as an object of `type` and returns its view, or
  // nullopt when the item is not an object.
  std::optional<ObjectView> item(const Value& v, const spec::Type& type, const std::string& path) {
    if (!v.isObject()) {
      wrongKind(path, "an object", v);
      return std::nullopt;
    }
    return check(v, type, path);
  }

  const spec::Type& fieldType(const spec::Type& type, std::string_view name) {
    for (const spec::Field& f : type.fields) {
      if (f.name == name) return *f.type;
    }
    throw std::logic_error("policy spec has no field " + std::string(name));
  }

  // ---- semantics -------------------------------------------------------

  static Verdict verdict(std::string_view s) {
    return s == "allow" ? Verdict::kAllow : s == "ask" ? Verdict::kAsk : Verdict::kDeny;
  }
  static Transport transport(std::string_view s) {
    return s == "direct" ? Transport::kDirect : Transport::kUpstream;
  }

  std::optional<MatchPattern> pattern(const ObjectView& v, std::string_view key) {
    if (!v.has(key)) return std::nullopt;
    auto parsed = MatchPattern::parse(v.get(key).text());
    if (!parsed) {
      error(v.at(key), parsed.error().message);
      return std::nullopt;
    }
    return std::move(parsed).value();
  }

  std::vector<std::string> binaries(const ObjectView& v) {
    std::vector<std::string> out;
    eachItem(v, "binaries", [&](const Value& item, const std::string& at) {
      if (!item.isString()) {
        wrongKind(at, "a string", item);
        return;
      }
      std::string path(item.text());
      if (!path.starts_with('/')) {
        error(at, "binary " + quoted(path) + " must be an absolute path");
        return;
      }
      out.push_back(std::move(path));
    });
    return out;
  }

  std::vector<HttpRule> httpRules(const ObjectView& v, const spec::Type& owner) {
    std::vector<HttpRule> out;
    const spec::Type& ruleType = *fieldType(owner, "rules").items;
    eachItem(v, "rules", [&](const Value& value, const std::string& at) {
      auto r = item(value, ruleType, at);
      if (!r) return;
      // null counts as absent: {"method": null} is as empty as {}. A key whose
      // value was refused has been reported already.
      auto given = [&](std::string_view key) { return Parser::given(*r, key); };
      if (!given("method") && !given("path") && !given("graphql") && !given("mcp")) {
        error(at, std::string("a rule needs ") +
                      (r->type->fields.size() > 2 ? "a method, a path, graphql or mcp"
                                                  : "a method or a path") +
                      " (an empty rule would match every request)");
        return;
      }
      if (given("graphql") && given("mcp")) {
        error(at, "a rule carries graphql or mcp, not both (a body is one or the other)");
        return;
      }
      // A key given but refused by the structural check spoils the rule.
      bool ok = (r->has("method") || !given("method")) && (r->has("path") || !given("path")) &&
                (r->has("graphql") || !given("graphql")) && (r->has("mcp") || !given("mcp"));
      HttpRule rule;
      if (r->has("method")) {
        const std::string method = r->str("method");
        if (method != "*" && !isToken(method)) {
          error(r->at("method"), "invalid HTTP method " + quoted(method));
          ok = false;
        }
        rule.method = method == "*" ? "" : util::toUpper(method);
      }
      if (r->has("path")) {
        const std::string path = r->str("path");
        if (path != "*" && path != "**" && !path.starts_with('/')) {
          error(r->at("path"),
                "path " + quoted(path) + " must start with '/' (or be \"*\" or \"**\")");
          ok = false;
        } else if (path.find_first_of("?#") != std::string::npos) {
          error(r->at("path"), "path " + quoted(path) + " must not contain a query or fragment");
          ok = false;
        } else {
          rule.path = PathGlob(path);
        }
      }
      if (r->has("graphql")) {
        rule.graphql = graphqlMatcher(*r, ruleType);
        ok = ok && rule.graphql.has_value();
      }
      if (r->has("mcp")) {
        rule.mcp = mcpMatcher(*r, ruleType);
        ok = ok && rule.mcp.has_value();
      }
      if (ok) out.push_back(std::move(rule));
    });
    return out;
  }

  // Glob lists and names are taken as written: util::globMatch reads any text.
  std::optional<graphql::Matcher> graphqlMatcher(const ObjectView& rule,
                                                 const spec::Type& ruleType) {
    const ObjectView v =
        check(rule.get("graphql"), fieldType(ruleType, "graphql"), rule.at("graphql"));
    if (!v.has("operationType")) return std::nullopt;
    graphql::Matcher m;
    const std::string type = v.str("operationType");
    if (type == "query") m.type = graphql::OperationType::kQuery;
    if (type == "mutation") m.type = graphql::OperationType::kMutation;
    if (type == "subscription") m.type = graphql::OperationType::kSubscription;
    if (v.has("operationName")) m.operationName = v.str("operationName");
    bool ok = true;
    eachItem(v, "fields", [&](const Value& item, const std::string& at) {
      if (!item.isString()) {
        ok = wrongKind(at, "a string", item);
        return;
      }
      if (item.text().empty()) {
        error(at, "a field glob must not be empty");
        ok = false;
        return;
      }
      m.fields.emplace_back(item.text());
    });
    if (!ok) return std::nullopt;
    return m;
  }

  std::optional<mcp::Matcher> mcpMatcher(const ObjectView& rule, const spec::Type& ruleType) {
    const spec::Type& type = fieldType(ruleType, "mcp");
    const ObjectView v = check(rule.get("mcp"), type, rule.at("mcp"));
    if (!v.has("method")) return std::nullopt;
    mcp::Matcher m;
    m.method = v.str("method");
    if (v.has("tool")) m.tool = v.str("tool");
    if (v.has("uri")) m.uri = v.str("uri");
    bool ok = (v.has("tool") || !given(v, "tool")) && (v.has("uri") || !given(v, "uri")) &&
              (v.has("arguments") || !given(v, "arguments"));
    const spec::Type& argumentType = *fieldType(type, "arguments").items;
    eachItem(v, "arguments", [&](const Value& value, const std::string& at) {
      auto a = item(value, argumentType, at);
      if (!a || !a->has("pointer") || !a->has("glob")) {
        ok = false;
        return;
      }
      const std::string pointer = a->str("pointer");
      if (!pointer.empty() && !pointer.starts_with('/')) {
        error(a->at("pointer"), "a JSON pointer is empty or starts with '/'");
        ok = false;
        return;
      }
      m.arguments.push_back(mcp::ArgumentMatch{pointer, a->str("glob")});
    });
    if (!ok) return std::nullopt;
    return m;
  }

  // A key present and not null (whether or not its value was accepted).
  static bool given(const ObjectView& v, std::string_view key) {
    const Value* member = v.obj->find(key);
    return member != nullptr && !member->isNull();
  }

  NetworkPolicy network(const Value& obj, const std::string& path) {
    NetworkPolicy net;
    const spec::Type& networkType = fieldType(spec::policyDocument(), "network");
    const ObjectView v = check(obj, networkType, path);
    if (v.has("defaultVerdict")) net.defaultVerdict = verdict(v.str("defaultVerdict"));
    if (v.has("defaultTransport")) net.defaultTransport = transport(v.str("defaultTransport"));

    const spec::Type& egressType = fieldType(networkType, "egress");
    std::optional<ObjectView> egress;
    if (v.has("egress")) egress = check(v.get("egress"), egressType, v.at("egress"));

    const bool haveHttp = egress && egress->has("http");
    if (v.has("allowedRoutes") && haveHttp) {
      warning(v.at("allowedRoutes"),
              "both allowedRoutes and egress.http are present; egress.http is used and "
              "allowedRoutes ignored",
              true);
    }
    if (haveHttp) {
      routes(*egress, "http", net.http);
      // Ignored, but still checked: the schema refuses an invalid one too.
      std::vector<RouteRule> ignored;
      routes(v, "allowedRoutes", ignored);
    } else if (v.has("allowedRoutes")) {
      routes(v, "allowedRoutes", net.http);
      net.fromAllowedRoutes = true;
    }
    if (egress) {
      rawRules(*egress, "tcp", net.tcp);
      rawRules(*egress, "udp", net.udp);
    }
    return net;
  }

  void routes(const ObjectView& v, std::string_view key, std::vector<RouteRule>& out) {
    const spec::Type& ruleType =
        *fieldType(fieldType(spec::policyDocument(), "network"), "allowedRoutes").items;
    out.reserve(out.size() + itemCount(v, key));
    eachItem(v, key, [&](const Value& value, const std::string& at) {
      auto r = item(value, ruleType, at);
      if (!r) return;
      RouteRule rule;
      auto match = pattern(*r, "match");
      rule.rules = httpRules(*r, ruleType);
      rule.binaries = binaries(*r);
      if (!match || !r->has("verdict") || !r->has("transport")) return;
      rule.match = std::move(*match);
      rule.verdict = verdict(r->str("verdict"));
      rule.transport = transport(r->str("transport"));
      if (r->has("scheme"))
        rule.scheme = r->str("scheme") == "http" ? Scheme::kHttp : Scheme::kHttps;
      rule.description = r->str("description");
      rule.tlsTerminate = r->has("tlsTerminate") && r->get("tlsTerminate").boolean();
      if (r->has("forward")) forward(*r, ruleType, rule);
      out.push_back(std::move(rule));
    });
  }

  // A bridge the control plane configured wrongly closes its own route
  // (the rule denies, as the original) rather than the whole policy.
  void forward(const ObjectView& r, const spec::Type& ruleType, RouteRule& rule) {
    const std::string at = r.at("forward");
    const ObjectView f = check(r.get("forward"), fieldType(ruleType, "forward"), at);
    std::optional<std::string> problem;
    const MatchPattern& m = rule.match;
    if (m.kind() != MatchPattern::Kind::kExact || !m.port()) {
      problem = "a forward bridge needs a rule matching one host:port, not " + quoted(m.text());
    }
    for (const char* key : {"dialAddr", "tlsServerName", "certPem", "keyPem"}) {
      if (!problem && !f.has(key)) problem = std::string("it has no valid ") + key;
    }
    ForwardBridge bridge;
    if (!problem) {
      auto dial = net::parseHostPort(f.str("dialAddr"));
      if (!dial || !dial->port) {
        problem = "dialAddr must be host:port" +
                  (dial ? std::string() : " (" + dial.error().message + ")");
      } else {
        bridge.dialHost = dial->host;
        bridge.dialPort = *dial->port;
      }
    }
    if (!problem) {
      bridge.tlsServerName = f.str("tlsServerName");
      bridge.certPem = f.str("certPem");
      bridge.keyPem = f.str("keyPem");
      bridge.caPem = f.str("caPem");
      bridge.upstreamHostHeader = f.str("upstreamHostHeader");
      auto serverName = net::parseHostPort(bridge.tlsServerName);
      auto hostHeader = net::parseHostPort(bridge.upstreamHostHeader);
      if (!serverName || serverName->port) {
        problem = "tlsServerName must be a host name or an address, without a port";
      } else if (!bridge.upstreamHostHeader.empty() && !hostHeader) {
        problem = "upstreamHostHeader must be host or host:port";
      } else if (auto ok = tls::checkClientIdentity(bridge.certPem, bridge.keyPem); !ok) {
        problem = ok.error().message;
      } else if (!bridge.caPem.empty()) {
        if (auto roots = tls::readCertificates(bridge.caPem, "caPem"); !roots)
          problem = roots.error().message;
      }
    }
    if (problem) {
      warning(at, "forward bridge refused, the rule denies: " + *problem, true);
      rule.verdict = Verdict::kDeny;
      return;
    }
    rule.forward = std::move(bridge);
  }

  void rawRules(const ObjectView& v, std::string_view table, std::vector<RawRule>& out) {
    const spec::Type& ruleType =
        *fieldType(fieldType(fieldType(spec::policyDocument(), "network"), "egress"), table).items;
    out.reserve(out.size() + itemCount(v, table));
    eachItem(v, table, [&](const Value& value, const std::string& at) {
      auto r = item(value, ruleType, at);
      if (!r) return;
      RawRule rule;
      auto match = pattern(*r, "match");
      rule.binaries = binaries(*r);
      if (!match || !r->has("verdict")) return;
      if (!match->port()) {
        const bool v6 =
            match->kind() == MatchPattern::Kind::kCidr && match->cidr().network().isV6();
        error(r->at("match"),
              std::string(table) + " rule " + quoted(match->text()) + " needs a port" +
                  (v6 ? "; an IPv6 address with a port must be written [address]:port"
                      : " (host:port, cidr:port or [ipv6]:port)"));
        return;
      }
      if (table == "udp" && *match->port() == 53) {
        error(r->at("match"), "udp rules may not use port 53: DNS always goes through lens-dns");
        return;
      }
      rule.match = std::move(*match);
      rule.verdict = verdict(r->str("verdict"));
      rule.description = r->str("description");
      out.push_back(std::move(rule));
    });
  }

  void credentials(const ObjectView& v, std::vector<Credential>& out) {
    const spec::Type& credType = *fieldType(spec::policyDocument(), "credentials").items;
    std::unordered_map<std::string, std::string> firstSeen;
    out.reserve(out.size() + itemCount(v, "credentials"));
    eachItem(v, "credentials", [&](const Value& value, const std::string& at) {
      auto c = item(value, credType, at);
      if (!c) return;
      Credential cred;
      cred.id = c->str("id");
      cred.envVar = c->str("envVar");
      cred.placeholder = c->str("placeholder");
      if (c->has("id")) {
        auto [it, inserted] = firstSeen.emplace(cred.id, at);
        if (!inserted) {
          const json::SourcePos first = map_.valuePos(json::childPath(it->second, "id"));
          error(c->at("id"), "duplicate credential id " + quoted(cred.id) +
                                 " (first used at line " + std::to_string(first.line) + ")");
        }
      }
      if (!cred.envVar.empty() && !isEnvName(cred.envVar)) {
        error(c->at("envVar"), "invalid environment variable name " + quoted(cred.envVar));
      }
      const spec::Type& injType = *fieldType(credType, "injections").items;
      eachItem(*c, "injections", [&](const Value& iv, const std::string& iat) {
        if (auto inj = injection(iv, injType, iat, cred))
          cred.injections.push_back(std::move(*inj));
      });
      out.push_back(std::move(cred));
    });
  }

  std::optional<Injection> injection(const Value& obj, const spec::Type& tagged,
                                     const std::string& at, const Credential& cred) {
    if (!obj.isObject()) {
      wrongKind(at, "an object", obj);
      return std::nullopt;
    }
    const std::string tagPath = json::childPath(at, tagged.tag);
    const Value* tag = obj.find(tagged.tag);
    std::vector<std::string_view> names;
    for (const auto& variant : tagged.variants) names.push_back(variant.first);
    if (tag == nullptr || tag->isNull()) {
      error(at, "missing required key " + quoted(tagged.tag) + " (" + joinValues(names) + ")");
      unknownKeysOfAnyVariant(obj, tagged, at);
      return std::nullopt;
    }
    if (!tag->isString()) {
      wrongKind(tagPath, "a string", *tag);
      return std::nullopt;
    }
    const std::string tagValue(tag->text());
    auto variant = std::find_if(tagged.variants.begin(), tagged.variants.end(),
                                [&](const auto& vt) { return vt.first == tagValue; });
    if (variant == tagged.variants.end()) {
      std::string message =
          "unknown injection type " + quoted(tagValue) + " (expected " + joinValues(names) + ")";
      if (auto near = util::closestMatch(tagValue, names))
        message += "; did you mean " + quoted(*near) + "?";
      error(tagPath, std::move(message));
      return std::nullopt;
    }
    const ObjectView v = check(obj, *variant->second, at);
    Injection inj;
    auto domain = pattern(v, "domain");
    if (domain) inj.domain = std::move(*domain);
    const std::size_t errorsBefore = out_.errors.size();
    if (tagValue == "header") {
      inj.type = InjectionType::kHeader;
      inj.header = v.str("header");
      inj.value = v.str("value");
      inj.rules = httpRules(v, *variant->second);
      if (v.has("header") && !isToken(inj.header)) {
        error(v.at("header"), "invalid header name " + quoted(inj.header));
      }
      if (inj.value.find_first_of("\r\n") != std::string::npos) {
        error(v.at("value"), "header value must not contain CR or LF");
      }
    } else if (tagValue == "uriPlaceholder") {
      inj.type = InjectionType::kUriPlaceholder;
      inj.value = v.str("value");
      inj.rules = httpRules(v, *variant->second);
      if (cred.placeholder.empty()) {
        error(at, "a uriPlaceholder injection needs the credential's placeholder");
      }
      if (inj.value.find_first_of("\r\n ") != std::string::npos) {
        error(v.at("value"), "a URI value must not contain spaces, CR or LF");
      }
    } else if (tagValue == "oauthClientCredentials") {
      inj.type = InjectionType::kOauthClientCredentials;
      inj.tokenPath = normalizePath(v.str("tokenPath"));
      inj.clientId = v.str("clientId");
      const std::string scopeList = v.str("scope");
      for (std::string_view scope : util::split(scopeList, ' ')) {
        if (!scope.empty()) inj.scopes.emplace_back(scope);
      }
      std::sort(inj.scopes.begin(), inj.scopes.end());
      inj.scopes.erase(std::unique(inj.scopes.begin(), inj.scopes.end()), inj.scopes.end());
      if (v.has("expiresIn"))
        inj.expiresIn = static_cast<std::uint32_t>(integerOf(v.get("expiresIn")).value_or(0));
      if (cred.placeholder.empty()) {
        error(at,
              "an oauthClientCredentials injection needs the credential's placeholder (the token "
              "it answers)");
      }
    } else {
      inj.type = InjectionType::kAwsSigv4;
      inj.accessKeyId = v.str("accessKeyId");
      inj.secretAccessKey = v.str("secretAccessKey");
      inj.sessionToken = v.str("sessionToken");
      // The legacy rules list is ignored, but an invalid one is still refused
      // (as the schema does), so that a typo does not pass silently.
      static_cast<void>(httpRules(v, *variant->second));
      if (!cred.placeholder.starts_with(kAwsPlaceholderPrefix)) {
        error(at, "an awsSigv4 injection needs a credential placeholder starting with \"" +
                      std::string(kAwsPlaceholderPrefix) +
                      "\" (the fake access key id the sandbox uses)");
      }
    }
    if (!domain || out_.errors.size() != errorsBefore) return std::nullopt;
    return inj;
  }

  // Without a type tag the variant is unknown; still name the keys that no
  // variant has (a misspelt tag is the likely cause of the missing one).
  void unknownKeysOfAnyVariant(const Value& obj, const spec::Type& tagged, const std::string& at) {
    std::vector<std::string_view> known;
    for (const auto& variant : tagged.variants) {
      for (const spec::Field& f : variant.second->fields) {
        if (std::find(known.begin(), known.end(), f.name) == known.end()) known.push_back(f.name);
      }
    }
    for (const Value& member : obj.children()) {
      const std::string_view key = member.key();
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      std::string message = "unknown key " + quoted(key);
      if (auto near = util::closestMatch(key, known))
        message += " (did you mean " + quoted(*near) + "?)";
      error(json::childPath(at, key), std::move(message), true);
    }
  }

  void environment(const ObjectView& v, std::map<std::string, std::string>& out) {
    for (const Value& member : v.get("env").children()) {
      if (!member.isString()) continue;  // reported by the structural check
      const std::string_view key = member.key();
      if (!isEnvName(key)) {
        error(json::childPath(v.at("env"), key), "invalid environment variable name " + quoted(key),
              true);
        continue;
      }
      out.emplace(key, member.text());
    }
  }

  void files(const ObjectView& v, std::vector<TempFile>& out) {
    const spec::Type& fileType = *fieldType(spec::policyDocument(), "files").items;
    eachItem(v, "files", [&](const Value& value, const std::string& at) {
      auto f = item(value, fileType, at);
      if (!f || !f->has("path")) return;
      TempFile file;
      file.path = f->str("path");
      file.content = f->str("content");
      if (f->has("mode"))
        file.mode = static_cast<std::uint32_t>(integerOf(f->get("mode")).value_or(0));
      if (auto problem = filePathProblem(file.path)) {
        error(f->at("path"), "file path " + quoted(file.path) + " " + *problem);
        return;
      }
      if (!file.path.starts_with('/')) file.path = "/tmp/" + file.path;
      if (f->has("content")) out.push_back(std::move(file));
    });
  }

  const json::SourceMap& map_;
  const ParseOptions& options_;
  ParseOutcome& out_;
};

bool before(const Diagnostic& a, const Diagnostic& b) {
  return std::tie(a.pos.line, a.pos.column) < std::tie(b.pos.line, b.pos.column);
}

}  // namespace

ParseOutcome parsePolicy(std::string_view text, const ParseOptions& options) {
  ParseOutcome out;
  auto parsed = json::Document::parse(text, options.limits);
  if (auto* failure = std::get_if<json::ParseError>(&parsed)) {
    out.errors.push_back(Diagnostic{Diagnostic::Severity::kError, options.fileName, failure->pos,
                                    failure->path, failure->message});
    return out;
  }
  const json::SourceMap map(
      std::make_shared<const json::Document>(std::get<json::Document>(std::move(parsed))));

  auto doc = std::make_shared<PolicyDocument>();
  Parser parser(map, options, out);
  parser.document(map.document().root(), *doc);
  std::stable_sort(out.errors.begin(), out.errors.end(), before);
  std::stable_sort(out.warnings.begin(), out.warnings.end(), before);
  if (out.errors.empty()) {
    doc->version = util::sha256Hex(text);
    out.policy = std::move(doc);
  }
  return out;
}

ParseOutcome loadPolicyFile(const std::string& path, ParseOptions options) {
  if (options.fileName == ParseOptions{}.fileName) options.fileName = path;
  ParseOutcome out;
  auto fail = [&](std::string message) {
    out.errors.push_back(
        Diagnostic{Diagnostic::Severity::kError, options.fileName, {}, "", std::move(message)});
    return out;
  };
  auto text = util::readFile(path, options.limits.maxBytes);
  if (!text) return fail(text.error().message);
  return parsePolicy(*text, options);
}

ParseOutcome loadInstalledPolicy(const std::string& path) {
  ParseOptions options;
  options.allowTransportFields = true;
  return loadPolicyFile(path, options);
}

}  // namespace lens::policy
