#include "libcommon/approval/protocol.h"

#include <array>
#include <limits>
#include <utility>

#include "libcommon/audit/approval.h"
#include "libcommon/json/document.h"
#include "libcommon/json/json_writer.h"

namespace lens::approval {

namespace {

namespace ar = audit::approval_reason;

constexpr std::size_t kMaxText = 8 * 1024;  // one string field

struct Names {
  Answer answer;
  std::string_view word;
  std::string_view reason;
};
constexpr std::array<Names, 8> kAnswers{{
    {Answer::kAllowOnce, "allow_once", ar::kAllowedOnce},
    {Answer::kAllowAlways, "allow_always", ar::kAllowedPersisted},
    {Answer::kDenyOnce, "deny_once", ar::kDeniedOnce},
    {Answer::kDenyAlways, "deny_always", ar::kDeniedPersisted},
    {Answer::kAllow, "allow", ar::kAllowedOnce},
    {Answer::kDeny, "deny", ar::kDenied},
    {Answer::kTimeout, "timeout", ar::kTimeout},
    {Answer::kNoApprover, "no-approver", ar::kNoApprover},
}};

const Names& names(Answer a) {
  for (const Names& n : kAnswers)
    if (n.answer == a) return n;
  return kAnswers.back();
}

Error invalid(std::string message) { return Error{ErrorCode::kInvalidInput, std::move(message)}; }

Result<json::Document> parseObject(std::string_view text) {
  if (text.size() > kMaxMessage)
    return invalid("approval message of " + std::to_string(text.size()) + " bytes (at most " +
                   std::to_string(kMaxMessage) + ")");
  json::JsonLimits limits;
  limits.maxBytes = kMaxMessage;
  limits.maxDepth = 4;
  limits.maxString = kMaxText;
  auto parsed = json::Document::parse(text, limits);
  if (auto* e = std::get_if<json::ParseError>(&parsed))
    return invalid("approval message: " + e->message);
  auto doc = std::move(std::get<json::Document>(parsed));
  if (!doc.root().isObject()) return invalid("approval message: not a JSON object");
  return doc;
}

// Reads the members of an object, each at most once, refusing unknown ones.
class Fields {
 public:
  explicit Fields(const json::Value& object) : object_(object) {}

  // Every member is one of `known`.
  template <std::size_t N>
  [[nodiscard]] Status only(const std::array<std::string_view, N>& known) const {
    for (const json::Value& m : object_.children()) {
      bool found = false;
      for (std::string_view k : known) found = found || m.key() == k;
      if (!found)
        return invalid("approval message: unknown field \"" + std::string(m.key()) + "\"");
    }
    return Ok{};
  }
  [[nodiscard]] Result<std::string> text(std::string_view key, bool required) const {
    const json::Value* v = object_.find(key);
    if (!v) {
      if (required) return invalid("approval message without \"" + std::string(key) + "\"");
      return std::string();
    }
    if (!v->isString())
      return invalid("approval message: \"" + std::string(key) + "\" is not a string");
    return std::string(v->text());
  }
  [[nodiscard]] Result<std::uint64_t> number(std::string_view key) const {
    const json::Value* v = object_.find(key);
    if (!v) return invalid("approval message without \"" + std::string(key) + "\"");
    const auto n = v->isNumber() ? v->int64() : std::nullopt;
    if (!n || *n < 0)
      return invalid("approval message: \"" + std::string(key) +
                     "\" is not a non-negative integer");
    return static_cast<std::uint64_t>(*n);
  }

