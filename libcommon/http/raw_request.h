#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/util/result.h"

namespace lens::http {

// One header field exactly as it appeared in a request.
struct HeaderField {
  std::string name;  // case as received
  // The bytes after the ':' as received, optional whitespace included. The
  // continuation lines of an obsolete line fold (RFC 9112 section 5.2) are
  // kept, each as '\n' followed by the line (leading whitespace included), so
  // that the request serialises back byte for byte.
  std::string rawValue;

  // The field value: each fold replaced by one space, leading and trailing
  // spaces and tabs removed.
  [[nodiscard]] std::string value() const;
};

// Bounds applied by parseRawRequest. Exceeding one is an ErrorCode::kLimit.
struct RawRequestLimits {
  std::size_t maxHeadBytes = 64 * 1024;  // request line and header lines, terminators included
  std::size_t maxHeaderCount = 256;      // header fields (a folded field counts once)
  std::size_t maxBodyBytes = 1024 * 1024;
};

// An HTTP/1.1 request held as text: request line, header fields in order
// (duplicates kept), body bytes. Nothing is decoded or normalised, so a
// request serialises back to what was parsed.
struct RawRequest {
  std::string method;
  std::string target;   // request target as received (origin form: path and query)
  std::string version;  // "HTTP/1.1"
  std::vector<HeaderField> headers;
  std::string body;

  // The target up to the first '?' (the whole target when there is none).
  [[nodiscard]] std::string_view path() const;
  // The target after the first '?'; nullopt when there is no '?'.
  [[nodiscard]] std::optional<std::string_view> query() const;

  // The first field with this name (case-insensitive), or nullptr.
  [[nodiscard]] const HeaderField* findHeader(std::string_view name) const;
  [[nodiscard]] std::size_t countHeader(std::string_view name) const;
  // Removes every field with this name (case-insensitive); returns how many.
  std::size_t removeHeaders(std::string_view name);
  // Appends a field written as "name:value".
  void addHeader(std::string name, std::string value);
};

// Parses a request as text: the request line "METHOD SP TARGET SP HTTP/x.y",
// header lines "Name:value" (optional whitespace around the value; obsolete
// folded continuation lines joined to their field), an empty line, the body.
//
// Lines end with CRLF or a bare LF. The empty line may be missing when there
// is no body (the header section then ends at the end of the input). The
// target is everything between the first and the last space of the request
// line, so it may itself contain spaces; it may not contain control
// characters. Header names must be RFC 9110 tokens (no space before the
// colon); header values may not contain control characters other than tab.
// A Content-Length must be a decimal number, repeated only with the same
// value, and equal to the body's size; it may not be combined with
// Transfer-Encoding. A chunked body is kept as received, not decoded.
//
// Errors carry ErrorCode::kInvalidInput (kLimit for a bound exceeded) and a
// message naming the line and column; they never quote header values or the
// target, which may carry credentials.
[[nodiscard]] Result<RawRequest> parseRawRequest(std::string_view text,
                                                 const RawRequestLimits& limits = {});

// The head of a request whose body has not been read (or is read later, as
// a stream): the request with an empty body, where the body starts in the
// text given, and the body's announced length.
struct RawRequestHead {
  RawRequest request;      // body empty
  std::size_t bodyOffset;  // offset of the first body byte in the text parsed
  // The Content-Length, when the request has one (checked as parseRawRequest
  // does, except against a body).
  std::optional<std::size_t> contentLength;
};

// Parses the request line and header section of `text` as parseRawRequest
// does; whatever follows the empty line is the body and is not looked at.
// When `text` has no empty line, the head ends at the end of `text`.
[[nodiscard]] Result<RawRequestHead> parseRawRequestHead(std::string_view text,
                                                         const RawRequestLimits& limits = {});

// Where the header section of `text` ends: the offset just past the empty
// line (LF or CRLF), or nullopt when `text` does not contain one yet.
[[nodiscard]] std::optional<std::size_t> findHeadEnd(std::string_view text);

enum class LineEnding { kLf, kCrLf };

// The line ending of the request line of `text` (kLf when it has none).
[[nodiscard]] LineEnding detectLineEnding(std::string_view text);

// The request as text: request line, each field as "name:rawValue" (folds
// written as line breaks), an empty line, the body. With kLf this is the form
// of the AWS SigV4 test vectors; kCrLf is the wire form.
[[nodiscard]] std::string serializeRawRequest(const RawRequest& request,
                                              LineEnding lineEnding = LineEnding::kLf);

}  // namespace lens::http
