// The translation between an HTTP/2 stream and the HTTP/1.1 message the
// pipeline reads (libcommon/proxy/h2_translate.h), both ways. The first byte
// picks the direction. Requests: the input is split into fields at NUL
// bytes ("name=value"); a head it writes must parse as the pipeline parses
// it, with the same method (GET for an extended CONNECT, which must read as
// a WebSocket upgrade). Responses: the input is an origin's HTTP/1.1
// response, decoded whole and byte by byte (as the answer to a request, or
// to a WebSocket's handshake when the first byte's bit 2 is set); both ways
// find the same events and bytes, and a body never has more bytes than the
// input.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/http/raw_request.h"
#include "libcommon/proxy/h2_translate.h"
#include "libcommon/proxy/request_head.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "h2_translate_fuzz: invariant broken: %s\n", what);
  std::abort();
}

using lens::proxy::H1ResponseReader;

std::string decodeAll(std::string input, std::size_t piece, bool webSocket, bool& ok) {
  H1ResponseReader reader("GET", webSocket);
  std::string in;
  std::string log;
  ok = true;
  std::size_t at = 0;
  for (;;) {
    const bool eof = at >= input.size();
    if (!eof) {
      in.append(input, at, piece);
      at += piece;
    }
    for (;;) {
      auto event = reader.decode(in, eof);
      if (!event) {
        ok = false;
        return log;
      }
      if (*event == H1ResponseReader::Event::kNeedMore) break;
      if (*event == H1ResponseReader::Event::kData) {
        log.append(reader.data());
        continue;
      }
      log.push_back(static_cast<char>('A' + static_cast<int>(*event)));
      if (*event == H1ResponseReader::Event::kHead || *event == H1ResponseReader::Event::kInterim)
        log.append(std::to_string(reader.status()));
      for (const auto& f : reader.fields()) log.append(f.name).append(":").append(f.value);
      if (*event == H1ResponseReader::Event::kEnd || *event == H1ResponseReader::Event::kTrailers)
        return log;
    }
    if (eof) return log;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    std::vector<lens::proxy::H2Field> fields;
    std::size_t at = 0;
    while (at <= input.size()) {
      const std::size_t end = std::min(input.find('\0', at), input.size());
      const std::string_view item = input.substr(at, end - at);
      const std::size_t eq = item.find('=');
      if (eq != std::string_view::npos && eq > 0) {
        // As nghttp2 lets them through: no CR, LF or NUL anywhere, lower-case names.
        const std::string name(item.substr(0, eq));
        const std::string value(item.substr(eq + 1));
        bool clean = value.find_first_of("\r\n") == std::string::npos &&
                     name.find_first_of("\r\n :;,\t\"") == std::string::npos;
        for (char c : name) clean = clean && !(c >= 'A' && c <= 'Z') && c > 0x20 && c < 0x7f;
        if (name[0] == ':') clean = true;
        if (clean && value.find_first_of("\r\n") == std::string::npos)
          fields.push_back({name, value});
      }
      at = end + 1;
    }
    auto request = lens::proxy::h1RequestFromH2(fields, (data[0] & 2) != 0);
    if (request) {
      auto parsed = lens::proxy::parseTransparentRequest(request->head, 443);
      if (parsed && parsed->head.method != request->method) fail("the method changed");
      if (parsed && request->webSocket && !lens::proxy::upgradesToWebSocket(*parsed))
        fail("an extended CONNECT that is no WebSocket upgrade");
    }
    return 0;
  }
  bool wholeOk = false;
  bool pieceOk = false;
  const bool webSocket = (data[0] & 4) != 0;
  const std::string whole = decodeAll(std::string(input), input.size() + 1, webSocket, wholeOk);
  const std::string bytewise = decodeAll(std::string(input), 1, webSocket, pieceOk);
  if (wholeOk && pieceOk && whole != bytewise) fail("whole and byte by byte disagree");
  return 0;
}
