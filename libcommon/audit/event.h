#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "libcommon/json/json_writer.h"

namespace lens::audit {

// The "result" of an audit event.
enum class Outcome { kSuccess, kFailure, kError };

// "success", "failure" or "error".
[[nodiscard]] std::string_view outcomeName(Outcome outcome);

struct Endpoint {
  std::string ip;
  std::uint16_t port = 0;
};

struct ProcessInfo {
  std::string name;  // omitted from JSON when empty
  int pid = 0;       // omitted from JSON when <= 0
  std::string exe;   // omitted from JSON when empty
};

// RFC 3339, UTC, millisecond precision: "2026-11-27T07:25:30.123Z".
// Sub-millisecond digits are truncated toward the past.
[[nodiscard]] std::string formatTimestamp(std::chrono::system_clock::time_point tp);

// A metadata value that is already JSON text (an array, an object), copied
// verbatim into the event.
struct RawJson {
  std::string text;
};

using MetaValue = std::variant<std::string, std::int64_t, std::uint64_t, bool, RawJson>;

struct MetaField {
  std::string key;
  MetaValue value;
};

// One audit event (DESIGN.md section 6), built fluently and rendered as one
// JSON line:
//
//   Event("lens-proxy", "CONNECT example.com:443")
//       .method("CONNECT").host("example.com")
//       .outcome(Outcome::kFailure).statusCode(403)
//       .meta("reason", "host not allowed").meta("policy_version", 7)
//       .toJson();
//
// Keys appear in this order, absent ones omitted: type, ts, source, action,
// method, host, path, result, status_code, metadata{...}, src_endpoint{ip,
// port}, actor{process{name, pid, exe}}. Metadata keeps insertion order;
// setting an existing metadata key replaces its value in place. Metadata is
// omitted when empty. Strings are escaped by json::appendString (invalid
// UTF-8 becomes U+FFFD). Never put a secret into an event.
class Event {
 public:
  static constexpr std::string_view kDefaultType = "audit_event";

  // The timestamp defaults to system_clock::now() at construction.
  Event(std::string_view source, std::string_view action);

  // Setters.
  Event& type(std::string_view value);
  Event& method(std::string_view value);
  Event& host(std::string_view value);
  Event& path(std::string_view value);
  Event& outcome(Outcome value);
  Event& statusCode(int value);
  Event& meta(std::string_view key, std::string_view value);
  Event& meta(std::string_view key, const char* value);  // a null pointer is stored as JSON null
  Event& meta(std::string_view key, bool value);
  // Integers of any width (int, std::int64_t, std::size_t, ...).
  template <json::detail::NumberLike T>
  Event& meta(std::string_view key, T value) {
    static_assert(std::is_integral_v<T> && !json::detail::kIsCharType<T>,
                  "Event::meta: only integers, bools and strings are supported");
    if constexpr (std::is_signed_v<T>) {
      return setMeta(key, MetaValue(std::in_place_type<std::int64_t>, value));
    } else {
      return setMeta(key, MetaValue(std::in_place_type<std::uint64_t>, value));
    }
  }
  // `json` must be a complete JSON value (for example an array); not checked.
  Event& metaRaw(std::string_view key, std::string_view json);
  Event& src(Endpoint value);
  Event& actor(ProcessInfo value);
  Event& time(std::chrono::system_clock::time_point value);

  // A copy of this event with one metadata field added (or replaced).
  template <class V>
  [[nodiscard]] Event withMeta(std::string_view key, V&& value) const {
    Event copy(*this);
    copy.meta(key, std::forward<V>(value));
    return copy;
  }

  // Accessors.
  [[nodiscard]] const std::string& type() const { return type_; }
  [[nodiscard]] const std::string& source() const { return source_; }
  [[nodiscard]] const std::string& action() const { return action_; }
  [[nodiscard]] const std::optional<std::string>& method() const { return method_; }
  [[nodiscard]] const std::optional<std::string>& host() const { return host_; }
  [[nodiscard]] const std::optional<std::string>& path() const { return path_; }
  [[nodiscard]] std::optional<Outcome> outcome() const { return outcome_; }
  [[nodiscard]] std::optional<int> statusCode() const { return statusCode_; }
  [[nodiscard]] const std::optional<Endpoint>& src() const { return src_; }
  [[nodiscard]] const std::optional<ProcessInfo>& actor() const { return actor_; }
  [[nodiscard]] std::chrono::system_clock::time_point time() const { return time_; }
  [[nodiscard]] const std::vector<MetaField>& metadata() const { return metadata_; }
  // The metadata value under `key`, or nullptr.
  [[nodiscard]] const MetaValue* findMeta(std::string_view key) const;
  // The metadata value under `key` when it is a string.
  [[nodiscard]] std::optional<std::string_view> metaString(std::string_view key) const;
  // metaString("reason").
  [[nodiscard]] std::optional<std::string_view> reason() const { return metaString("reason"); }

  // One line of JSON, without a trailing newline.
  [[nodiscard]] std::string toJson() const;

 private:
  Event& setMeta(std::string_view key, MetaValue value);

  std::string type_{kDefaultType};
  std::chrono::system_clock::time_point time_;
  std::string source_;
  std::string action_;
  std::optional<std::string> method_;
  std::optional<std::string> host_;
  std::optional<std::string> path_;
  std::optional<Outcome> outcome_;
  std::optional<int> statusCode_;
  std::vector<MetaField> metadata_;
  std::optional<Endpoint> src_;
  std::optional<ProcessInfo> actor_;
};

}  // namespace lens::audit
