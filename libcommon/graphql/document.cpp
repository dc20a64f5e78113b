#include "libcommon/graphql/document.h"

#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>

namespace lens::graphql {

namespace {

// ---- tokens -----------------------------------------------------------------

enum class Kind : std::uint8_t { kPunct, kName, kInt, kFloat, kString, kEnd };

struct Token {
  Kind kind = Kind::kEnd;
  std::string_view text;  // the punctuator, the name, the number; strings: the raw literal
  int line = 1;
  int column = 1;
};

struct Failure {
  ErrorCode code = ErrorCode::kInvalidInput;
  std::string message;
};

bool nameStart(char c) { return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool nameContinue(char c) { return nameStart(c) || (c >= '0' && c <= '9'); }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool punctuator(char c) {
  switch (c) {
    case '!':
    case '$':
    case '&':
    case '(':
    case ')':
    case '=':
    case ':':
    case '@':
    case '[':
    case ']':
    case '{':
    case '|':
    case '}':
      return true;
    default:
      return false;
  }
}
bool hexDigit(char c) { return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

class Lexer {
 public:
  Lexer(std::string_view text, const Limits& limits) : text_(text), limits_(limits) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // a byte order mark is ignored
  }

  // The next token, or a failure (stored; kEnd returned).
  Token next() {
    skipIgnored();
    Token t;
    t.line = line_;
    t.column = column();
    if (failed_) return t;
    if (pos_ >= text_.size()) return t;
    if (++tokens_ > limits_.maxTokens) {
      fail(t, ErrorCode::kLimit, "more than " + std::to_string(limits_.maxTokens) + " tokens");
      return t;
    }
    const std::size_t start = pos_;
    const char c = text_[pos_];
    if (c == '.' && text_.substr(pos_, 3) == "...") {
      pos_ += 3;
      t.kind = Kind::kPunct;
    } else if (punctuator(c)) {
      ++pos_;
      t.kind = Kind::kPunct;
    } else if (nameStart(c)) {
      while (pos_ < text_.size() && nameContinue(text_[pos_])) ++pos_;
      t.kind = Kind::kName;
    } else if (c == '-' || digit(c)) {
      t.kind = number(t);
    } else if (c == '"') {
      t.kind = Kind::kString;
      if (text_.substr(pos_, 3) == "\"\"\"") {
        blockString(t);
      } else {
        string(t);
      }
    } else {
      fail(t, ErrorCode::kInvalidInput, "unexpected character " + describe(c));
      return t;
    }
    t.text = text_.substr(start, pos_ - start);
    return t;
  }

  [[nodiscard]] bool failed() const { return failed_; }
  [[nodiscard]] const Failure& failure() const { return failure_; }
  void fail(const Token& at, ErrorCode code, std::string what) {
    if (failed_) return;
    failed_ = true;
    failure_ = {code, std::to_string(at.line) + ":" + std::to_string(at.column) + ": " + what};
  }

 private:
  static std::string describe(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x21 && u < 0x7f) return std::string("'") + c + "'";
    static constexpr char kHex[] = "0123456789abcdef";
    return std::string("byte 0x") + kHex[u >> 4] + kHex[u & 0xf];
  }
  [[nodiscard]] int column() const { return static_cast<int>(pos_ - lineStart_) + 1; }
  void newline() {
    ++line_;
    lineStart_ = pos_;
  }

  void skipIgnored() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == ',') {
        ++pos_;
      } else if (c == '\n') {
        ++pos_;
        newline();
      } else if (c == '\r') {
        ++pos_;
        if (pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
        newline();
      } else if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n' && text_[pos_] != '\r') ++pos_;
      } else {
        return;
      }
    }
  }

  Kind number(Token& t) {
    if (text_[pos_] == '-') ++pos_;
    if (pos_ >= text_.size() || !digit(text_[pos_])) {
      fail(t, ErrorCode::kInvalidInput, "a number without digits");
      return Kind::kEnd;
    }
    if (text_[pos_] == '0') {
      ++pos_;
      if (pos_ < text_.size() && digit(text_[pos_])) {
        fail(t, ErrorCode::kInvalidInput, "a number with a leading zero");
        return Kind::kEnd;
      }
    } else {
      while (pos_ < text_.size() && digit(text_[pos_])) ++pos_;
    }
    Kind kind = Kind::kInt;
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digits(t)) return Kind::kEnd;
      kind = Kind::kFloat;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digits(t)) return Kind::kEnd;
      kind = Kind::kFloat;
    }
    if (pos_ < text_.size() && (text_[pos_] == '.' || nameStart(text_[pos_]))) {
      fail(t, ErrorCode::kInvalidInput, "a number followed by " + describe(text_[pos_]));
      return Kind::kEnd;
    }
    return kind;
  }
  bool digits(const Token& t) {
    if (pos_ >= text_.size() || !digit(text_[pos_])) {
      fail(t, ErrorCode::kInvalidInput, "a number cut short");
      return false;
    }
    while (pos_ < text_.size() && digit(text_[pos_])) ++pos_;
    return true;
  }

  void string(const Token& t) {
    ++pos_;  // the opening quote
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return;
      }
      if (c == '\n' || c == '\r') break;
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
        fail(t, ErrorCode::kInvalidInput, "a control character in a string");
        return;
      }
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) break;
        const char e = text_[pos_ + 1];
        if (e == 'u') {
          if (!unicodeEscape(t)) return;
          continue;
        }
        if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          fail(t, ErrorCode::kInvalidInput,
               "an unknown escape \\" + std::string(1, e) + " in a string");
          return;
        }
        pos_ += 2;
        continue;
      }
      ++pos_;
    }
    fail(t, ErrorCode::kInvalidInput, "a string without its closing quote");
  }
  // \uXXXX or \u{X...} (at most 6 hex digits)
  bool unicodeEscape(const Token& t) {
    pos_ += 2;
    if (pos_ < text_.size() && text_[pos_] == '{') {
      std::size_t n = 0;
      ++pos_;
      while (pos_ < text_.size() && hexDigit(text_[pos_]) && n < 6) {
        ++pos_;
        ++n;
      }
      if (n > 0 && pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return true;
      }
    } else {
      std::size_t n = 0;
      while (n < 4 && pos_ < text_.size() && hexDigit(text_[pos_])) {
        ++pos_;
        ++n;
      }
      if (n == 4) return true;
    }
    fail(t, ErrorCode::kInvalidInput, "a bad \\u escape in a string");
    return false;
  }

  void blockString(const Token& t) {
    pos_ += 3;
    while (pos_ < text_.size()) {
      if (text_.substr(pos_, 4) == "\\\"\"\"") {
        pos_ += 4;
        continue;
      }
      if (text_.substr(pos_, 3) == "\"\"\"") {
        pos_ += 3;
        return;
      }
      const char c = text_[pos_++];
      if (c == '\n') {
        newline();
      } else if (c == '\r') {
        if (pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
        newline();
      }
    }
    fail(t, ErrorCode::kInvalidInput, "a block string without its closing \"\"\"");
  }

  std::string_view text_;
  const Limits& limits_;
  std::size_t pos_ = 0;
  std::size_t lineStart_ = 0;
  int line_ = 1;
  std::size_t tokens_ = 0;
  bool failed_ = false;
  Failure failure_;
};

