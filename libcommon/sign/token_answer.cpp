#include "libcommon/sign/token_answer.h"

#include <Poco/JSON/Object.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <vector>

#include "libcommon/policy/path_glob.h"
#include "libcommon/util/base64.h"
#include "libcommon/util/strings.h"

namespace lens::sign {

namespace {

const policy::Injection& injectionOf(const policy::PolicyDocument& policy,
                                     const decision::CredentialRef& ref) {
  return policy.credentials[ref.credential].injections[ref.injection];
}

// The fields of a form body; nullopt when one is malformed or repeated
// (RFC 6749 section 3.2: a parameter is sent once; a server could read
// either copy).
std::optional<std::map<std::string, std::string>> formFields(std::string_view body) {
  std::map<std::string, std::string> out;
  for (std::string_view pair : util::split(body, '&')) {
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    auto name = util::formDecode(pair.substr(0, eq));
    auto value =
        util::formDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!name || !value || !out.emplace(std::move(*name), std::move(*value)).second)
      return std::nullopt;
  }
  return out;
}

bool isForm(const http::RawRequest& head) {
  const http::HeaderField* field = head.findHeader("content-type");
  if (field == nullptr || head.countHeader("content-type") != 1) return false;
  const std::string value = field->value();
  const std::string_view type = std::string_view(value).substr(0, value.find(';'));
  const std::size_t end = type.find_last_not_of(" \t");
  return util::iequals(type.substr(0, end == std::string_view::npos ? 0 : end + 1),
                       "application/x-www-form-urlencoded");
}

// The client id of "Authorization: Basic" (RFC 6749 section 2.3.1: the
// form-encoded id before the colon); "" when there is none; nullopt when
// the field is there but unreadable.
std::optional<std::string> basicClientId(const http::RawRequest& head) {
  const http::HeaderField* field = head.findHeader("authorization");
  if (field == nullptr) return std::string();
  const std::string value = field->value();
  const std::size_t space = value.find(' ');
  if (space == std::string::npos ||
      !util::iequals(std::string_view(value).substr(0, space), "Basic")) {
    return std::string();  // another scheme: not a client authentication this answer reads
  }
  const std::size_t token = value.find_first_not_of(' ', space);
  if (token == std::string::npos) return std::nullopt;
  auto decoded = util::base64Decode(std::string_view(value).substr(token));
  if (!decoded) return std::nullopt;
  const std::size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return util::formDecode(std::string_view(*decoded).substr(0, colon));
}

std::vector<std::string> scopeSet(std::string_view scope) {
  std::vector<std::string> out;
  for (std::string_view s : util::split(scope, ' ')) {
    if (!s.empty()) out.emplace_back(s);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string json(const Poco::JSON::Object& object) {
  std::ostringstream out;
  object.stringify(out);
  return out.str();
}

}  // namespace

bool isTokenRequest(const http::RawRequest& head, const policy::PolicyDocument& policy,
                    std::span<const decision::CredentialRef> refs) {
  if (head.method != "POST") return false;
  std::string path;
  for (const decision::CredentialRef& ref : refs) {
    if (ref.type != policy::InjectionType::kOauthClientCredentials) continue;
    if (path.empty()) path = policy::normalizePath(head.target);
    if (injectionOf(policy, ref).tokenPath == path) return true;
  }
  return false;
}

std::optional<TokenAnswer> answerTokenRequest(const http::RawRequest& head, std::string_view body,
                                              const policy::PolicyDocument& policy,
                                              std::span<const decision::CredentialRef> refs) {
  if (!isTokenRequest(head, policy, refs) || !isForm(head)) return std::nullopt;
  const auto fields = formFields(body);
  if (!fields) return std::nullopt;
  const auto grant = fields->find("grant_type");
  if (grant == fields->end() || grant->second != "client_credentials") return std::nullopt;
  const auto basic = basicClientId(head);
  if (!basic) return std::nullopt;
  const auto formId = fields->find("client_id");
  std::string clientId = *basic;
  if (formId != fields->end()) {
    if (!clientId.empty() && clientId != formId->second)
      return std::nullopt;  // two different clients
    clientId = formId->second;
  }
  if (clientId.empty()) return std::nullopt;
  const auto scopeField = fields->find("scope");
  const std::vector<std::string> asked =
      scopeSet(scopeField == fields->end() ? "" : scopeField->second);
  const std::string path = policy::normalizePath(head.target);
  std::optional<TokenAnswer> scopeRefusal;
  for (const decision::CredentialRef& ref : refs) {
    if (ref.type != policy::InjectionType::kOauthClientCredentials) continue;
    const policy::Injection& injection = injectionOf(policy, ref);
    if (injection.tokenPath != path || injection.clientId != clientId) continue;
    if (injection.scopes == asked) {
      Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
      answer.set("token_type", "Bearer");
      answer.set("access_token", policy.credentials[ref.credential].placeholder);
      answer.set("expires_in", injection.expiresIn);
      return TokenAnswer{200, json(answer), ref.id};
    }
    if (!scopeRefusal) {
      Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
      answer.set("error", "invalid_scope");
      answer.set("error_description",
                 "the requested scope is not the one configured for this client");
      scopeRefusal = TokenAnswer{400, json(answer), ref.id};
    }
  }
  return scopeRefusal;
}

}  // namespace lens::sign
