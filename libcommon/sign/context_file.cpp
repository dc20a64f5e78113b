#include "libcommon/sign/context_file.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <limits>
#include <set>

namespace lens::sign {

namespace {

using Poco::Dynamic::Var;
using ObjectPtr = Poco::JSON::Object::Ptr;

Error bad(std::string what) { return makeError(ErrorCode::kInvalidArgument, std::move(what)); }

Status checkKeys(const ObjectPtr& object, const std::set<std::string>& known,
                 std::string_view where) {
  for (const std::string& key : object->getNames()) {
    if (known.count(key) == 0) {
      return bad("unknown key \"" + key.substr(0, 64) + "\"" +
                 (where.empty() ? std::string() : " in " + std::string(where)));
    }
  }
  return Ok{};
}

Result<std::string> stringAt(const ObjectPtr& object, const std::string& key,
                             std::string_view name) {
  const Var value = object->get(key);
  if (!value.isString()) return bad(std::string(name) + " is not a string");
  return value.extract<std::string>();
}

Result<bool> boolAt(const ObjectPtr& object, const std::string& key) {
  const Var value = object->get(key);
  if (value.type() != typeid(bool)) return bad(key + " is not true or false");
  return value.extract<bool>();
}

Status readCredentials(const ObjectPtr& root, SigningContext& ctx) {
  if (root->get("credentials").type() != typeid(ObjectPtr))
    return bad("credentials is not an object");
  const ObjectPtr credentials = root->getObject("credentials");
  if (auto ok =
          checkKeys(credentials, {"access_key_id", "secret_access_key", "token"}, "credentials");
      !ok) {
    return ok;
  }
  struct Field {
    const char* key;
    std::string* target;
  };
  for (const Field& field : {Field{"access_key_id", &ctx.accessKeyId},
                             Field{"secret_access_key", &ctx.secretAccessKey}}) {
    if (!credentials->has(field.key)) continue;
    auto value = stringAt(credentials, field.key, std::string("credentials.") + field.key);
    if (!value) return value.error();
    *field.target = std::move(value).value();
  }
  if (credentials->has("token")) {
    auto token = stringAt(credentials, "token", "credentials.token");
    if (!token) return token.error();
    ctx.sessionToken = std::move(token).value();
  }
  return Ok{};
}

Result<ContextFile> read(const ObjectPtr& root) {
  ContextFile out;
  SigningContext& ctx = out.context;
  if (auto ok = checkKeys(root,
                          {"credentials", "region", "service", "timestamp", "normalize",
                           "sign_body", "expiration_in_seconds", "omit_session_token"},
                          "");
      !ok) {
    return ok.error();
  }
  if (root->has("credentials")) {
    if (auto ok = readCredentials(root, ctx); !ok) return ok.error();
  }
  for (const auto& [key, target] :
       {std::pair{"region", &ctx.region}, std::pair{"service", &ctx.service}}) {
    if (!root->has(key)) continue;
    auto value = stringAt(root, key, key);
    if (!value) return value.error();
    *target = std::move(value).value();
  }
  if (root->has("timestamp")) {
    auto text = stringAt(root, "timestamp", "timestamp");
    if (!text) return text.error();
    auto time = parseTimestamp(*text);
    if (!time) return time.error();
    out.timestamp = *time;
  }
  for (const auto& [key, target] :
       {std::pair{"normalize", &ctx.normalizePath}, std::pair{"sign_body", &ctx.signBody},
        std::pair{"omit_session_token", &ctx.omitSessionTokenFromSignature}}) {
    if (!root->has(key)) continue;
    auto value = boolAt(root, key);
    if (!value) return value.error();
    *target = *value;
  }
  if (root->has("expiration_in_seconds")) {
    const Var value = root->get("expiration_in_seconds");
    if (!value.isInteger() || value.convert<long long>() < 0 ||
        value.convert<long long>() > std::numeric_limits<std::uint32_t>::max()) {
      return bad("expiration_in_seconds is not a number of seconds");
    }
    out.expirationSeconds = static_cast<std::uint32_t>(value.convert<long long>());
  }
  return out;
}

}  // namespace

Result<ContextFile> parseContextFile(std::string_view text) {
  try {
    Poco::JSON::Parser parser;
    const Var parsed = parser.parse(std::string(text));
    if (parsed.type() != typeid(ObjectPtr)) return bad("the context is not a JSON object");
    return read(parsed.extract<ObjectPtr>());
  } catch (const Poco::Exception& e) {
    // Poco's JSON messages quote no input.
    return bad("not valid JSON: " + e.message());
  }
}

}  // namespace lens::sign
