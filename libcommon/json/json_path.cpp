#include "libcommon/json/json_path.h"

namespace lens::json {

namespace {

bool isIdentifierChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '$';
}

bool isIdentifier(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!isIdentifierChar(c)) return false;
  }
  return true;
}

void appendQuoted(std::string& out, std::string_view key) {
  out += "[\"";
  for (char c : key) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += "\"]";
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // appendQuoted writes lower case only
}

}  // namespace

std::string childPath(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (isIdentifier(key)) {
    if (!out.empty()) out += '.';
    out += key;
  } else {
    appendQuoted(out, key);
  }
  return out;
}

std::string indexPath(std::string_view parent, std::size_t index) {
  std::string out(parent);
  out += '[';
  out += std::to_string(index);
  out += ']';
  return out;
}

std::optional<std::vector<PathStep>> splitPath(std::string_view path) {
  std::vector<PathStep> steps;
  std::size_t i = 0;
  auto identifier = [&]() -> std::optional<PathStep> {
    const std::size_t begin = i;
    while (i < path.size() && isIdentifierChar(path[i])) ++i;
    if (i == begin) return std::nullopt;
    return PathStep(std::string(path.substr(begin, i - begin)));
  };
  if (!path.empty() && path[0] != '[') {
    auto step = identifier();
    if (!step) return std::nullopt;
    steps.push_back(std::move(*step));
  }
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
      auto step = identifier();
      if (!step) return std::nullopt;
      steps.push_back(std::move(*step));
      continue;
    }
    if (path[i] != '[' || i + 1 >= path.size()) return std::nullopt;
    ++i;
    if (path[i] == '"') {
      ++i;
      std::string key;
      while (true) {
        if (i >= path.size()) return std::nullopt;
        const char c = path[i++];
        if (c == '"') break;
        if (c != '\\') {
          key += c;
          continue;
        }
        if (i >= path.size()) return std::nullopt;
        const char e = path[i++];
        if (e == '"' || e == '\\') {
          key += e;
        } else if (e == 'u' && path.substr(i, 2) == "00" && i + 4 <= path.size() &&
                   hexDigit(path[i + 2]) >= 0 && hexDigit(path[i + 3]) >= 0) {
          key += static_cast<char>(hexDigit(path[i + 2]) * 16 + hexDigit(path[i + 3]));
          i += 4;
        } else {
          return std::nullopt;
        }
      }
      if (i >= path.size() || path[i] != ']') return std::nullopt;
      ++i;
      steps.emplace_back(std::move(key));
      continue;
    }
    std::size_t index = 0;
    const std::size_t begin = i;
    while (i < path.size() && path[i] >= '0' && path[i] <= '9') {
      index = index * 10 + static_cast<std::size_t>(path[i] - '0');
      ++i;
    }
    if (i == begin || i - begin > 18 || i >= path.size() || path[i] != ']') return std::nullopt;
    ++i;
    steps.emplace_back(index);
  }
  return steps;
}

}  // namespace lens::json
