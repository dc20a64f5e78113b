// The bounded body reader (libcommon/http/body_reader.h) and what reads its
// output (decision::classifyBody). The first byte picks the framing (even:
// Content-Length, odd: chunked), the feed size and the limit; the rest is
// the body as a client sends it. Invariants: no crash; the body read never
// passes the limit; feeding byte by byte and all at once agree (the same
// body, the same end, the same refusal); a Content-Length body is the
// bytes as sent; a refusal has a reason.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "libcommon/decision/body.h"
#include "libcommon/http/body_reader.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "body_reader_fuzz: invariant broken: %s\n", what);
  std::abort();
}

struct Read {
  bool ok = true;
  std::string body;
  std::size_t consumed = 0;
  bool done = false;
};

Read readIn(lens::http::Framing framing, std::string_view wire, std::size_t limit,
            std::size_t step) {
  Read out;
  lens::http::RawRequest head;
  head.method = "POST";
  head.target = "/graphql";
  head.version = "HTTP/1.1";
  auto reader = lens::http::BodyReader::start(head, framing, wire.size(), limit);
  if (!reader) {
    if (reader.error().message.empty()) fail("a refusal without a reason");
    out.ok = false;
    return out;
  }
  while (!reader->done() && out.consumed < wire.size()) {
    const std::string_view piece = wire.substr(out.consumed, step);
    auto used = reader->feed(piece);
    if (!used) {
      if (used.error().message.empty()) fail("a refusal without a reason");
      out.ok = false;
      return out;
    }
    if (*used > piece.size()) fail("used more than it was given");
    out.consumed += *used;
    if (*used < piece.size() && !reader->done()) fail("stopped early before the end");
    if (reader->body().size() > limit) fail("the body passed the limit");
  }
  out.done = reader->done();
  out.body = reader->body();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const auto framing =
      (control & 1) != 0 ? lens::http::Framing::kChunked : lens::http::Framing::kLength;
  const std::size_t limit = std::size_t{64} << ((control >> 1) & 7);  // 64 B .. 8 KiB
  const std::string_view wire(reinterpret_cast<const char*>(data) + 1, size - 1);

  const Read whole = readIn(framing, wire, limit, wire.size() + 1);
  const Read bytewise = readIn(framing, wire, limit, 1);
  if (whole.ok != bytewise.ok) fail("byte by byte and all at once disagree on a refusal");
  if (!whole.ok) return 0;
  if (whole.body != bytewise.body || whole.consumed != bytewise.consumed ||
      whole.done != bytewise.done)
    fail("byte by byte and all at once read different bodies");
  if (framing == lens::http::Framing::kLength && whole.body != wire)
    fail("a Content-Length body is not the bytes sent");
  if (!whole.done) return 0;
  for (auto kind : {lens::decision::BodyKind::kGraphql, lens::decision::BodyKind::kMcp}) {
    const lens::decision::BodyFacts facts =
        lens::decision::classifyBody(kind, "POST", "/graphql", whole.body, {});
    if (facts.problem && facts.problem->message.empty()) fail("a body problem without a reason");
  }
  return 0;
}
