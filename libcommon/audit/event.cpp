#include "libcommon/audit/event.h"

#include <cstdio>

namespace lens::audit {

std::string_view outcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess:
      return "success";
    case Outcome::kFailure:
      return "failure";
    case Outcome::kError:
      return "error";
  }
  return "error";
}

std::string formatTimestamp(std::chrono::system_clock::time_point tp) {
  using namespace std::chrono;
  // floor (not duration_cast) so that instants before 1970 round toward the
  // past too and the day/time split stays correct.
  const auto ms = floor<milliseconds>(tp);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> hms{ms - day};

  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return buf;
}

Event::Event(std::string_view source, std::string_view action)
    : time_(std::chrono::system_clock::now()), source_(source), action_(action) {}

Event& Event::type(std::string_view value) {
  type_ = value;
  return *this;
}

Event& Event::method(std::string_view value) {
  method_ = std::string(value);
  return *this;
}

Event& Event::host(std::string_view value) {
  host_ = std::string(value);
  return *this;
}

Event& Event::path(std::string_view value) {
  path_ = std::string(value);
  return *this;
}

Event& Event::outcome(Outcome value) {
  outcome_ = value;
  return *this;
}

Event& Event::statusCode(int value) {
  statusCode_ = value;
  return *this;
}

Event& Event::meta(std::string_view key, std::string_view value) {
  return setMeta(key, MetaValue(std::in_place_type<std::string>, value));
}

Event& Event::meta(std::string_view key, const char* value) {
  if (value == nullptr) return setMeta(key, MetaValue(RawJson{"null"}));
  return meta(key, std::string_view(value));
}

Event& Event::meta(std::string_view key, bool value) {
  return setMeta(key, MetaValue(std::in_place_type<bool>, value));
}

Event& Event::metaRaw(std::string_view key, std::string_view json) {
  return setMeta(key, MetaValue(RawJson{std::string(json)}));
}

Event& Event::setMeta(std::string_view key, MetaValue value) {
  for (MetaField& field : metadata_) {
    if (field.key == key) {
      field.value = std::move(value);
      return *this;
    }
  }
  metadata_.push_back(MetaField{std::string(key), std::move(value)});
  return *this;
}

Event& Event::src(Endpoint value) {
  src_ = std::move(value);
  return *this;
}

Event& Event::actor(ProcessInfo value) {
  actor_ = std::move(value);
  return *this;
}

Event& Event::time(std::chrono::system_clock::time_point value) {
  time_ = value;
  return *this;
}

const MetaValue* Event::findMeta(std::string_view key) const {
  for (const MetaField& field : metadata_) {
    if (field.key == key) return &field.value;
  }
  return nullptr;
}

std::optional<std::string_view> Event::metaString(std::string_view key) const {
  const MetaValue* value = findMeta(key);
  if (value == nullptr) return std::nullopt;
  if (const auto* s = std::get_if<std::string>(value)) return std::string_view(*s);
  return std::nullopt;
}

namespace {

struct MetaAppender {
  json::ObjectWriter& writer;
  const std::string& key;

  void operator()(const std::string& v) const { writer.field(key, std::string_view(v)); }
  void operator()(std::int64_t v) const { writer.field(key, v); }
  void operator()(std::uint64_t v) const { writer.field(key, v); }
  void operator()(bool v) const { writer.field(key, v); }
  void operator()(const RawJson& v) const {
    if (v.text.empty()) {
      writer.fieldNull(key);  // an empty raw value would make the line invalid JSON
    } else {
      writer.fieldRaw(key, v.text);
    }
  }
};

}  // namespace

std::string Event::toJson() const {
  json::ObjectWriter w;
  w.field("type", std::string_view(type_));
  w.field("ts", std::string_view(formatTimestamp(time_)));
  w.field("source", std::string_view(source_));
  w.field("action", std::string_view(action_));
  if (method_) w.field("method", std::string_view(*method_));
  if (host_) w.field("host", std::string_view(*host_));
  if (path_) w.field("path", std::string_view(*path_));
  if (outcome_) w.field("result", outcomeName(*outcome_));
  if (statusCode_) w.field("status_code", *statusCode_);
  if (!metadata_.empty()) {
    w.beginObject("metadata");
    for (const MetaField& field : metadata_) std::visit(MetaAppender{w, field.key}, field.value);
    w.endObject();
  }
  if (src_) {
    w.beginObject("src_endpoint");
    w.field("ip", std::string_view(src_->ip));
    w.field("port", src_->port);
    w.endObject();
  }
  if (actor_) {
    w.beginObject("actor").beginObject("process");
    if (!actor_->name.empty()) w.field("name", std::string_view(actor_->name));
    if (actor_->pid > 0) w.field("pid", actor_->pid);
    if (!actor_->exe.empty()) w.field("exe", std::string_view(actor_->exe));
    w.endObject().endObject();
  }
  return w.finish();
}

}  // namespace lens::audit
