#include "libcommon/policy/schema_generator.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <catch2/catch.hpp>

#include <functional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/policy/policy_parser.h"
#include "libcommon/policy/policy_spec.h"

namespace spec = lens::policy::spec;
using Poco::Dynamic::Var;
using Poco::JSON::Array;
using Poco::JSON::Object;

namespace {

Object::Ptr schemaObject() {
  Poco::JSON::Parser parser(new Poco::JSON::ParseHandler(true));  // keep key order
  const Var root = parser.parse(lens::policy::generatePolicySchema());
  REQUIRE(root.type() == typeid(Object::Ptr));
  return root.extract<Object::Ptr>();
}

bool isObject(const Var& v) { return v.type() == typeid(Object::Ptr); }
bool isArray(const Var& v) { return v.type() == typeid(Array::Ptr); }

// Calls fn(node, jsonPointer) for every object in the schema.
void eachObject(const Var& v, const std::string& at,
                const std::function<void(const Object&, const std::string&)>& fn) {
  if (isObject(v)) {
    const Object::Ptr obj = v.extract<Object::Ptr>();
    fn(*obj, at);
    for (const auto& [key, child] : *obj) eachObject(child, at + "/" + key, fn);
  } else if (isArray(v)) {
    const Array::Ptr array = v.extract<Array::Ptr>();
    for (std::size_t i = 0; i < array->size(); ++i)
      eachObject(array->get(static_cast<unsigned>(i)), at + "/" + std::to_string(i), fn);
  }
}

// Named types reachable from the document (the document itself is the root, not a $def).
void collectNames(const spec::Type& type, std::set<std::string>& names) {
  if (&type != &spec::policyDocument() && !type.name.empty()) {
    if (!names.insert(std::string(type.name)).second) return;
  }
  for (const spec::Field& f : type.fields) {
    if (f.type) collectNames(*f.type, names);
  }
  if (type.items) collectNames(*type.items, names);
  for (const auto& variant : type.variants) collectNames(*variant.second, names);
}

void collectObjectTypes(const spec::Type& type, std::vector<const spec::Type*>& out) {
  if (type.kind == spec::Kind::kObject) {
    if (std::find(out.begin(), out.end(), &type) != out.end()) return;
    out.push_back(&type);
  }
  for (const spec::Field& f : type.fields) {
    if (f.type) collectObjectTypes(*f.type, out);
  }
  if (type.items) collectObjectTypes(*type.items, out);
  for (const auto& variant : type.variants) collectObjectTypes(*variant.second, out);
}

std::vector<std::string> strings(const Array::Ptr& array) {
  std::vector<std::string> out;
  if (!array) return out;
  for (std::size_t i = 0; i < array->size(); ++i)
    out.push_back(array->getElement<std::string>(static_cast<unsigned>(i)));
  return out;
}

Object::Ptr def(const Object::Ptr& schema, const std::string& name) {
  Object::Ptr defs = schema->getObject("$defs");
  REQUIRE(defs);
  Object::Ptr d = defs->getObject(name);
  INFO("$defs/" << name);
  REQUIRE(d);
  return d;
}

Object::Ptr property(const Object::Ptr& object, const std::string& name) {
  Object::Ptr properties = object->getObject("properties");
  REQUIRE(properties);
  Object::Ptr p = properties->getObject(name);
  INFO("property " << name);
  REQUIRE(p);
  return p;
}

std::string patternOf(const Object::Ptr& fieldSchema) {
  // Required fields carry the type inline; optional ones wrap it in anyOf [type, null].
  if (fieldSchema->has("pattern")) return fieldSchema->getValue<std::string>("pattern");
  Array::Ptr anyOf = fieldSchema->getArray("anyOf");
  REQUIRE(anyOf);
  return anyOf->getObject(0)->getValue<std::string>("pattern");
}

std::string tcpPolicy(const std::string& match) {
  return R"({"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"tcp": [{"match": ")" +
         match + R"(", "verdict": "allow"}]}}})";
}

}  // namespace

