// libFuzzer target: what a proxy does with the head of an origin's response:
// find its end, parse it (parseResponseHead, for a GET and for a HEAD) and
// rewrite it for the client (forwardResponseHead) in the four cases of
// keep-alive or close, HTTP/1.0 or HTTP/1.1 client; the bytes are also read
// as a header section by stripHopByHop.
//
// Besides crashes and sanitizer reports, the target aborts when an invariant
// breaks:
//   - the forwarded head starts with "HTTP/1.1 <status> ", ends with its only
//     empty line, and every line ends with CRLF (no bare CR or LF);
//   - it parses again to the same status, framing and length: the client
//     reads the body the way the proxy relays it;
//   - it has no hop-by-hop field but at most one Connection field of the
//     proxy's, which says close exactly when the proxy closes;
//   - forwarding it again changes nothing.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "libcommon/http/forwarding.h"
#include "libcommon/http/framing.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/util/strings.h"

namespace {

namespace http = lens::http;

constexpr std::size_t kMaxHead = 64 * 1024;  // the proxy's bound on a response head

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

bool crlfOnly(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n')) return false;
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) return false;
  }
  return true;
}

bool hasBareCr(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n')) return true;
  }
  return false;
}

// The header fields of a forwarded head: no hop-by-hop field, and the
// proxy's Connection field exactly when it has something to say.
void checkFields(std::string_view head, bool finalResponse, bool saysClose, bool saysKeepAlive) {
  int connections = 0;
  std::size_t pos = head.find("\r\n") + 2;
  while (pos < head.size()) {
    const std::size_t eol = head.find("\r\n", pos);
    const std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) break;
    const std::string_view name = line.substr(0, line.find(':'));
    for (std::string_view hop :
         {"keep-alive", "proxy-connection", "te", "trailer", "upgrade", "close"}) {
      check(!lens::util::iequals(name, hop), "no hop-by-hop field is forwarded");
    }
    if (lens::util::iequals(name, "connection")) {
      ++connections;
      check(finalResponse, "an interim response has no Connection field");
      check((saysClose && line == "Connection: close") ||
                (saysKeepAlive && line == "Connection: keep-alive"),
            "the only Connection field is the proxy's");
    }
  }
  check(connections == ((saysClose || saysKeepAlive) ? 1 : 0),
        "one Connection field when the proxy has something to say");
}

void forwardOne(std::string_view raw, const http::ResponseHead& head, std::string_view method,
                bool keepAlive, bool http10Client) {
  const std::string out = http::forwardResponseHead(raw, head, keepAlive, http10Client);
  const std::string start = "HTTP/1.1 " + std::to_string(head.status) + " ";
  check(out.starts_with(start), "the status line carries the proxy's version and the status");
  check(out.ends_with("\r\n\r\n"), "the head ends with an empty line");
  check(http::findHeadEnd(out) == out.size(), "the head has one empty line, at its end");
  check(crlfOnly(out), "every line ends with CRLF");

  const bool finalResponse = head.status >= 200;
  const bool saysClose =
      finalResponse && (!keepAlive || head.framing == http::Framing::kUntilClose);
  const bool saysKeepAlive = finalResponse && !saysClose && http10Client;
  checkFields(out, finalResponse, saysClose, saysKeepAlive);

  auto again = http::parseResponseHead(out, method);
  check(again.ok(), "the forwarded head parses");
  check(again->status == head.status, "same status");
  check(again->framing == head.framing, "same framing");
  check(again->contentLength == head.contentLength, "same length");
  check(again->version == "HTTP/1.1", "the proxy's version");
  check(again->close == (saysClose || head.framing == http::Framing::kUntilClose),
        "the client closes exactly when the proxy does");
  check(http::forwardResponseHead(out, *again, keepAlive, http10Client) == out,
        "forwarding a forwarded head changes nothing");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (bool keepUpgrade : {false, true}) {
    const std::string fields = http::stripHopByHop(input, keepUpgrade);
    check(fields.empty() || fields.ends_with("\r\n"), "stripped fields end with CRLF");
    check(fields.find("\r\n\r\n") == std::string::npos && !fields.starts_with("\r\n"),
          "stripped fields have no empty line");
    // Lines are kept byte for byte: a bare CR (which the parsers refuse) would stay.
    if (!hasBareCr(input)) check(crlfOnly(fields), "stripped fields have CRLF line ends only");
  }
  const std::string_view raw = input.substr(0, http::findHeadEnd(input).value_or(input.size()));
  if (raw.size() > kMaxHead) return 0;
  for (std::string_view method : {"GET", "HEAD"}) {
    auto head = http::parseResponseHead(raw, method);
    if (!head) continue;
    for (bool keepAlive : {false, true}) {
      for (bool http10Client : {false, true})
        forwardOne(raw, *head, method, keepAlive, http10Client);
    }
  }
  return 0;
}
