// The client side of an HTTP/2 connection to an origin
// (libcommon/proxy/h2_origin.h), fed an origin's bytes (the input, in pieces
// the first byte sizes) after one GET went out. Invariants: no crash; what
// it writes for the exchange is an HTTP/1.1 response the proxy's own parser
// accepts (a head, then a body by its framing), so that nothing an origin
// sends over HTTP/2 can make a second response or a malformed one.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "libcommon/http/framing.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/proxy/h2_origin.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "h2_origin_fuzz: invariant broken: %s\n", what);
  std::abort();
}

// The origin: reads come from the input, writes go nowhere.
class Origin final : public lens::proxy::Stream {
 public:
  Origin(std::string_view input, std::size_t piece) : input_(input), piece_(piece) {}
  [[nodiscard]] int fd() const override { return -1; }
  lens::proxy::IoResult read(char* data, std::size_t size) override {
    // (Nothing before the request went out: an origin answers requests.)
    if (input_.empty() || !armed) return {lens::proxy::IoStatus::kWouldBlock, 0};
    const std::size_t n = std::min({size, piece_, input_.size()});
    input_.copy(data, n);
    input_.remove_prefix(n);
    return {lens::proxy::IoStatus::kOk, n};
  }
  lens::proxy::IoResult write(const char*, std::size_t size) override {
    return {lens::proxy::IoStatus::kOk, size};
  }
  void shutdownWrite() override {}
  bool armed = false;

 private:
  std::string_view input_;
  std::size_t piece_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 128;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  lens::proxy::Reactor reactor;
  auto origin = std::make_unique<Origin>(input, piece);
  Origin* raw = origin.get();
  auto session = std::make_shared<lens::proxy::H2OriginSession>(
      reactor, "d:tls:origin.test:443", std::move(origin), lens::proxy::OutgoingEntry{},
      std::nullopt);
  if (!session->start()) fail("the session did not start");
  auto stream = session->open([] {});
  if (!stream) fail("no stream on a new session");
  const std::string request = "GET /x HTTP/1.1\r\nHost: origin.test\r\n\r\n";
  if (stream->write(request.data(), request.size()).bytes != request.size()) fail("write");
  session->onIo(-1, 0);  // the request goes out
  raw->armed = true;
  std::string response;
  for (std::size_t round = 0; round < 4 + input.size() / piece; ++round) {
    session->onIo(-1, 0);
    char buf[4096];
    for (;;) {
      const auto r = stream->read(buf, sizeof buf);
      if (r.status != lens::proxy::IoStatus::kOk) break;
      response.append(buf, r.bytes);
    }
  }
  const auto end = lens::http::findHeadEnd(response);
  if (!end) return 0;
  auto head = lens::http::parseResponseHead(std::string_view(response).substr(0, *end), "GET");
  if (!head) fail("the session wrote a response head the proxy refuses");
  if (head->status < 200) return 0;  // interim answers: the final one may follow
  std::string_view body = std::string_view(response).substr(*end);
  lens::http::BodyTracker tracker(head->framing, head->contentLength);
  auto used = tracker.feed(body);
  if (!used) fail("the session wrote a body its framing refuses");
  if (head->framing != lens::http::Framing::kUntilClose && *used < body.size())
    fail("bytes after the response's end");
  return 0;
}