TEST_CASE("the generated schema is valid, stable JSON", "[policy][schema]") {
  const std::string text = lens::policy::generatePolicySchema();
  REQUIRE_FALSE(text.empty());
  CHECK(text.back() == '\n');
  CHECK(text.find("\n  \"$schema\"") != std::string::npos);  // two-space indentation
  CHECK(text == lens::policy::generatePolicySchema());       // deterministic

  const Object::Ptr schema = schemaObject();
  CHECK(schema->getValue<std::string>("$schema") == "https://json-schema.org/draft/2020-12/schema");
  CHECK(schema->getValue<std::string>("title") == "PolicyDocument");
  CHECK(schema->getValue<std::string>("type") == "object");
  CHECK(schema->get("additionalProperties").convert<bool>() == false);
  // No top-level field is required: {} is a policy (allow everything).
  CHECK_FALSE(schema->has("required"));
  const Object::Ptr properties = schema->getObject("properties");
  REQUIRE(properties);
  CHECK(properties->getNames() ==
        std::vector<std::string>{"network", "credentials", "env", "files"});
}

TEST_CASE("every named type has a $defs entry and every $ref resolves", "[policy][schema]") {
  const Object::Ptr schema = schemaObject();
  std::set<std::string> expected;
  collectNames(spec::policyDocument(), expected);
  CHECK(expected == std::set<std::string>{"AwsSigv4Injection",
                                          "Credential",
                                          "CredentialInjection",
                                          "Egress",
                                          "ForwardConfig",
                                          "GraphqlMatcher",
                                          "GraphqlOperationType",
                                          "HeaderInjection",
                                          "HttpRequestMatch",
                                          "HttpRule",
                                          "McpArgumentMatch",
                                          "McpMatcher",
                                          "NetworkPolicy",
                                          "OauthClientCredentialsInjection",
                                          "RouteRule",
                                          "Scheme",
                                          "TcpEgressRule",
                                          "TempFile",
                                          "Transport",
                                          "UdpEgressRule",
                                          "UriPlaceholderInjection",
                                          "Verdict"});
  const Object::Ptr defs = schema->getObject("$defs");
  REQUIRE(defs);
  const auto names = defs->getNames();
  CHECK(std::set<std::string>(names.begin(), names.end()) == expected);

  std::size_t refs = 0;
  eachObject(schema, "#", [&](const Object& node, const std::string& at) {
    if (!node.has("$ref")) return;
    ++refs;
    const std::string ref = node.getValue<std::string>("$ref");
    INFO(at << ": $ref " << ref);
    REQUIRE(ref.starts_with("#/$defs/"));
    CHECK(expected.contains(ref.substr(8)));
  });
  CHECK(refs >= expected.size());
}

TEST_CASE("every object in the schema forbids unknown keys", "[policy][schema]") {
  const Object::Ptr schema = schemaObject();
  std::size_t objects = 0;
  eachObject(schema, "#", [&](const Object& node, const std::string& at) {
    const bool declaresObject = node.has("properties") && node.has("type") &&
                                node.getValue<std::string>("type") == "object";
    // Conditions (if/then/not) constrain an object declared elsewhere.
    const bool condition = at.find("/if/") != std::string::npos ||
                           at.find("/then/") != std::string::npos ||
                           at.find("/not/") != std::string::npos;
    if (!declaresObject || condition) return;
    ++objects;
    INFO(at);
    REQUIRE(node.has("additionalProperties"));
    CHECK(node.get("additionalProperties").convert<bool>() == false);
  });
  std::vector<const spec::Type*> objectTypes;
  collectObjectTypes(spec::policyDocument(), objectTypes);
  CHECK(objects == objectTypes.size());

  SECTION("env is the one free-form map, and its values must be strings") {
    const Object::Ptr env = property(schema, "env");
    const Object::Ptr map = env->getArray("anyOf")->getObject(0);
    CHECK(map->getValue<std::string>("type") == "object");
    CHECK(map->getObject("additionalProperties")->getValue<std::string>("type") == "string");
  }
}

