#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "libcommon/net/ip_address.h"
#include "libcommon/proxy/buffer.h"
#include "libcommon/proxy/origin_dialer.h"
#include "libcommon/proxy/reactor.h"
#include "libcommon/proxy/stream.h"

struct nghttp2_session;

namespace lens::proxy {

// What one request to an HTTP/2 origin and the exchange relaying it share
// (the mirror of H2Channel): the HTTP/1.1 request HttpExchange writes, the
// HTTP/1.1 response it reads.
struct H2OriginChannel {
  std::string request;   // written by the exchange, not yet taken by the session
  std::string response;  // for the exchange, not yet read
  bool responseEnded = false;
  bool failed = false;         // the origin reset the stream or the connection ended
  std::string failure;         // why, for the exchange's error
  bool writeBlocked = false;   // the exchange waits for room in `request`
  bool closed = false;         // the exchange let go of it
  std::function<void()> wake;  // the serving connection has something to do
};

// A request's way to an HTTP/2 origin, as the Stream an HttpExchange writes
// the request to and reads the response from.
class H2OriginStream final : public Stream {
 public:
  static constexpr std::size_t kRequestRoom = 256 * 1024;
  H2OriginStream(std::shared_ptr<H2OriginChannel> channel, std::function<void()> wakeSession)
      : channel_(std::move(channel)), wakeSession_(std::move(wakeSession)) {}
  ~H2OriginStream() override;
  H2OriginStream(const H2OriginStream&) = delete;
  H2OriginStream& operator=(const H2OriginStream&) = delete;

  [[nodiscard]] int fd() const override { return -1; }
  IoResult read(char* data, std::size_t size) override;
  IoResult write(const char* data, std::size_t size) override;
  void shutdownWrite() override {}
  [[nodiscard]] std::string failure() const override { return channel_->failure; }

 private:
  std::shared_ptr<H2OriginChannel> channel_;
  std::function<void()> wakeSession_;
};

// The client side of one HTTP/2 connection to an origin (nghttp2), over the
// origin's TLS stream, on the reactor: the requests of a client's streams
// bound for that origin share it. Each request arrives as the HTTP/1.1
// message the pipeline wrote (head, then the body by its framing: a
// Content-Length, or chunked with trailers) and its response leaves as
// HTTP/1.1 (chunked when it has no Content-Length, trailers in the last
// chunk: gRPC's status). `te: trailers` goes with every request (gRPC needs
// it). Flow control is manual: the origin's stream window opens as the
// exchange reads the response.
class H2OriginSession final : public IoHandler {
 public:
  H2OriginSession(Reactor& reactor, std::string key, std::unique_ptr<Stream> stream,
                  OutgoingEntry outgoing, std::optional<net::IpAddress> address);
  ~H2OriginSession() override;
  H2OriginSession(const H2OriginSession&) = delete;
  H2OriginSession& operator=(const H2OriginSession&) = delete;

  // Sends the preface; false when nghttp2 cannot start.
  [[nodiscard]] bool start();
  // A new request's stream (`wake` tells its exchange there is news), or
  // null when the connection takes no more (GOAWAY, failure, the origin's
  // stream limit).
  [[nodiscard]] std::unique_ptr<Stream> open(std::function<void()> wake);
  [[nodiscard]] bool usable() const;
  [[nodiscard]] const std::string& key() const { return key_; }
  [[nodiscard]] const std::optional<net::IpAddress>& address() const { return address_; }

  void onIo(int fd, std::uint32_t events) override;
  void wake();

 private:
  struct Request;
  friend struct H2OriginCallbacks;
  void pump();
  void pumpRequest(std::int32_t id, Request& r);
  void fail(const std::string& why);
  Request* find(std::int32_t id);

  Reactor& reactor_;
  std::string key_;
  std::unique_ptr<Stream> stream_;
  OutgoingEntry outgoing_;
  std::optional<net::IpAddress> address_;
  Watch watch_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::unique_ptr<Request>> requests_;
  std::vector<std::unique_ptr<Request>> waiting_;  // heads not whole yet
  Buffer out_;
  bool failed_ = false;
  bool goaway_ = false;                                         // the origin sent GOAWAY
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for the streams' wake
};

}  // namespace lens::proxy
