// libFuzzer target: the credentials stage (sign::BoundaryRequest) on a
// request from the sandbox, as lens-proxy runs it inside interception and
// lens-sign resign on standard input: injections, the re-judged target,
// SigV4 re-signing (the whole body when its hash is signed), the OAuth
// token answer, the guard.
// The first input byte picks the destination host; the rest is the request.
//
// Besides crashes and sanitizer reports, the target aborts when an invariant
// breaks:
//   - a request the stage lets through carries no credential's placeholder;
//   - no refusal text names a secret value of the policy;
//   - a refusal has a status of 400 to 499;
//   - a token answer names no secret, and a 200 one gives the placeholder.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "libcommon/decision/engine.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/policy/policy_parser.h"
#include "libcommon/sign/boundary.h"

namespace {

constexpr std::string_view kPolicy = R"({
  "network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
    {"match": "api.test", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/v1/**"}, {"method": "POST", "path": "/v1/**"}]},
    {"match": "*.amazonaws.com", "verdict": "allow", "transport": "direct"},
    {"match": "other.test", "verdict": "allow", "transport": "direct"}]}},
  "credentials": [
    {"id": "tok", "placeholder": "__lens_cred:tok__", "injections": [
      {"injectionType": "header", "domain": "api.test", "header": "Authorization", "value": "Bearer SECRET-TOKEN-VALUE",
       "rules": [{"method": "GET", "path": "/v1/items/**"}]}]},
    {"id": "key", "placeholder": "__lens_cred:key__", "injections": [
      {"injectionType": "uriPlaceholder", "domain": "api.test", "value": "SECRET-URI-VALUE"}]},
    {"id": "crm", "placeholder": "__lens_cred:crm__", "injections": [
      {"injectionType": "oauthClientCredentials", "domain": "api.test", "tokenPath": "/v1/token", "clientId": "agent",
       "scope": "read write"},
      {"injectionType": "header", "domain": "api.test", "header": "Authorization", "value": "Bearer SECRET-CRM-TOKEN",
       "rules": [{"method": "GET", "path": "/v1/crm/**"}]}]},
    {"id": "aws", "placeholder": "LENSFAKE00AABB0000CC", "injections": [
      {"injectionType": "awsSigv4", "domain": "*.amazonaws.com", "accessKeyId": "ASIASECRETKEYID",
       "secretAccessKey": "SECRET-AWS-ACCESS-KEY", "sessionToken": "SECRET-SESSION-TOKEN"}]}]})";

constexpr std::string_view kSecrets[] = {"SECRET-TOKEN-VALUE",    "SECRET-URI-VALUE",
                                         "SECRET-CRM-TOKEN",      "ASIASECRETKEYID",
                                         "SECRET-AWS-ACCESS-KEY", "SECRET-SESSION-TOKEN"};
constexpr std::string_view kHosts[] = {"api.test", "s3.eu-west-1.amazonaws.com",
                                       "sqs.us-east-1.amazonaws.com", "other.test"};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "credential_boundary_fuzz: invariant broken: %s\n", what.c_str());
  std::abort();
}

const lens::decision::Engine& engine() {
  static const lens::decision::Engine e = [] {
    auto parsed = lens::policy::parsePolicy(kPolicy);
    if (!parsed.ok()) fail("the policy does not parse");
    return lens::decision::Engine(parsed.policy);
  }();
  return e;
}

void checkRefusal(const lens::sign::BoundaryRefusal& r) {
  if (r.status < 400 || r.status > 499) fail("refusal status " + std::to_string(r.status));
  for (std::string_view secret : kSecrets) {
    if (r.text.find(secret) != std::string::npos) fail("a refusal names a secret");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view host = kHosts[data[0] % std::size(kHosts)];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto parsed = lens::http::parseRawRequest(text);
  if (!parsed) return 0;
  lens::http::RawRequest head = std::move(parsed).value();
  const std::string body = std::move(head.body);
  head.body.clear();

  lens::decision::Request destination;
  destination.door = lens::decision::Door::kConnect;
  destination.host = std::string(host);
  destination.port = 443;
  destination.method = head.method;
  destination.path = head.target;
  lens::sign::BoundaryRequest stage(engine(), destination, {1024});
  if (!stage.begin(head)) {
    checkRefusal(stage.refusal());
    return 0;
  }
  const auto now = std::chrono::sys_days{std::chrono::year{2024} / 1 / 2} + std::chrono::hours{3};
  const std::string_view whole =
      stage.needsBody()
          ? std::string_view(body).substr(0, static_cast<std::size_t>(stage.bodyLength()))
          : std::string_view();
  if (!stage.finish(head, whole, now)) {
    checkRefusal(stage.refusal());
    return 0;
  }
  if (const auto& answer = stage.answer()) {  // answered by the stage: nothing goes on
    for (std::string_view secret : kSecrets) {
      if (answer->body.find(secret) != std::string::npos) fail("a token answer names a secret");
    }
    if (answer->status == 200 &&
        answer->body.find("\"access_token\":\"__lens_cred:crm__\"") == std::string::npos) {
      fail("a token answer without the placeholder");
    }
    return 0;
  }
  if (auto id = lens::sign::placeholderIn(*engine().policy(), head))
    fail("placeholder of " + *id + " let through");
  if (auto filter = stage.bodyFilter()) {
    std::string out;
    (void)filter->feed(body, out);
    (void)filter->finish();
  }
  return 0;
}
