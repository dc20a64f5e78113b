#include "libcommon/http/raw_request.h"

#include <algorithm>
#include <utility>

#include "libcommon/util/strings.h"

namespace lens::http {

namespace {

// Content-Length values above this are refused as numbers before they are
// compared with the body limit (keeps parseDecimal far from overflow).
constexpr unsigned long kMaxContentLengthValue = 1'000'000'000'000'000UL;

bool isSpaceOrTab(char c) { return c == ' ' || c == '\t'; }

bool isControl(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

// RFC 9110 section 5.6.2 tchar.
bool isTokenChar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

Error invalidAt(std::size_t line, std::string_view what) {
  return makeError(ErrorCode::kInvalidInput,
                   "line " + std::to_string(line) + ": " + std::string(what));
}

Error invalidAt(std::size_t line, std::size_t column, std::string_view what) {
  return makeError(ErrorCode::kInvalidInput, "line " + std::to_string(line) + ", column " +
                                                 std::to_string(column) + ": " + std::string(what));
}

struct Line {
  std::string_view text;  // without its terminator
  std::size_t next = 0;   // offset of the following line
  bool terminated = false;
};

// The line starting at `pos`, which must end (terminator included) within the
// first `headLimit` bytes of the input.
Result<Line> readHeadLine(std::string_view input, std::size_t pos, std::size_t lineNumber,
                          std::size_t headLimit) {
  const std::size_t window = std::min(input.size(), headLimit);
  const std::size_t lf =
      pos < window ? input.substr(0, window).find('\n', pos) : std::string_view::npos;
  if (lf == std::string_view::npos && window < input.size()) {
    return makeError(ErrorCode::kLimit, "line " + std::to_string(lineNumber) +
                                            ": request head exceeds the limit of " +
                                            std::to_string(headLimit) + " bytes");
  }
  Line line;
  if (lf == std::string_view::npos) {
    line.text = input.substr(pos);
    line.next = input.size();
  } else {
    line.text = input.substr(pos, lf - pos);
    line.next = lf + 1;
    line.terminated = true;
    if (!line.text.empty() && line.text.back() == '\r') line.text.remove_suffix(1);
  }
  if (const std::size_t cr = line.text.find('\r'); cr != std::string_view::npos) {
    return invalidAt(lineNumber, cr + 1, "carriage return not followed by a line feed");
  }
  return line;
}

Status checkFieldValue(std::string_view text, std::size_t offset, std::size_t lineNumber) {
  for (std::size_t i = offset; i < text.size(); ++i) {
    if (isControl(text[i]) && text[i] != '\t') {
      return invalidAt(lineNumber, i + 1, "control character in header value");
    }
  }
  return Ok{};
}

Result<RawRequest> parseRequestLine(std::string_view text) {
  if (text.empty()) {
    return invalidAt(1, "missing request line (the request starts with an empty line)");
  }
  const std::size_t first = text.find(' ');
  const std::size_t last = text.rfind(' ');
  if (first == std::string_view::npos || first == last) {
    return invalidAt(1, "malformed request line, expected METHOD SP TARGET SP HTTP-VERSION");
  }
  RawRequest request;
  const std::string_view method = text.substr(0, first);
  if (method.empty()) return invalidAt(1, 1, "empty method in request line");
  for (std::size_t i = 0; i < method.size(); ++i) {
    if (!isTokenChar(method[i])) return invalidAt(1, i + 1, "invalid character in method");
  }
  const std::string_view version = text.substr(last + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return invalidAt(1, last + 2, "unsupported HTTP version (expected HTTP/1.1 or HTTP/1.0)");
  }
  const std::string_view target = text.substr(first + 1, last - first - 1);
  if (target.empty() || target.front() == ' ' || target.back() == ' ') {
    return invalidAt(1, "malformed request line: empty request target or extra spaces around it");
  }
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (isControl(target[i])) {
      return invalidAt(1, first + 2 + i, "control character in request target");
    }
  }
  request.method = std::string(method);
  request.target = std::string(target);
  request.version = std::string(version);
  return request;
}

// The framing a head announces, checked on its own: every Content-Length a
// decimal number with the same value, not combined with Transfer-Encoding,
// within the body limit.
struct Framing {
  std::optional<std::size_t> contentLength;
  std::size_t contentLengthLine = 0;
};

Result<Framing> checkFraming(const RawRequest& request, const std::vector<std::size_t>& fieldLines,
                             const RawRequestLimits& limits) {
  Framing framing;
  for (std::size_t i = 0; i < request.headers.size(); ++i) {
    if (!util::iequals(request.headers[i].name, "content-length")) continue;
    const auto parsed = util::parseDecimal(request.headers[i].value(), kMaxContentLengthValue);
    if (!parsed) return invalidAt(fieldLines[i], "Content-Length is not a decimal number");
    if (framing.contentLength && *framing.contentLength != *parsed) {
      return invalidAt(fieldLines[i], "Content-Length differs from the one on line " +
                                          std::to_string(framing.contentLengthLine));
    }
    framing.contentLength = static_cast<std::size_t>(*parsed);
    framing.contentLengthLine = fieldLines[i];
  }
  if (!framing.contentLength) return framing;
  if (request.countHeader("transfer-encoding") != 0) {
    return invalidAt(framing.contentLengthLine,
                     "Content-Length together with Transfer-Encoding (ambiguous framing)");
  }
  if (*framing.contentLength > limits.maxBodyBytes) {
    return makeError(ErrorCode::kLimit,
                     "line " + std::to_string(framing.contentLengthLine) + ": Content-Length " +
                         std::to_string(*framing.contentLength) + " exceeds the body limit of " +
                         std::to_string(limits.maxBodyBytes) + " bytes");
  }
  return framing;
}

struct ParsedHead {
  RawRequestHead head;
  bool headerSectionEnded = false;
  Framing framing;
};

Result<ParsedHead> parseHead(std::string_view text, const RawRequestLimits& limits) {
  if (text.empty()) {
    return makeError(ErrorCode::kInvalidInput, "empty request: missing request line");
  }
  auto requestLine = readHeadLine(text, 0, 1, limits.maxHeadBytes);
  if (!requestLine) return requestLine.error();
  auto parsedLine = parseRequestLine(requestLine->text);
  if (!parsedLine) return parsedLine.error();
  ParsedHead parsed;
  RawRequest& request = parsed.head.request;
  request = std::move(parsedLine).value();

  std::vector<std::size_t> fieldLines;  // line number of each field, for later messages
  std::size_t pos = requestLine->next;
  std::size_t lineNumber = 2;
  while (pos < text.size()) {
    auto line = readHeadLine(text, pos, lineNumber, limits.maxHeadBytes);
    if (!line) return line.error();
    pos = line->next;
    const std::string_view lineText = line->text;
    if (lineText.empty()) {
      parsed.headerSectionEnded = true;
      break;
    }
    if (isSpaceOrTab(lineText.front())) {
      if (request.headers.empty()) {
        return invalidAt(lineNumber, 1, "continuation line before the first header field");
      }
      if (auto ok = checkFieldValue(lineText, 0, lineNumber); !ok) return ok.error();
      request.headers.back().rawValue.push_back('\n');
      request.headers.back().rawValue.append(lineText);
    } else {
      const std::size_t colon = lineText.find(':');
      if (colon == std::string_view::npos) return invalidAt(lineNumber, "header line has no ':'");
      if (colon == 0) return invalidAt(lineNumber, 1, "empty header name");
      for (std::size_t i = 0; i < colon; ++i) {
        if (isSpaceOrTab(lineText[i])) {
          return invalidAt(lineNumber, i + 1, "whitespace in header name or before ':'");
        }
        if (!isTokenChar(lineText[i])) {
          return invalidAt(lineNumber, i + 1, "invalid character in header name");
        }
      }
      if (auto ok = checkFieldValue(lineText, colon + 1, lineNumber); !ok) return ok.error();
      if (request.headers.size() >= limits.maxHeaderCount) {
        return makeError(ErrorCode::kLimit, "line " + std::to_string(lineNumber) + ": more than " +
                                                std::to_string(limits.maxHeaderCount) +
                                                " header fields");
      }
      request.addHeader(std::string(lineText.substr(0, colon)),
                        std::string(lineText.substr(colon + 1)));
      fieldLines.push_back(lineNumber);
    }
    ++lineNumber;
  }
  parsed.head.bodyOffset = pos;
  auto framing = checkFraming(request, fieldLines, limits);
  if (!framing) return framing.error();
  parsed.framing = *framing;
  parsed.head.contentLength = framing->contentLength;
  return parsed;
}

}  // namespace

std::string HeaderField::value() const {
  std::string out;
  out.reserve(rawValue.size());
  for (std::size_t i = 0; i < rawValue.size(); ++i) {
    if (rawValue[i] != '\n') {
      out.push_back(rawValue[i]);
      continue;
    }
    // An obsolete fold (OWS line-break RWS) becomes one space.
    while (!out.empty() && isSpaceOrTab(out.back())) out.pop_back();
    out.push_back(' ');
    while (i + 1 < rawValue.size() && isSpaceOrTab(rawValue[i + 1])) ++i;
  }
  const auto begin = std::find_if_not(out.begin(), out.end(), isSpaceOrTab);
  const auto end = std::find_if_not(out.rbegin(), out.rend(), isSpaceOrTab).base();
  return begin < end ? std::string(begin, end) : std::string();
}

std::string_view RawRequest::path() const {
  const std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::optional<std::string_view> RawRequest::query() const {
  const std::string_view t = target;
  const std::size_t mark = t.find('?');
  if (mark == std::string_view::npos) return std::nullopt;
  return t.substr(mark + 1);
}

const HeaderField* RawRequest::findHeader(std::string_view name) const {
  for (const HeaderField& field : headers) {
    if (util::iequals(field.name, name)) return &field;
  }
  return nullptr;
}

std::size_t RawRequest::countHeader(std::string_view name) const {
  return static_cast<std::size_t>(
      std::count_if(headers.begin(), headers.end(),
                    [name](const HeaderField& field) { return util::iequals(field.name, name); }));
}

std::size_t RawRequest::removeHeaders(std::string_view name) {
  return std::erase_if(
      headers, [name](const HeaderField& field) { return util::iequals(field.name, name); });
}

void RawRequest::addHeader(std::string name, std::string value) {
  headers.push_back(HeaderField{std::move(name), std::move(value)});
}

Result<RawRequestHead> parseRawRequestHead(std::string_view text, const RawRequestLimits& limits) {
  auto parsed = parseHead(text, limits);
  if (!parsed) return parsed.error();
  return std::move(parsed->head);
}

Result<RawRequest> parseRawRequest(std::string_view text, const RawRequestLimits& limits) {
  auto parsed = parseHead(text, limits);
  if (!parsed) return parsed.error();
  RawRequest& request = parsed->head.request;
  if (parsed->headerSectionEnded) {
    const std::string_view body = text.substr(parsed->head.bodyOffset);
    if (body.size() > limits.maxBodyBytes) {
      return makeError(ErrorCode::kLimit, "body of " + std::to_string(body.size()) +
                                              " bytes exceeds the limit of " +
                                              std::to_string(limits.maxBodyBytes) + " bytes");
    }
    request.body = std::string(body);
  }
  const Framing& framing = parsed->framing;
  if (framing.contentLength && request.body.size() != *framing.contentLength) {
    return invalidAt(framing.contentLengthLine, "body is " + std::to_string(request.body.size()) +
                                                    " bytes but Content-Length is " +
                                                    std::to_string(*framing.contentLength));
  }
  return std::move(request);
}

std::optional<std::size_t> findHeadEnd(std::string_view text) {
  for (std::size_t lf = text.find('\n'); lf != std::string_view::npos;
       lf = text.find('\n', lf + 1)) {
    const std::size_t next = lf + 1;
    if (next < text.size() && text[next] == '\n') return next + 1;
    if (next + 1 < text.size() && text[next] == '\r' && text[next + 1] == '\n') return next + 2;
  }
  return std::nullopt;
}

LineEnding detectLineEnding(std::string_view text) {
  const std::size_t lf = text.find('\n');
  return lf != std::string_view::npos && lf > 0 && text[lf - 1] == '\r' ? LineEnding::kCrLf
                                                                        : LineEnding::kLf;
}

std::string serializeRawRequest(const RawRequest& request, LineEnding lineEnding) {
  const std::string_view eol = lineEnding == LineEnding::kCrLf ? "\r\n" : "\n";
  std::string out;
  out.reserve(request.target.size() + request.body.size() + 64 * (request.headers.size() + 1));
  out.append(request.method).append(" ").append(request.target).append(" ");
  out.append(request.version).append(eol);
  for (const HeaderField& field : request.headers) {
    out.append(field.name).append(":");
    for (char c : field.rawValue) {
      if (c == '\n') {
        out.append(eol);
      } else {
        out.push_back(c);
      }
    }
    out.append(eol);
  }
  out.append(eol);
  out.append(request.body);
  return out;
}

}  // namespace lens::http