TEST_CASE("object $defs list the spec's fields, required keys and null for optional ones",
          "[policy][schema]") {
  const Object::Ptr schema = schemaObject();
  std::vector<const spec::Type*> objectTypes;
  collectObjectTypes(spec::policyDocument(), objectTypes);
  for (const spec::Type* type : objectTypes) {
    if (type == &spec::policyDocument()) continue;
    const Object::Ptr d = def(schema, std::string(type->name));
    INFO(type->name);
    CHECK(d->getValue<std::string>("type") == "object");
    CHECK(d->getValue<std::string>("description") == type->description);
    std::vector<std::string> fields;
    std::vector<std::string> required;
    for (const spec::Field& f : type->fields) {
      fields.push_back(std::string(f.name));
      if (f.required) required.push_back(std::string(f.name));
      const Object::Ptr p = property(d, std::string(f.name));
      INFO(f.name);
      CHECK(p->getValue<std::string>("description") == f.description);
      CHECK(p->has("deprecated") == f.deprecated);
      if (f.type == nullptr) {
        CHECK(p->has("const"));  // the tag of a tagged union
      } else if (f.required) {
        CHECK_FALSE(p->has("anyOf"));
      } else {
        const Array::Ptr anyOf = p->getArray("anyOf");
        REQUIRE(anyOf);
        REQUIRE(anyOf->size() == 2);
        CHECK(anyOf->getObject(1)->getValue<std::string>("type") == "null");
      }
    }
    CHECK(d->getObject("properties")->getNames() == fields);
    CHECK(strings(d->getArray("required")) == required);
  }
}

TEST_CASE("the schema states the constraints the parser enforces", "[policy][schema]") {
  const Object::Ptr schema = schemaObject();
  SECTION("enums") {
    CHECK(strings(def(schema, "Verdict")->getArray("enum")) ==
          std::vector<std::string>{"allow", "deny", "ask"});
    CHECK(strings(def(schema, "Transport")->getArray("enum")) ==
          std::vector<std::string>{"upstream", "direct"});
    CHECK(strings(def(schema, "Scheme")->getArray("enum")) ==
          std::vector<std::string>{"http", "https"});
  }
  SECTION("injections are a union tagged by injectionType") {
    const Array::Ptr oneOf = def(schema, "CredentialInjection")->getArray("oneOf");
    REQUIRE(oneOf);
    REQUIRE(oneOf->size() == 4);
    const std::vector<std::pair<std::string, std::string>> variants = {
        {"HeaderInjection", "header"},
        {"UriPlaceholderInjection", "uriPlaceholder"},
        {"AwsSigv4Injection", "awsSigv4"},
        {"OauthClientCredentialsInjection", "oauthClientCredentials"}};
    for (std::size_t i = 0; i < variants.size(); ++i) {
      CHECK(oneOf->getObject(static_cast<unsigned>(i))->getValue<std::string>("$ref") ==
            "#/$defs/" + variants[i].first);
      CHECK(property(def(schema, variants[i].first), "injectionType")
                ->getValue<std::string>("const") == variants[i].second);
    }
  }
  SECTION("an HttpRule needs a method, a path, graphql or mcp, and null does not count") {
    const auto requiredOf = [](const Array::Ptr& anyOf) {
      std::vector<std::string> out;
      for (unsigned i = 0; i < anyOf->size(); ++i) {
        const Object::Ptr branch = anyOf->getObject(i);
        const std::vector<std::string> required = strings(branch->getArray("required"));
        REQUIRE(required.size() == 1);
        // null does not count: the branch names the value's type.
        CHECK(branch->getObject("properties")->getObject(required[0])->has("type"));
        out.push_back(required[0]);
      }
      return out;
    };
    CHECK(requiredOf(def(schema, "HttpRule")->getArray("anyOf")) ==
          std::vector<std::string>{"method", "path", "graphql", "mcp"});
    CHECK(strings(def(schema, "HttpRule")->getObject("not")->getArray("required")) ==
          std::vector<std::string>{"graphql", "mcp"});
    // Injection rules are judged by the head: no body matchers there.
    CHECK(requiredOf(def(schema, "HttpRequestMatch")->getArray("anyOf")) ==
          std::vector<std::string>{"method", "path"});
    CHECK_FALSE(def(schema, "HttpRequestMatch")->getObject("properties")->has("graphql"));
  }
  SECTION("udp port 53 is refused") {
    CHECK(def(schema, "UdpEgressRule")->has("not"));
    CHECK_FALSE(def(schema, "TcpEgressRule")->has("not"));
  }
  SECTION("awsSigv4 needs a LENSFAKE placeholder") {
    const Object::Ptr credential = def(schema, "Credential");
    REQUIRE(credential->has("if"));
    CHECK(credential->getObject("then")
              ->getObject("properties")
              ->getObject("placeholder")
              ->getValue<std::string>("pattern") == "^LENSFAKE");
  }
  SECTION("binaries are absolute paths") {
    const Object::Ptr binaries = property(def(schema, "RouteRule"), "binaries");
    CHECK(binaries->getArray("anyOf")->getObject(0)->getObject("items")->getValue<std::string>(
              "pattern") == "^/");
  }
  SECTION("file modes are permission bits") {
    const Object::Ptr mode =
        property(def(schema, "TempFile"), "mode")->getArray("anyOf")->getObject(0);
    CHECK(mode->getValue<std::string>("type") == "integer");
    CHECK(mode->getValue<int>("minimum") == 0);
    CHECK(mode->getValue<int>("maximum") == 07777);
  }
  SECTION("legacy allowedRoutes is marked deprecated") {
    CHECK(property(def(schema, "NetworkPolicy"), "allowedRoutes")->getValue<bool>("deprecated"));
  }
}

