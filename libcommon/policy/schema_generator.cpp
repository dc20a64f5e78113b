#include "libcommon/policy/schema_generator.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <sstream>

#include "libcommon/policy/policy_spec.h"

namespace lens::policy {

namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

Object::Ptr newObject() { return new Object(Poco::JSON_PRESERVE_KEY_ORDER); }

class Generator {
 public:
  Object::Ptr run() {
    const spec::Type& root = spec::policyDocument();
    Object::Ptr schema = newObject();
    schema->set("$schema", "https://json-schema.org/draft/2020-12/schema");
    schema->set("$id", "https://lenshq.io/schemas/policy.schema.json");
    schema->set("title", std::string(root.name));
    fillObject(schema, root);
    defineAll(root);
    schema->set("$defs", defs_);
    return schema;
  }

 private:
  // Reference to a named type, or the inline schema of an anonymous one.
  Object::Ptr typeSchema(const spec::Type& type) {
    if (!type.name.empty()) {
      Object::Ptr ref = newObject();
      ref->set("$ref", "#/$defs/" + std::string(type.name));
      return ref;
    }
    Object::Ptr s = newObject();
    switch (type.kind) {
      case spec::Kind::kString:
        s->set("type", "string");
        if (type.minLength) s->set("minLength", static_cast<int>(*type.minLength));
        if (!type.pattern.empty()) s->set("pattern", std::string(type.pattern));
        break;
      case spec::Kind::kBoolean:
        s->set("type", "boolean");
        break;
      case spec::Kind::kInteger:
        s->set("type", "integer");
        if (type.minimum) s->set("minimum", *type.minimum);
        if (type.maximum) s->set("maximum", *type.maximum);
        break;
      case spec::Kind::kStringMap: {
        s->set("type", "object");
        Object::Ptr values = newObject();
        values->set("type", "string");
        s->set("additionalProperties", values);
        break;
      }
      case spec::Kind::kArray:
        s->set("type", "array");
        s->set("items", typeSchema(*type.items));
        break;
      default:
        fillNamed(s, type);
        break;
    }
    return s;
  }

  // Optional fields also accept null (the control plane's encoding).
  Object::Ptr fieldSchema(const spec::Field& field, std::string_view tagValue) {
    Object::Ptr s;
    if (field.type == nullptr) {
      s = newObject();
      s->set("const", std::string(tagValue));
    } else if (field.required) {
      s = typeSchema(*field.type);
    } else {
      s = newObject();
      Array::Ptr anyOf = new Array;
      anyOf->add(typeSchema(*field.type));
      Object::Ptr null = newObject();
      null->set("type", "null");
      anyOf->add(null);
      s->set("anyOf", anyOf);
    }
    if (!field.description.empty()) s->set("description", std::string(field.description));
    if (field.deprecated) s->set("deprecated", true);
    return s;
  }

  void fillObject(Object::Ptr s, const spec::Type& type, std::string_view tagValue = {}) {
    if (!type.description.empty()) s->set("description", std::string(type.description));
    s->set("type", "object");
    Object::Ptr properties = newObject();
    Array::Ptr required = new Array;
    for (const spec::Field& f : type.fields) {
      properties->set(std::string(f.name), fieldSchema(f, tagValue));
      if (f.required) required->add(std::string(f.name));
    }
    s->set("properties", properties);
    if (required->size() > 0) s->set("required", required);
    s->set("additionalProperties", false);
    mergeExtra(s, type);
  }

  void fillNamed(Object::Ptr s, const spec::Type& type, std::string_view tagValue = {}) {
    switch (type.kind) {
      case spec::Kind::kEnum: {
        if (!type.description.empty()) s->set("description", std::string(type.description));
        s->set("type", "string");
        Array::Ptr values = new Array;
        for (std::string_view v : type.values) values->add(std::string(v));
        s->set("enum", values);
        break;
      }
      case spec::Kind::kTagged: {
        if (!type.description.empty()) s->set("description", std::string(type.description));
        Array::Ptr oneOf = new Array;
        for (const auto& [tag, variant] : type.variants) {
          Object::Ptr ref = newObject();
          ref->set("$ref", "#/$defs/" + std::string(variant->name));
          oneOf->add(ref);
        }
        s->set("oneOf", oneOf);
        break;
      }
      default:
        fillObject(s, type, tagValue);
        break;
    }
  }

  static void mergeExtra(Object::Ptr s, const spec::Type& type) {
    if (type.extraSchema.empty()) return;
    Poco::JSON::Parser parser(new Poco::JSON::ParseHandler(true));
    Object::Ptr extra = parser.parse(std::string(type.extraSchema)).extract<Object::Ptr>();
    for (const std::string& key : extra->getNames()) s->set(key, extra->get(key));
  }

  // Adds $defs entries for every named type reachable from `type`.
  void defineAll(const spec::Type& type, std::string_view tagValue = {}) {
    if (!type.name.empty() && type.kind != spec::Kind::kObject) {
      define(type, tagValue);
    } else if (!type.name.empty() && &type != &spec::policyDocument()) {
      define(type, tagValue);
    }
    for (const spec::Field& f : type.fields) {
      if (f.type) defineAll(*f.type);
    }
    if (type.items) defineAll(*type.items);
    for (const auto& [tag, variant] : type.variants) defineAll(*variant, tag);
  }

  void define(const spec::Type& type, std::string_view tagValue) {
    const std::string name(type.name);
    if (defs_->has(name)) return;
    Object::Ptr s = newObject();
    defs_->set(name, s);  // set first: recursion stops at already-defined names
    fillNamed(s, type, tagValue);
  }

  Object::Ptr defs_ = newObject();
};

}  // namespace

std::string generatePolicySchema() {
  Object::Ptr schema = Generator().run();
  std::ostringstream out;
  schema->stringify(out, 2);
  out << '\n';
  return out.str();
}

}  // namespace lens::policy
