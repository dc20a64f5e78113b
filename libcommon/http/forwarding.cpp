#include "libcommon/http/forwarding.h"

#include <algorithm>
#include <array>
#include <vector>

#include "libcommon/util/strings.h"

namespace lens::http {

namespace {

// Hop-by-hop whatever Connection says (RFC 9110 section 7.6.1), and Close:
// a reserved name (RFC 9110 section 16.3.2.1) that the proxy's own
// "Connection: close" would name.
constexpr std::array<std::string_view, 5> kAlwaysHopByHop = {"keep-alive", "proxy-connection", "te",
                                                             "trailer", "close"};
// Kept even when Connection names them: the framing the proxy relays by, and
// the request's target host.
constexpr std::array<std::string_view, 3> kNeverRemoved = {"content-length", "transfer-encoding",
                                                           "host"};

bool isSpaceOrTab(char c) { return c == ' ' || c == '\t'; }

bool oneOf(std::string_view name, const auto& names) {
  return std::any_of(names.begin(), names.end(),
                     [name](std::string_view n) { return util::iequals(name, n); });
}

// One header field: its name and its lines (the field line, then the
// continuation lines of an obsolete fold), without their line ends.
struct Field {
  std::string_view name;  // empty for a line without ':' (kept as it is)
  std::vector<std::string_view> lines;
};

// The fields of a header section, up to its empty line (or the end). A
// continuation line before any field is kept as a field of its own.
std::vector<Field> splitFields(std::string_view text) {
  std::vector<Field> fields;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t eol = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? text.size() : eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    if (isSpaceOrTab(line.front()) && !fields.empty()) {
      fields.back().lines.push_back(line);
      continue;
    }
    const std::size_t colon = line.find(':');
    fields.push_back(Field{colon == std::string_view::npos || isSpaceOrTab(line.front())
                               ? std::string_view()
                               : line.substr(0, colon),
                           {line}});
  }
  return fields;
}

// The field's value: after the ':' of its first line, each fold read as a
// space (the lists in it are all that is looked at).
std::string valueOf(const Field& field) {
  std::string value(field.lines.front().substr(field.name.size() + 1));
  for (std::size_t i = 1; i < field.lines.size(); ++i) value.append(" ").append(field.lines[i]);
  return value;
}

// The names every Connection field lists, lower-case and sorted: one lookup
// per field stays logarithmic however long the list an origin sends.
std::vector<std::string> connectionOptions(const std::vector<Field>& fields) {
  std::vector<std::string> options;
  for (const Field& field : fields) {
    if (!util::iequals(field.name, "connection")) continue;
    const std::string value = valueOf(field);
    for (std::string_view item : util::split(value, ',')) {
      item = util::trimOws(item);
      if (!item.empty()) options.push_back(util::toLower(item));
    }
  }
  std::sort(options.begin(), options.end());
  options.erase(std::unique(options.begin(), options.end()), options.end());
  return options;
}

bool isHopByHop(std::string_view name, const std::vector<std::string>& options, bool keepUpgrade) {
  if (name.empty()) return false;
  if (util::iequals(name, "connection") || util::iequals(name, "upgrade")) return !keepUpgrade;
  if (oneOf(name, kAlwaysHopByHop)) return true;
  if (oneOf(name, kNeverRemoved)) return false;
  return std::binary_search(options.begin(), options.end(), util::toLower(name));
}

}  // namespace

std::string stripHopByHop(std::string_view headFields, bool keepUpgrade) {
  const std::vector<Field> fields = splitFields(headFields);
  const std::vector<std::string> options = connectionOptions(fields);
  std::string out;
  out.reserve(headFields.size() + 2 * fields.size());
  for (const Field& field : fields) {
    if (isHopByHop(field.name, options, keepUpgrade)) continue;
    for (std::string_view line : field.lines) out.append(line).append("\r\n");
  }
  return out;
}

std::string forwardResponseHead(std::string_view raw, const ResponseHead& head, bool keepAlive,
                                bool http10Client) {
  const std::size_t eol = raw.find('\n');
  // parseResponseHead read the status line trimmed: HTTP/1.x SP 3DIGIT [SP reason].
  std::string_view statusLine = raw.substr(0, eol);
  while (!statusLine.empty() && isSpaceOrTab(statusLine.front())) statusLine.remove_prefix(1);
  while (!statusLine.empty() && (isSpaceOrTab(statusLine.back()) || statusLine.back() == '\r'))
    statusLine.remove_suffix(1);
  const std::string_view reason = statusLine.size() > 13 ? statusLine.substr(13) : "";
  const std::string_view fields =
      eol == std::string_view::npos ? std::string_view() : raw.substr(eol + 1);

  std::string out;
  out.reserve(raw.size() + 32);
  out.append("HTTP/1.1 ").append(std::to_string(head.status)).append(" ").append(reason);
  out.append("\r\n");
  out.append(stripHopByHop(fields, false));
  if (head.status >= 200) {
    if (!keepAlive || head.framing == Framing::kUntilClose) {
      out.append("Connection: close\r\n");
    } else if (http10Client) {
      out.append("Connection: keep-alive\r\n");
    }
  }
  out.append("\r\n");
  return out;
}

bool forwardInterim(int status, bool http10Client) {
  return status >= 100 && status < 200 && status != 101 && !http10Client;
}

}  // namespace lens::http