// ---- the parser --------------------------------------------------------------

// What a selection set holds at the level that counts: fields by real name,
// fragment spreads by name, inline fragments by the index of their set.
struct Item {
  enum class What : std::uint8_t { kField, kSpread, kInline } what = What::kField;
  std::string name;
  std::size_t set = 0;
};
using Set = std::vector<Item>;

class Parser {
 public:
  Parser(std::string_view text, const Limits& limits) : lexer_(text, limits), limits_(limits) {
    advance();
  }

  Result<Document> document() {
    if (at(Kind::kEnd) && !lexer_.failed()) return fail("an empty document");
    while (!at(Kind::kEnd) && !lexer_.failed()) definition();
    if (lexer_.failed()) return Error{lexer_.failure().code, lexer_.failure().message};
    for (const auto& [name, where] : spreads_) {
      if (fragments_.count(name) == 0)
        return Error{ErrorCode::kInvalidInput, where + ": no fragment named \"" + name + "\""};
    }
    if (operations_.size() > 1) {
      for (const auto& op : operations_) {
        if (op.first.name.empty())
          return Error{ErrorCode::kInvalidInput,
                       "an anonymous operation must be the only operation of the document"};
      }
    }
    Document doc;
    for (auto& [op, set] : operations_) {
      std::set<std::string> seen;
      std::set<std::string> visited;
      collect(set, op.rootFields, seen, visited);
      doc.operations.push_back(std::move(op));
    }
    return doc;
  }

