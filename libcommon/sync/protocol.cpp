#include "libcommon/sync/protocol.h"

#include <Poco/Dynamic/Var.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <array>
#include <span>
#include <variant>

#include "libcommon/json/json_writer.h"
#include "libcommon/json/source_map.h"
#include "libcommon/util/hash.h"

namespace lens::sync {

namespace {

constexpr std::size_t kMaxTypeName = 64;

Error invalid(std::string message) {
  return makeError(ErrorCode::kInvalidInput, std::move(message));
}

// The JSON object of a frame, after the strict scan.
Result<Poco::JSON::Object::Ptr> parseObject(std::string_view text, const json::JsonLimits& limits) {
  auto scanned = json::SourceMap::scan(text, limits);
  if (const auto* err = std::get_if<json::SourceMap::ScanError>(&scanned)) {
    return invalid("not JSON: " + std::to_string(err->pos.line) + ":" +
                   std::to_string(err->pos.column) + ": " + err->message);
  }
  Poco::Dynamic::Var root;
  try {
    Poco::JSON::Parser parser;
    parser.setDepth(static_cast<std::size_t>(limits.maxDepth) + 1);
    root = parser.parse(std::string(text));
  } catch (const Poco::Exception& e) {
    return invalid("not JSON: " + e.displayText());
  }
  if (root.type() != typeid(Poco::JSON::Object::Ptr))
    return invalid("a frame must be a JSON object");
  return root.extract<Poco::JSON::Object::Ptr>();
}

bool isString(const Poco::JSON::Object::Ptr& obj, const std::string& key) {
  return obj->has(key) && obj->get(key).isString();
}

std::string printable(std::string_view s) {
  std::string out(s.substr(0, kMaxTypeName));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

Result<std::string> requireId(const Poco::JSON::Object::Ptr& obj, std::string_view type) {
  if (!isString(obj, "id")) return invalid(std::string(type) + " frame without a string \"id\"");
  std::string id = obj->getValue<std::string>("id");
  if (id.empty() || id.size() > 256)
    return invalid(std::string(type) + " frame with an empty or overlong \"id\"");
  return id;
}

Result<std::string> requireDecision(const Poco::JSON::Object::Ptr& obj, std::string_view type,
                                    std::span<const std::string_view> allowed) {
  if (!isString(obj, "decision"))
    return invalid(std::string(type) + " frame without a string \"decision\"");
  std::string decision = obj->getValue<std::string>("decision");
  if (std::find(allowed.begin(), allowed.end(), decision) == allowed.end()) {
    std::string list;
    for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return invalid(std::string(type) + " frame with decision \"" + printable(decision) +
                   "\" (expected one of " + list + ")");
  }
  return decision;
}

std::string locate(std::string_view file, const json::SourceMap* map, const std::string& path,
                   const std::string& message) {
  const json::SourcePos pos = map ? map->valuePos(path) : json::SourcePos{};
  return std::string(file) + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) +
         ": " + path + ": " + message;
}

}  // namespace

bool isProtocolDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (std::size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  auto num = [&](std::size_t at, std::size_t len) {
    int v = 0;
    for (std::size_t i = at; i < at + len; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  const int year = num(0, 4);
  const int month = num(5, 2);
  const int day = num(8, 2);
  if (month < 1 || month > 12 || day < 1) return false;
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const int limit = kDays[static_cast<std::size_t>(month - 1)] + (month == 2 && leap ? 1 : 0);
  return day <= limit;
}

Result<InboundFrame> parseFrame(std::string_view text, const json::JsonLimits& limits) {
  auto parsed = parseObject(text, limits);
  if (!parsed) return parsed.error();
  const Poco::JSON::Object::Ptr& obj = *parsed;
  if (!obj->has("type")) return invalid("a frame without \"type\"");
  if (!obj->get("type").isString()) return invalid("a frame whose \"type\" is not a string");

  InboundFrame frame;
  const std::string type = obj->getValue<std::string>("type");
  frame.typeName = printable(type);
  if (type == "policy") {
    frame.type = FrameType::kPolicy;
  } else if (type == "watch") {
    frame.type = FrameType::kWatch;
    auto id = requireId(obj, type);
    if (!id) return id.error();
    frame.id = std::move(*id);
    if (obj->has("waitMs") && !obj->get("waitMs").isEmpty()) {
      const Poco::Dynamic::Var wait = obj->get("waitMs");
      if (!wait.isInteger()) return invalid("watch frame whose \"waitMs\" is not an integer");
      const auto ms = wait.convert<std::int64_t>();
      if (ms < 0) return invalid("watch frame with a negative \"waitMs\"");
      frame.waitMs = std::min(std::chrono::milliseconds(ms), kMaxWatchWait);
    }
  } else if (type == "request_decision" || type == "credential_decision") {
    static constexpr std::string_view kRequest[] = {"allow_always", "allow_once", "deny_always",
                                                    "deny_once"};
    static constexpr std::string_view kCredential[] = {"allow", "deny"};
    const bool request = type == "request_decision";
    frame.type = request ? FrameType::kRequestDecision : FrameType::kCredentialDecision;
    auto id = requireId(obj, type);
    if (!id) return id.error();
    auto decision = requireDecision(obj, type,
                                    request ? std::span<const std::string_view>(kRequest)
                                            : std::span<const std::string_view>(kCredential));
    if (!decision) return decision.error();
    frame.id = std::move(*id);
    frame.decision = std::move(*decision);
  }
  return frame;
}

PolicyFrameCheck checkPolicyFrame(std::string_view text, const json::JsonLimits& limits,
                                  std::string_view fileName, std::string_view ourDate) {
  PolicyFrameCheck check;
  check.version = util::sha256Hex(text);

  policy::ParseOptions options;
  options.fileName = std::string(fileName);
  options.allowTransportFields = true;
  options.limits = limits;
  const policy::ParseOutcome outcome = policy::parsePolicy(text, options);
  for (const auto& d : outcome.errors) check.errors.push_back(d.format());
  for (const auto& d : outcome.warnings) check.warnings.push_back(d.format());

  // The frame fields the policy parser does not check (it types proxyUpstream
  // and proxyCaCert itself): type and minProtocolDate.
  // Read from the strict parser's document: a second parse of a large
  // policy with Poco::JSON would cost several times the policy parse.
  auto scanned = json::SourceMap::scan(text, limits);
  const json::SourceMap* map = std::get_if<json::SourceMap>(&scanned);
  std::vector<std::string> transportErrors;
  if (map != nullptr && map->document().root().isObject()) {
    const json::Value& obj = map->document().root();
    if (const json::Value* type = obj.find("type");
        type != nullptr && !(type->isString() && type->text() == "policy")) {
      transportErrors.push_back(locate(fileName, map, "type", "must be \"policy\""));
    }
    if (const json::Value* v = obj.find("minProtocolDate"); v != nullptr && !v->isNull()) {
      const std::string date = v->isString() ? std::string(v->text()) : std::string();
      if (!v->isString() || !isProtocolDate(date)) {
        transportErrors.push_back(
            locate(fileName, map, "minProtocolDate", "must be a date written YYYY-MM-DD"));
      } else {
        check.minProtocolDate = date;
        if (date > ourDate) {
          check.protocolTooOld = true;
          transportErrors.push_back(locate(fileName, map, "minProtocolDate",
                                           "the policy needs protocol " + date +
                                               " but this build speaks " + std::string(ourDate) +
                                               "; the sandbox must be recycled"));
        }
      }
    }
  }
  check.errors.insert(check.errors.end(), transportErrors.begin(), transportErrors.end());
  if (check.errors.empty()) check.policy = outcome.policy;
  return check;
}

std::string policyAppliedFrame(std::string_view version) {
  json::ObjectWriter w;
  w.field("type", "policy_applied").field("version", version);
  return w.finish();
}

std::string policyRejectedFrame(std::string_view version, const std::vector<std::string>& errors) {
  json::ObjectWriter w;
  w.field("type", "policy_rejected").field("version", version);
  w.beginArray("errors");
  for (const std::string& e : errors) w.element(e);
  w.endArray();
  return w.finish();
}

std::string watchResultFrame(std::string_view id, const std::vector<std::string>& activity,
                             const std::vector<std::pair<std::string, std::uint64_t>>& counters) {
  // Newest lines win: walk back from the end until the budget is spent.
  std::size_t budget = kMaxWatchOutput - 64;  // room for the marker line
  std::size_t first = activity.size();
  while (first > 0 && activity[first - 1].size() + 1 <= budget) {
    budget -= activity[first - 1].size() + 1;
    --first;
  }
  std::string output;
  if (first > 0) output = std::to_string(first) + " earlier lines skipped\n";
  for (std::size_t i = first; i < activity.size(); ++i) output += activity[i] + "\n";

  json::ObjectWriter w;
  w.field("type", "watch_result").field("id", id).field("output", output);
  w.beginObject("counters");
  for (const auto& [name, value] : counters) w.field(name, value);
  w.endObject();
  return w.finish();
}

}  // namespace lens::sync
