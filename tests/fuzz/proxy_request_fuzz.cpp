// libFuzzer target: what lens-proxy does with the bytes a client sends before
// anything is relayed: find the end of the request head, parse and check it
// (parseProxyRequest), rewrite a forward request to origin form, and find
// the end of its body (Content-Length or chunked). The same bytes are also
// read as a response head, as an origin's answer would be.
//
// Besides crashes and sanitizer reports, the target aborts when an invariant
// breaks:
//   - an accepted forward request has an origin-form target starting with
//     '/', and its rewritten head parses again with Host first and set to
//     the URL's host, and no Proxy-* field;
//   - an accepted CONNECT has a port;
//   - the body's end is the same whether the bytes arrive at once or one by
//     one, and never beyond the input.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include "libcommon/http/framing.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/proxy/request_head.h"
#include "libcommon/util/strings.h"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

// How many bytes of `body` the framing takes, fed in pieces of `step`; -1 on
// an error, -2 when the body is not complete.
long bodyEnd(lens::http::Framing framing, std::uint64_t length, std::string_view body,
             std::size_t step) {
  lens::http::BodyTracker tracker(framing, length);
  std::size_t used = 0;
  for (std::size_t at = 0; at < body.size() && !tracker.done(); at += step) {
    const std::string_view piece = body.substr(at, step);
    auto n = tracker.feed(piece);
    if (!n) return -1;
    check(*n <= piece.size(), "the body takes no more than it is given");
    used += *n;
    if (*n < piece.size()) break;
  }
  if (!tracker.done()) return -2;
  return static_cast<long>(used);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)lens::http::parseResponseHead(
      input.substr(0, lens::http::findHeadEnd(input).value_or(input.size())), "GET");
  const auto end = lens::http::findHeadEnd(input);
  if (!end || *end > 32 * 1024) return 0;
  auto parsed = lens::proxy::parseProxyRequest(input.substr(0, *end));
  if (!parsed) return 0;
  const lens::proxy::ProxyRequest& request = *parsed;
  if (request.kind == lens::proxy::RequestKind::kConnect) {
    check(request.port != 0, "CONNECT has a port");
  } else {
    check(!request.originTarget.empty() && request.originTarget.front() == '/',
          "origin form starts with /");
    const std::string head = lens::proxy::originFormHead(request);
    lens::http::RawRequestLimits unbounded;  // the body is streamed, its length is not a limit here
    unbounded.maxBodyBytes = std::numeric_limits<std::size_t>::max();
    auto again = lens::http::parseRawRequestHead(head, unbounded);
    check(again.ok(), "the rewritten head parses");
    check(!again->request.headers.empty() &&
              lens::util::iequals(again->request.headers.front().name, "Host"),
          "Host comes first");
    const std::string host = again->request.headers.front().value();
    check(host.find(request.host) != std::string::npos, "Host names the URL's host");
    for (const auto& field : again->request.headers) {
      check(!lens::util::startsWith(lens::util::toLower(field.name), "proxy-"), "no Proxy-* field");
    }
  }
  const std::string_view body = input.substr(*end);
  const long whole = bodyEnd(request.body, request.contentLength, body, body.size() + 1);
  const long byByte = bodyEnd(request.body, request.contentLength, body, 1);
  check(whole == byByte, "the body ends at the same byte however it arrives");
  check(whole < 0 || static_cast<std::size_t>(whole) <= body.size(),
        "the body ends inside the input");
  return 0;
}
