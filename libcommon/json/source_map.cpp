#include "libcommon/json/source_map.h"

#include <algorithm>

namespace lens::json {

std::variant<SourceMap, SourceMap::ScanError> SourceMap::scan(std::string_view text,
                                                              const JsonLimits& limits) {
  auto parsed = Document::parse(text, limits);
  if (auto* error = std::get_if<ParseError>(&parsed)) return std::move(*error);
  return SourceMap(std::make_shared<const Document>(std::get<Document>(std::move(parsed))));
}

// The value at exactly `path`, or null.
const Value* SourceMap::walk(std::string_view path) const {
  const auto steps = splitPath(path);
  if (!steps) return nullptr;
  const Value* v = &doc_->root();
  for (const PathStep& step : *steps) {
    if (const auto* key = std::get_if<std::string>(&step)) {
      v = v->find(*key);
    } else {
      const std::size_t index = std::get<std::size_t>(step);
      v = v->isArray() && index < v->children().size() ? &v->children()[index] : nullptr;
    }
    if (v == nullptr) return nullptr;
  }
  return v;
}

const Value* SourceMap::find(const std::string& path) const {
  std::string_view p = path;
  while (true) {
    if (const Value* v = walk(p)) return v;
    if (p.empty()) return nullptr;
    // Strip the last component: ".key", "[n]" or "[\"key\"]".
    const std::size_t dot = p.rfind('.');
    const std::size_t bracket = p.rfind('[');
    const std::size_t cut = (dot == std::string::npos)       ? bracket
                            : (bracket == std::string::npos) ? dot
                                                             : std::max(dot, bracket);
    p = p.substr(0, cut == std::string::npos ? 0 : cut);
  }
}

SourcePos SourceMap::valuePos(const std::string& path) const {
  const Value* v = find(path);
  return v ? v->pos() : SourcePos{};
}

SourcePos SourceMap::keyPos(const std::string& path) const {
  const Value* v = find(path);
  return v ? v->keyPos() : SourcePos{};
}

}  // namespace lens::json
