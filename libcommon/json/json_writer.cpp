#include "libcommon/json/json_writer.h"

#include <charconv>
#include <stdexcept>
#include <utility>

namespace lens::json {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr char kHex[] = "0123456789abcdef";

// True for ASCII bytes that are copied as they are.
bool isPlainAscii(unsigned char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; }

void appendAsciiEscape(std::string& out, unsigned char c) {
  switch (c) {
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '\b':
      out += "\\b";
      return;
    case '\f':
      out += "\\f";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0x0f];
      return;
  }
}

// For a lead byte, the number of continuation bytes and the range allowed
// for the first of them (Unicode Table 3-7, "Well-Formed UTF-8 Byte
// Sequences"). The narrowed ranges exclude overlongs (E0, F0), surrogates
// (ED) and code points above U+10FFFF (F4). `trailing` is 0 for bytes that
// can never start a sequence.
struct LeadInfo {
  int trailing = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
};

LeadInfo leadInfo(unsigned char c) {
  if (c >= 0xC2 && c <= 0xDF) return {1, 0x80, 0xBF};
  if (c == 0xE0) return {2, 0xA0, 0xBF};
  if (c == 0xED) return {2, 0x80, 0x9F};
  if (c >= 0xE1 && c <= 0xEF) return {2, 0x80, 0xBF};
  if (c == 0xF0) return {3, 0x90, 0xBF};
  if (c >= 0xF1 && c <= 0xF3) return {3, 0x80, 0xBF};
  if (c == 0xF4) return {3, 0x80, 0x8F};
  return {};
}

}  // namespace

void appendString(std::string& out, std::string_view s) {
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    // Copy a run of plain ASCII in one go.
    std::size_t run = i;
    while (run < n && isPlainAscii(static_cast<unsigned char>(s[run]))) ++run;
    if (run > i) {
      out.append(s.substr(i, run - i));
      i = run;
      if (i == n) break;
    }

    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      appendAsciiEscape(out, c);
      ++i;
      continue;
    }

    const LeadInfo info = leadInfo(c);
    if (info.trailing == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    // Consume as many bytes as form a valid prefix of a sequence; if the
    // sequence is incomplete, that prefix is the maximal subpart and is
    // replaced by one U+FFFD.
    std::size_t j = i + 1;
    int got = 0;
    while (got < info.trailing && j < n) {
      const auto t = static_cast<unsigned char>(s[j]);
      const unsigned char lo = got == 0 ? info.lo : 0x80;
      const unsigned char hi = got == 0 ? info.hi : 0xBF;
      if (t < lo || t > hi) break;
      ++j;
      ++got;
    }
    if (got == info.trailing) {
      out.append(s.substr(i, j - i));
    } else {
      out += kReplacement;
    }
    i = j;
  }
  out += '"';
}

std::string quote(std::string_view s) {
  std::string out;
  appendString(out, s);
  return out;
}

ObjectWriter::ObjectWriter() {
  out_ += '{';
  stack_.push_back(Frame{false, true});
}

void ObjectWriter::memberPrefix(std::string_view key) {
  if (stack_.empty() || stack_.back().isArray) {
    throw std::logic_error("json::ObjectWriter: a keyed member outside an object");
  }
  Frame& frame = stack_.back();
  if (!frame.empty) out_ += ',';
  frame.empty = false;
  appendString(out_, key);
  out_ += ':';
}

void ObjectWriter::elementPrefix() {
  if (stack_.empty() || !stack_.back().isArray) {
    throw std::logic_error("json::ObjectWriter: an array element outside an array");
  }
  Frame& frame = stack_.back();
  if (!frame.empty) out_ += ',';
  frame.empty = false;
}

void ObjectWriter::appendSigned(std::int64_t value) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, value);
  out_.append(buf, res.ptr);
}

void ObjectWriter::appendUnsigned(std::uint64_t value) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, value);
  out_.append(buf, res.ptr);
}

ObjectWriter& ObjectWriter::field(std::string_view key, std::string_view value) {
  memberPrefix(key);
  appendString(out_, value);
  return *this;
}

ObjectWriter& ObjectWriter::field(std::string_view key, const char* value) {
  if (value == nullptr) return fieldNull(key);
  return field(key, std::string_view(value));
}

ObjectWriter& ObjectWriter::field(std::string_view key, bool value) {
  memberPrefix(key);
  out_ += value ? "true" : "false";
  return *this;
}

ObjectWriter& ObjectWriter::fieldNull(std::string_view key) {
  memberPrefix(key);
  out_ += "null";
  return *this;
}

ObjectWriter& ObjectWriter::fieldRaw(std::string_view key, std::string_view json) {
  if (json.empty()) throw std::logic_error("json::ObjectWriter: empty raw JSON value");
  memberPrefix(key);
  out_.append(json);
  return *this;
}

ObjectWriter& ObjectWriter::beginObject(std::string_view key) {
  memberPrefix(key);
  out_ += '{';
  stack_.push_back(Frame{false, true});
  return *this;
}

ObjectWriter& ObjectWriter::beginArray(std::string_view key) {
  memberPrefix(key);
  out_ += '[';
  stack_.push_back(Frame{true, true});
  return *this;
}

ObjectWriter& ObjectWriter::endObject() {
  // The top-level object is closed by finish(), not here.
  if (stack_.size() < 2 || stack_.back().isArray) {
    throw std::logic_error("json::ObjectWriter: endObject() without a matching beginObject()");
  }
  stack_.pop_back();
  out_ += '}';
  return *this;
}

ObjectWriter& ObjectWriter::element(std::string_view value) {
  elementPrefix();
  appendString(out_, value);
  return *this;
}

ObjectWriter& ObjectWriter::element(const char* value) {
  if (value == nullptr) return elementNull();
  return element(std::string_view(value));
}

ObjectWriter& ObjectWriter::element(bool value) {
  elementPrefix();
  out_ += value ? "true" : "false";
  return *this;
}

ObjectWriter& ObjectWriter::elementNull() {
  elementPrefix();
  out_ += "null";
  return *this;
}

ObjectWriter& ObjectWriter::elementRaw(std::string_view json) {
  if (json.empty()) throw std::logic_error("json::ObjectWriter: empty raw JSON value");
  elementPrefix();
  out_.append(json);
  return *this;
}

ObjectWriter& ObjectWriter::beginObject() {
  elementPrefix();
  out_ += '{';
  stack_.push_back(Frame{false, true});
  return *this;
}

ObjectWriter& ObjectWriter::beginArray() {
  elementPrefix();
  out_ += '[';
  stack_.push_back(Frame{true, true});
  return *this;
}

ObjectWriter& ObjectWriter::endArray() {
  if (stack_.empty() || !stack_.back().isArray) {
    throw std::logic_error("json::ObjectWriter: endArray() without a matching beginArray()");
  }
  stack_.pop_back();
  out_ += ']';
  return *this;
}

std::string ObjectWriter::finish() {
  if (finished_) throw std::logic_error("json::ObjectWriter: finish() called twice");
  if (stack_.size() != 1) {
    throw std::logic_error("json::ObjectWriter: finish() with an unclosed object or array");
  }
  stack_.clear();
  finished_ = true;
  out_ += '}';
  return std::move(out_);
}

}  // namespace lens::json
