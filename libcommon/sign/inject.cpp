#include "libcommon/sign/inject.h"

#include <algorithm>

#include "libcommon/util/base64.h"
#include "libcommon/util/strings.h"

namespace lens::sign {

namespace {

constexpr std::string_view kBasicScheme = "Basic";

// Replaces every occurrence of `from` in `text`; returns how many.
std::size_t replaceAll(std::string& text, std::string_view from, std::string_view to) {
  std::size_t count = 0;
  for (std::size_t pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
    ++count;
  }
  return count;
}

// Substitutes inside the user:password of an "Authorization: Basic" field;
// true when the placeholder was there. A value that is not Basic with
// well-formed base64 is left alone.
bool substituteInBasic(http::HeaderField& field, std::string_view placeholder,
                       std::string_view value) {
  const std::string text = field.value();
  const std::size_t space = text.find(' ');
  if (space == std::string::npos ||
      !util::iequals(std::string_view(text).substr(0, space), kBasicScheme)) {
    return false;
  }
  const std::size_t start = text.find_first_not_of(' ', space);
  if (start == std::string::npos) return false;
  auto decoded = util::base64Decode(std::string_view(text).substr(start));
  if (!decoded || replaceAll(*decoded, placeholder, value) == 0) return false;
  field.rawValue = " " + text.substr(0, space) + " " + util::base64Encode(*decoded);
  return true;
}

Status checkTarget(std::string_view target) {
  const bool bad = std::any_of(target.begin(), target.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7f;
  });
  if (bad) {
    return makeError(ErrorCode::kInvalidInput,
                     "the request target has a space or a control character after substituting a "
                     "placeholder");
  }
  return Ok{};
}

}  // namespace

Result<InjectedRequest> applyInjections(const http::RawRequest& request,
                                        const policy::PolicyDocument& policy,
                                        std::span<const decision::CredentialRef> refs) {
  InjectedRequest out{request, {}, {}};
  http::RawRequest& target = out.request;

  for (const decision::CredentialRef& ref : refs) {
    if (ref.type != policy::InjectionType::kHeader) continue;
    const policy::Credential& credential = policy.credentials[ref.credential];
    const policy::Injection& injection = credential.injections[ref.injection];
    if (injection.value.empty()) {
      out.unarmed.push_back({credential.id, ref.type, injection.header});
      continue;
    }
    target.removeHeaders(injection.header);
    target.addHeader(injection.header, " " + injection.value);
    out.applied.push_back({credential.id, ref.type, injection.header});
  }

  bool targetChanged = false;
  for (const decision::CredentialRef& ref : refs) {
    if (ref.type != policy::InjectionType::kUriPlaceholder) continue;
    const policy::Credential& credential = policy.credentials[ref.credential];
    const policy::Injection& injection = credential.injections[ref.injection];
    if (injection.value.empty()) {
      out.unarmed.push_back({credential.id, ref.type, "request target"});
      continue;
    }
    if (credential.placeholder.empty()) continue;  // refused by the parser
    if (replaceAll(target.target, credential.placeholder, injection.value) != 0) {
      targetChanged = true;
      out.applied.push_back({credential.id, ref.type, "request target"});
    }
    for (http::HeaderField& field : target.headers) {
      if (util::iequals(field.name, "authorization") &&
          substituteInBasic(field, credential.placeholder, injection.value)) {
        out.applied.push_back({credential.id, ref.type, "Authorization Basic"});
      }
    }
  }
  if (targetChanged) {
    if (auto ok = checkTarget(target.target); !ok) return ok.error();
  }
  return out;
}

}  // namespace lens::sign
