// libFuzzer target: json::Document, the strict JSON parser every reader of
// untrusted JSON goes through (policies, control-plane frames, audit lines,
// spool records), and SourceMap's lookups by path on top of it.
//
// Besides crashes and sanitizer reports, the target aborts when an invariant
// breaks:
//   - a document that parses has every value at a position inside the text,
//     an object member's key before its value, children after their parent;
//   - strings hold valid UTF-8 without NUL; numbers fit what they claim;
//   - the path of every value (childPath/indexPath) leads SourceMap back to
//     that value's positions;
//   - quoting every string with json::quote and reading the copy back gives
//     the same strings;
//   - an error has a position, a message, and is the same on a second parse.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "libcommon/json/document.h"
#include "libcommon/json/json_writer.h"
#include "libcommon/json/source_map.h"

namespace {

using lens::json::Document;
using lens::json::ParseError;
using lens::json::SourceMap;
using lens::json::SourcePos;
using lens::json::Value;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "json_document_fuzz: invariant broken: %s\n", what.c_str());
  std::abort();
}

bool before(SourcePos a, SourcePos b) {
  return a.line < b.line || (a.line == b.line && a.column < b.column);
}

bool validUtf8WithoutNul(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b == 0) return false;
    const std::size_t n = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 ? 2 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

struct Checker {
  const SourceMap& map;
  SourcePos end;       // just past the text
  std::string quoted;  // every string, quoted, as one JSON array

  void value(const Value& v, const std::string& path, SourcePos parent) {
    if (before(v.pos(), parent) || before(end, v.pos()) || v.pos().line < 1 || v.pos().column < 1)
      fail("value at " + path + " is outside its parent or the text");
    if (before(v.pos(), v.keyPos())) fail("key after its value at " + path);
    const SourcePos found = map.valuePos(path);
    const SourcePos foundKey = map.keyPos(path);
    if (found.line != v.pos().line || found.column != v.pos().column ||
        foundKey.line != v.keyPos().line || foundKey.column != v.keyPos().column) {
      fail("SourceMap does not lead back to " + path);
    }
    switch (v.kind()) {
      case lens::json::Kind::kString:
        if (!validUtf8WithoutNul(v.text())) fail("string at " + path + " is not valid UTF-8");
        quoted += (quoted.empty() ? "[" : ",") + lens::json::quote(v.text());
        break;
      case lens::json::Kind::kNumber:
        if (v.text().empty()) fail("number without text at " + path);
        if (v.isInteger() && !v.int64() && v.text().front() == '-')
          fail("negative integer out of int64 range at " + path);
        break;
      case lens::json::Kind::kArray:
        for (std::size_t i = 0; i < v.children().size(); ++i)
          value(v.children()[i], lens::json::indexPath(path, i), v.pos());
        break;
      case lens::json::Kind::kObject:
        for (const Value& member : v.children()) {
          if (!validUtf8WithoutNul(member.key())) fail("key at " + path + " is not valid UTF-8");
          if (v.find(member.key()) != &member) fail("find() misses a key of " + path);
          value(member, lens::json::childPath(path, member.key()), v.pos());
        }
        break;
      default:
        break;
    }
  }
};

SourcePos endOf(std::string_view text) {
  SourcePos p;
  for (char c : text) {
    if (c == '\n') {
      ++p.line;
      p.column = 1;
    } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++p.column;
    }
  }
  return p;
}

// The strings of `v`, depth first, in the order Checker quoted them.
void strings(const Value& v, std::string& out) {
  if (v.isString()) out += (out.empty() ? "[" : ",") + lens::json::quote(v.text());
  for (const Value& child : v.children()) strings(child, out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  lens::json::JsonLimits limits;
  limits.maxBytes = 1u << 20;
  limits.maxDepth = 32;
  limits.maxString = 4096;
  auto parsed = Document::parse(text, limits);
  if (const auto* error = std::get_if<ParseError>(&parsed)) {
    if (error->pos.line < 1 || error->pos.column < 1 || error->message.empty())
      fail("error without a position or message");
    auto again = Document::parse(text, limits);
    const auto* second = std::get_if<ParseError>(&again);
    if (second == nullptr || second->message != error->message || second->path != error->path)
      fail("a second parse disagrees");
    return 0;
  }
  const SourceMap map(std::make_shared<const Document>(std::get<Document>(std::move(parsed))));
  Checker checker{map, endOf(text), {}};
  checker.value(map.document().root(), "", SourcePos{});
  if (checker.quoted.empty()) return 0;
  checker.quoted += "]";
  auto copy = Document::parse(checker.quoted);
  if (!std::holds_alternative<Document>(copy)) fail("quoted strings do not parse back");
  std::string back;
  strings(std::get<Document>(copy).root(), back);
  if (!back.empty()) back += "]";
  if (back != checker.quoted) fail("quoted strings read back differ");
  return 0;
}