TEST_CASE("the schema's patterns agree with the parser", "[policy][schema]") {
  const Object::Ptr schema = schemaObject();
  SECTION("raw tcp/udp match") {
    const std::regex pattern(patternOf(property(def(schema, "TcpEgressRule"), "match")),
                             std::regex::ECMAScript);
    for (const std::string match : {"db.internal:5432",
                                    "10.0.0.5:5432",
                                    "10.20.0.0/16:6379",
                                    "[2001:db8::1]:443",
                                    "[2001:db8::/32]:5432",
                                    "*.example.com:443",
                                    "*:8443",
                                    "db:1",
                                    "db:65535",
                                    "db:9999",
                                    "db:10000",
                                    "db:64999",
                                    "db:65529",
                                    "db.internal",
                                    "10.0.0.0/8",
                                    "db:0",
                                    "db:65536",
                                    "db:99999",
                                    "db:0443",
                                    "db:",
                                    ":443",
                                    "2001:db8::1:443",
                                    "2001:db8::/32:443",
                                    "[2001:db8::1]",
                                    "db:443:1"}) {
      INFO(match);
      const bool parserAccepts = lens::policy::parsePolicy(tcpPolicy(match)).ok();
      CHECK(std::regex_search(match, pattern) == parserAccepts);
    }
  }
  SECTION("file paths") {
    const std::regex pattern(patternOf(property(def(schema, "TempFile"), "path")),
                             std::regex::ECMAScript);
    for (const std::string path : {"/tmp/a",   "/tmp/a/b.json", "a",         "a/b",
                                   "..hidden", "a..b",          "/tmp/x..y", "/etc/passwd",
                                   "/tmp",     "/tmp/",         "/tmpfoo/x", "/tmp/../etc/passwd",
                                   "../x",     "a/../b",        "a/..",      "/tmp/a/",
                                   "a/",       "/tmp/./x",      "/tmp//x",   ".",
                                   "./a",      "a//b",          "//tmp/x",   "/tmp/.x",
                                   "a/.b/c"}) {
      INFO(path);
      const bool parserAccepts =
          lens::policy::parsePolicy(R"({"files": [{"path": ")" + path + R"(", "content": ""}]})")
              .ok();
      CHECK(std::regex_search(path, pattern) == parserAccepts);
    }
  }
}