 private:
  void advance() { token_ = lexer_.next(); }
  [[nodiscard]] bool at(Kind kind) const { return token_.kind == kind; }
  [[nodiscard]] bool atPunct(std::string_view p) const {
    return token_.kind == Kind::kPunct && token_.text == p;
  }
  [[nodiscard]] bool atName(std::string_view n) const {
    return token_.kind == Kind::kName && token_.text == n;
  }
  Error fail(std::string what) {
    lexer_.fail(token_, ErrorCode::kInvalidInput, std::move(what));
    return Error{lexer_.failure().code, lexer_.failure().message};
  }
  void expected(std::string_view what) {
    std::string message = "expected ";
    message.append(what).append(", got ");
    if (at(Kind::kEnd)) {
      message.append("the end of the document");
    } else {
      message.append("\"").append(token_.text.substr(0, 32)).append("\"");
    }
    (void)fail(std::move(message));
  }
  bool expectPunct(std::string_view p) {
    if (!atPunct(p)) {
      expected(std::string(1, '\'').append(p).append(1, '\''));
      return false;
    }
    advance();
    return true;
  }
  // A name; empty (and failed) when there is none.
  std::string name(std::string_view what) {
    if (!at(Kind::kName)) {
      expected(what);
      return {};
    }
    std::string n(token_.text);
    advance();
    return n;
  }
  bool deeper() {
    if (++depth_ > limits_.maxDepth) {
      lexer_.fail(token_, ErrorCode::kLimit,
                  "nested deeper than " + std::to_string(limits_.maxDepth));
      return false;
    }
    return true;
  }
  [[nodiscard]] bool ok() const { return !lexer_.failed(); }
  [[nodiscard]] std::string where() const {
    return std::to_string(token_.line) + ":" + std::to_string(token_.column);
  }

  void definition() {
    if (atPunct("{")) {
      Operation op;
      const std::size_t set = selectionSet(true);
      if (ok()) addOperation(std::move(op), set);
      return;
    }
    if (at(Kind::kName)) {
      const std::string_view word = token_.text;
      if (word == "query" || word == "mutation" || word == "subscription") return operation();
      if (word == "fragment") return fragment();
      static constexpr std::string_view kTypeSystem[] = {
          "schema", "scalar", "type", "interface", "union", "enum", "input", "directive", "extend"};
      for (std::string_view t : kTypeSystem) {
        if (word == t) {
          (void)fail("a type-system definition (\"" + std::string(word) + "\") is not executable");
          return;
        }
      }
    }
    expected("an operation or a fragment");
  }

  void operation() {
    Operation op;
    op.type = atName("query")      ? OperationType::kQuery
              : atName("mutation") ? OperationType::kMutation
                                   : OperationType::kSubscription;
    advance();
    if (at(Kind::kName)) op.name = name("a name");
    if (atPunct("(")) variableDefinitions();
    directives();
    if (!ok()) return;
    const std::size_t set = selectionSet(true);
    if (ok()) addOperation(std::move(op), set);
  }

  void addOperation(Operation op, std::size_t set) {
    if (!op.name.empty()) {
      for (const auto& other : operations_) {
        if (other.first.name == op.name) {
          (void)fail("a second operation named \"" + op.name + "\"");
          return;
        }
      }
    }
    operations_.emplace_back(std::move(op), set);
  }

  void fragment() {
    advance();
    const std::string at = where();
    const std::string n = name("a fragment name");
    if (!ok()) return;
    if (n == "on") {
      (void)fail("a fragment may not be named \"on\"");
      return;
    }
    if (!atName("on")) return expected("'on' and a type");
    advance();
    (void)name("a type name");
    directives();
    if (!ok()) return;
    const std::size_t set = selectionSet(true);
    if (!ok()) return;
    if (!fragments_.emplace(n, set).second)
      (void)fail("a second fragment named \"" + n + "\" (the first at " + at + " or before)");
  }

  // { Selection+ }: the index of its Set when `keep` (a root level), else 0.
  std::size_t selectionSet(bool keep) {
    if (!deeper()) return 0;
    std::size_t index = 0;
    if (keep) {
      index = sets_.size();
      sets_.emplace_back();
    }
    if (!expectPunct("{")) return 0;
    if (atPunct("}")) {
      (void)fail("an empty selection set");
      return 0;
    }
    while (ok() && !atPunct("}")) {
      if (at(Kind::kEnd)) {
        expected("'}'");
        return 0;
      }
      selection(keep ? &sets_[index] : nullptr);
    }
    if (ok()) advance();
    --depth_;
    return index;
  }

  void selection(Set* out) {
    if (atPunct("...")) {
      advance();
      if (at(Kind::kName) && !atName("on")) {  // a spread
        const std::string at = where();
        const std::string n = name("a fragment name");
        spreads_.emplace(n, at);
        directives();
        if (out && ok()) out->push_back({Item::What::kSpread, n, 0});
        return;
      }
      if (atName("on")) {
        advance();
        (void)name("a type name");
      }
      directives();
      if (!ok()) return;
      const std::size_t set = selectionSet(out != nullptr);
      if (out && ok()) out->push_back({Item::What::kInline, {}, set});
      return;
    }
    std::string n = name("a field");
    if (!ok()) return;
    if (atPunct(":")) {  // an alias: the real name follows
      advance();
      n = name("a field name after the alias");
    }
    if (atPunct("(")) arguments();
    directives();
    if (out && ok()) out->push_back({Item::What::kField, n, 0});
    if (ok() && atPunct("{")) (void)selectionSet(false);
  }

