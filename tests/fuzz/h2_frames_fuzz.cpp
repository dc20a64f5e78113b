// The server side of an HTTP/2 connection (libcommon/proxy/h2_session.h),
// fed a client's bytes: the connection preface followed by the input as
// frames, in pieces the first byte sizes. Each stream's request is served
// by a fake connection that reads what the session wrote for it and answers
// a fixed HTTP/1.1 response (chunked, with a trailer). Invariants: no
// crash; every request a fake connection reads is an HTTP/1.1 head it can
// parse (the translation never writes what the pipeline would refuse), and
// no more than the stream limit are served at once; what the session
// produces stays within the bytes it may buffer; the session ends or goes
// on, never loops.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "libcommon/http/raw_request.h"
#include "libcommon/proxy/h2_session.h"
#include "libcommon/proxy/request_head.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "h2_frames_fuzz: invariant broken: %s\n", what);
  std::abort();
}

using lens::proxy::H2Channel;

class FakeHost final : public lens::proxy::H2Host {
 public:
  std::uint64_t serveStream(std::shared_ptr<H2Channel> channel) override {
    const std::uint64_t id = next_++;
    served_[id] = std::move(channel);
    if (served_.size() > 100) fail("more streams served at once than the limit");
    serve(id);
    return id;
  }
  void wakeStream(std::uint64_t server) override { serve(server); }
  void abandonStream(std::uint64_t server) override {
    auto it = served_.find(server);
    if (it != served_.end()) {
      it->second->responseEnded = true;
      served_.erase(it);
    }
  }
  std::string refuseStream(int status, std::string_view, std::string_view) override {
    return "HTTP/1.1 " + std::to_string(status) + " No\r\nContent-Length: 2\r\n\r\nno";
  }

 private:
  void serve(std::uint64_t id) {
    auto it = served_.find(id);
    if (it == served_.end()) return;
    H2Channel& c = *it->second;
    const auto end = lens::http::findHeadEnd(c.request);
    if (!end) {
      if (c.request.size() > 64 * 1024) fail("a request head the session wrote has no end");
      return;
    }
    auto parsed =
        lens::proxy::parseTransparentRequest(std::string_view(c.request).substr(0, *end), 443);
    if (!parsed) fail("the session wrote a request head the pipeline refuses");
    c.request.clear();
    c.response =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx-t: 1\r\n\r\n";
    c.responseEnded = true;
    served_.erase(it);
  }

  std::map<std::uint64_t, std::shared_ptr<H2Channel>> served_;
  std::uint64_t next_ = 1;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  FakeHost host;
  auto now = lens::proxy::Clock::now();
  lens::proxy::H2Limits limits;
  lens::proxy::H2ServerSession session(host, limits, &now);
  if (!session.start()) fail("the session did not start");
  std::string client = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  client.append(input);
  lens::proxy::Buffer out;
  for (std::size_t at = 0; at < client.size(); at += piece) {
    if (!session.receive(std::string_view(client).substr(at, piece))) break;
    session.pump();
    session.produce(out, 256 * 1024);
    if (out.size() > 1024 * 1024) fail("the session buffered more than it may");
    out.consume(out.size());
  }
  session.pump();
  session.produce(out, 256 * 1024);
  return 0;
}