 private:
  const json::Value& object_;
};

Result<audit::ProcessInfo> parseCaller(const json::Value& v) {
  if (!v.isObject()) return invalid("approval message: \"caller\" is not an object");
  Fields f(v);
  if (Status s = f.only(std::array<std::string_view, 3>{"name", "pid", "exe"}); !s)
    return s.error();
  audit::ProcessInfo p;
  auto name = f.text("name", false);
  if (!name) return name.error();
  auto exe = f.text("exe", false);
  if (!exe) return exe.error();
  p.name = std::move(*name);
  p.exe = std::move(*exe);
  if (v.find("pid")) {
    auto pid = f.number("pid");
    if (!pid) return pid.error();
    if (*pid > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
      return invalid("approval message: \"pid\" out of range");
    p.pid = static_cast<int>(*pid);
  }
  return p;
}

void writeCaller(json::ObjectWriter& w, std::string_view key, const audit::ProcessInfo& p) {
  w.beginObject(key);
  if (!p.name.empty()) w.field("name", p.name);
  if (p.pid > 0) w.field("pid", p.pid);
  if (!p.exe.empty()) w.field("exe", p.exe);
  w.endObject();
}

}  // namespace

bool allows(Answer answer) {
  return answer == Answer::kAllowOnce || answer == Answer::kAllowAlways || answer == Answer::kAllow;
}

std::string_view auditReason(Answer answer) { return names(answer).reason; }

std::string_view word(Answer answer) { return names(answer).word; }

std::optional<Answer> parseDecision(Kind kind, std::string_view decision) {
  if (kind == Kind::kCredential) {
    if (decision == "allow" || decision == "allow_once") return Answer::kAllow;
    if (decision == "deny" || decision == "deny_once") return Answer::kDeny;
    return std::nullopt;
  }
  if (decision == "allow_once" || decision == "allow") return Answer::kAllowOnce;
  if (decision == "allow_always") return Answer::kAllowAlways;
  if (decision == "deny_once" || decision == "deny") return Answer::kDenyOnce;
  if (decision == "deny_always") return Answer::kDenyAlways;
  return std::nullopt;
}

std::string encodeAsk(std::uint64_t ref, const Item& item) {
  json::ObjectWriter w;
  w.field("op", "ask").field("ref", ref);
  w.field("kind", item.kind == Kind::kRequest ? "request" : "credential");
  w.field("host", item.host).field("action", item.action).field("reason", item.reason);
  if (!item.treatment.empty()) w.field("treatment", item.treatment);
  if (!item.credentialId.empty()) w.field("credentialId", item.credentialId);
  if (item.caller) writeCaller(w, "caller", *item.caller);
  return w.finish();
}

std::string encodeCancel(std::uint64_t ref) {
  json::ObjectWriter w;
  w.field("op", "cancel").field("ref", ref);
  return w.finish();
}

std::string encodeReply(const Reply& reply) {
  json::ObjectWriter w;
  w.field("ref", reply.ref).field("answer", word(reply.answer));
  if (!reply.id.empty()) w.field("id", reply.id);
  if (!reply.detail.empty()) w.field("detail", reply.detail);
  return w.finish();
}

Result<DaemonMessage> parseDaemonMessage(std::string_view text) {
  auto doc = parseObject(text);
  if (!doc) return doc.error();
  const json::Value& root = doc->root();
  Fields f(root);
  auto op = f.text("op", true);
  if (!op) return op.error();
  auto ref = f.number("ref");
  if (!ref) return ref.error();
  if (*op == "cancel") {
    if (Status s = f.only(std::array<std::string_view, 2>{"op", "ref"}); !s) return s.error();
    return DaemonMessage{Cancel{*ref}};
  }
  if (*op != "ask") return invalid("approval message: unknown op \"" + *op + "\"");
  if (Status s = f.only(std::array<std::string_view, 9>{
          "op", "ref", "kind", "host", "action", "reason", "treatment", "credentialId", "caller"});
      !s)
    return s.error();
  Ask ask;
  ask.ref = *ref;
  auto kind = f.text("kind", true);
  if (!kind) return kind.error();
  if (*kind != "request" && *kind != "credential")
    return invalid("approval message: unknown kind \"" + *kind + "\"");
  ask.item.kind = *kind == "request" ? Kind::kRequest : Kind::kCredential;
  auto host = f.text("host", true);
  auto action = f.text("action", true);
  auto reason = f.text("reason", true);
  auto treatment = f.text("treatment", false);
  auto credential = f.text("credentialId", ask.item.kind == Kind::kCredential);
  for (const auto* r : {&host, &action, &reason, &treatment, &credential})
    if (!*r) return r->error();
  if (action->empty()) return invalid("approval message: empty \"action\"");
  ask.item.host = std::move(*host);
  ask.item.action = std::move(*action);
  ask.item.reason = std::move(*reason);
  ask.item.treatment = std::move(*treatment);
  ask.item.credentialId = std::move(*credential);
  if (const json::Value* caller = root.find("caller")) {
    auto p = parseCaller(*caller);
    if (!p) return p.error();
    ask.item.caller = std::move(*p);
  }
  return DaemonMessage{std::move(ask)};
}

Result<Reply> parseReply(std::string_view text) {
  auto doc = parseObject(text);
  if (!doc) return doc.error();
  Fields f(doc->root());
  if (Status s = f.only(std::array<std::string_view, 4>{"ref", "answer", "id", "detail"}); !s)
    return s.error();
  Reply reply;
  auto ref = f.number("ref");
  if (!ref) return ref.error();
  reply.ref = *ref;
  auto answer = f.text("answer", true);
  if (!answer) return answer.error();
  bool known = false;
  for (const Names& n : kAnswers) {
    if (n.word == *answer) {
      reply.answer = n.answer;
      known = true;
    }
  }
  if (!known) return invalid("approval message: unknown answer \"" + *answer + "\"");
  auto id = f.text("id", false);
  auto detail = f.text("detail", false);
  if (!id) return id.error();
  if (!detail) return detail.error();
  reply.id = std::move(*id);
  reply.detail = std::move(*detail);
  return reply;
}

std::string pendingFrame(std::string_view id, const Item& item) {
  json::ObjectWriter w;
  if (item.kind == Kind::kCredential) {
    w.field("type", "credential_pending").field("id", id).field("credentialId", item.credentialId);
    w.field("action", item.action).field("reason", item.reason);
    return w.finish();
  }
  w.field("type", "request_pending").field("id", id).field("host", item.host);
  w.field("action", item.action).field("reason", item.reason);
  if (!item.treatment.empty()) w.field("treatment", item.treatment);
  if (item.caller) {  // as in audit events: actor.process
    w.beginObject("actor");
    writeCaller(w, "process", *item.caller);
    w.endObject();
  }
  return w.finish();
}

}  // namespace lens::approval