  void arguments() {
    advance();  // (
    if (atPunct(")")) return (void)fail("an empty argument list");
    while (ok() && !atPunct(")")) {
      (void)name("an argument name");
      if (!expectPunct(":")) return;
      value();
    }
    if (ok()) advance();
  }

  void directives() {
    while (ok() && atPunct("@")) {
      advance();
      (void)name("a directive name");
      if (ok() && atPunct("(")) arguments();
    }
  }

  void variableDefinitions() {
    advance();  // (
    if (atPunct(")")) return (void)fail("an empty variable list");
    while (ok() && !atPunct(")")) {
      if (!expectPunct("$")) return;
      (void)name("a variable name");
      if (!expectPunct(":")) return;
      type();
      if (ok() && atPunct("=")) {
        advance();
        value();
      }
      directives();
    }
    if (ok()) advance();
  }

  void type() {
    if (!deeper()) return;
    if (atPunct("[")) {
      advance();
      type();
      if (!expectPunct("]")) return;
    } else {
      (void)name("a type");
    }
    if (ok() && atPunct("!")) advance();
    --depth_;
  }

  void value() {
    if (!ok() || !deeper()) return;
    if (atPunct("$")) {
      advance();
      (void)name("a variable name");
    } else if (at(Kind::kInt) || at(Kind::kFloat) || at(Kind::kString) || at(Kind::kName)) {
      advance();
    } else if (atPunct("[")) {
      advance();
      while (ok() && !atPunct("]")) {
        if (at(Kind::kEnd)) return expected("']'");
        value();
      }
      if (ok()) advance();
    } else if (atPunct("{")) {
      advance();
      std::set<std::string> keys;
      while (ok() && !atPunct("}")) {
        const std::string k = name("a field of an object value");
        if (!ok()) return;
        if (!keys.insert(k).second) return (void)fail("a second \"" + k + "\" in an object value");
        if (!expectPunct(":")) return;
        value();
      }
      if (ok()) advance();
    } else {
      return expected("a value");
    }
    --depth_;
  }

  // The real field names at the root of `set`, fragments followed once.
  void collect(std::size_t set, std::vector<std::string>& out, std::set<std::string>& seen,
               std::set<std::string>& visited) const {
    for (const Item& item : sets_[set]) {
      switch (item.what) {
        case Item::What::kField:
          if (seen.insert(item.name).second) out.push_back(item.name);
          break;
        case Item::What::kInline:
          collect(item.set, out, seen, visited);
          break;
        case Item::What::kSpread:
          if (visited.insert(item.name).second)
            collect(fragments_.at(item.name), out, seen, visited);
          break;
      }
    }
  }

  Lexer lexer_;
  const Limits& limits_;
  Token token_;
  int depth_ = 0;
  std::deque<Set> sets_;
  std::vector<std::pair<Operation, std::size_t>> operations_;
  std::map<std::string, std::size_t> fragments_;
  std::map<std::string, std::string> spreads_;  // name → where first spread
};

}  // namespace

std::string_view toString(OperationType type) {
  switch (type) {
    case OperationType::kQuery:
      return "query";
    case OperationType::kMutation:
      return "mutation";
    case OperationType::kSubscription:
      return "subscription";
  }
  return "query";
}

Result<Document> parse(std::string_view text, const Limits& limits) {
  if (text.size() > limits.maxBytes)
    return Error{ErrorCode::kLimit, "a document of " + std::to_string(text.size()) +
                                        " bytes (at most " + std::to_string(limits.maxBytes) + ")"};
  Parser parser(text, limits);
  return parser.document();
}

Result<const Operation*> select(const Document& document,
                                std::optional<std::string_view> operationName) {
  if (operationName && !operationName->empty()) {
    for (const Operation& op : document.operations) {
      if (op.name == *operationName) return &op;
    }
    return Error{ErrorCode::kInvalidInput,
                 "no operation named \"" + std::string(*operationName) + "\" in the document"};
  }
  if (document.operations.size() != 1)
    return Error{ErrorCode::kInvalidInput,
                 "the document has several operations and the request names none (operationName)"};
  return &document.operations.front();
}

}  // namespace lens::graphql
