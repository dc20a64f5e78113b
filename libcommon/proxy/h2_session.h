#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "libcommon/proxy/buffer.h"
#include "libcommon/proxy/h2_translate.h"
#include "libcommon/proxy/stream.h"
#include "libcommon/util/result.h"

struct nghttp2_session;

namespace lens::proxy {

using Clock = std::chrono::steady_clock;

// What an HTTP/2 stream and the connection serving its request share: the
// request as HTTP/1.1 bytes one way, the answer the other way (see
// h2_translate.h). Each side only appends to its direction and takes from
// the other; `wake` tells the session (never synchronously) to look.
struct H2Channel {
  std::string request;         // for the serving connection, not yet read
  bool requestEnded = false;   // the whole request is in `request` (or was read)
  std::string response;        // from the serving connection, not yet decoded
  bool responseEnded = false;  // the serving connection closed its side
  bool writeBlocked = false;   // the serving connection waits for room in `response`
  bool gone = false;           // the HTTP/2 connection or the stream ended: reads fail
  std::function<void()> wake;  // the session has something to do
};

// The serving connection's client: the channel as a Stream.
class H2StreamPipe final : public Stream {
 public:
  static constexpr std::size_t kResponseRoom = 256 * 1024;  // buffered answer bytes at most
  explicit H2StreamPipe(std::shared_ptr<H2Channel> channel) : channel_(std::move(channel)) {}
  ~H2StreamPipe() override;
  H2StreamPipe(const H2StreamPipe&) = delete;
  H2StreamPipe& operator=(const H2StreamPipe&) = delete;

  [[nodiscard]] int fd() const override { return -1; }
  IoResult read(char* data, std::size_t size) override;
  IoResult write(const char* data, std::size_t size) override;
  void shutdownWrite() override;

 private:
  std::shared_ptr<H2Channel> channel_;
};

// Limits of an HTTP/2 client connection.
struct H2Limits {
  std::uint32_t maxStreams = 100;                    // SETTINGS_MAX_CONCURRENT_STREAMS
  std::uint32_t streamWindow = 1024 * 1024;          // SETTINGS_INITIAL_WINDOW_SIZE
  std::uint32_t connectionWindow = 8 * 1024 * 1024;  // the connection's receive window
  std::size_t maxHeaderBytes = 32 * 1024;            // a request's fields (name + value + 32 each)
  std::size_t maxHeaderCount = 100;
  // Streams the client resets (or that end in error) before their answer
  // started: a burst, then this many per second (CVE-2023-44487).
  std::uint32_t resetBurst = 200;
  std::uint32_t resetRate = 50;
};

// What a session needs from the connection it runs on.
class H2Host {
 public:
  H2Host() = default;
  virtual ~H2Host() = default;
  H2Host(const H2Host&) = delete;
  H2Host& operator=(const H2Host&) = delete;
  // A stream's request is ready: start a connection that serves it through
  // the pipeline (its client is an H2StreamPipe over `channel`); its id.
  virtual std::uint64_t serveStream(std::shared_ptr<H2Channel> channel) = 0;
  // The serving connection has bytes to read or room to write.
  virtual void wakeStream(std::uint64_t server) = 0;
  // The stream ended before its answer did: end the serving connection.
  virtual void abandonStream(std::uint64_t server) = 0;
  // A request refused before it could be served (400, 431): audited; the
  // answer to send, as an HTTP/1.1 response.
  virtual std::string refuseStream(int status, std::string_view reason, std::string_view text) = 0;
};

// The server side of an HTTP/2 connection (nghttp2), without a socket: the
// connection feeds it the client's bytes and sends what it produces. Each
// request stream is served by its own connection through the H2Host; the
// answers come back through the channels. Flow control is manual: a
// stream's window opens as the serving connection reads its body, so a
// slow origin slows its client and no more than the windows is buffered.
// Abuse ends the connection with GOAWAY: a header block over the limit
// gets 431 (the connection goes on), CONTINUATION and SETTINGS floods, too
// many outstanding PING/SETTINGS acknowledgements, rapid resets.
class H2ServerSession {
 public:
  H2ServerSession(H2Host& host, const H2Limits& limits, Clock::time_point* now);
  ~H2ServerSession();
  H2ServerSession(const H2ServerSession&) = delete;
  H2ServerSession& operator=(const H2ServerSession&) = delete;

  // Queues the server preface (SETTINGS, the connection window).
  [[nodiscard]] Status start();
  // The client's bytes. An error ends the connection (GOAWAY is queued when
  // the protocol allows one): failure() names why.
  [[nodiscard]] Status receive(std::string_view bytes);
  // Takes the serving connections' news (body bytes read, answers written)
  // and starts the streams received since.
  void pump();
  // Appends frames to send to `out`, up to about `max` bytes.
  void produce(Buffer& out, std::size_t max);
  // The connection has nothing left to do: GOAWAY sent or received and
  // every stream done, or a fatal error.
  [[nodiscard]] bool finished() const;
  [[nodiscard]] std::size_t openStreams() const { return streams_.size(); }
  // SIGTERM: GOAWAY; the streams begun finish.
  void shutdown();
  // The reason of a GOAWAY the proxy sent for abuse (h2-rapid-reset, ...),
  // or of a protocol error; "" none.
  [[nodiscard]] std::string_view failure() const { return failure_; }
  [[nodiscard]] const std::string& failureDetail() const { return failureDetail_; }

  // The ids of the connections serving streams now.
  [[nodiscard]] std::vector<std::uint64_t> servers() const;

 private:
  struct StreamState;
  friend struct H2Callbacks;
  StreamState* find(std::int32_t id);
  void startStream(StreamState& s);
  // The stream is answered by the proxy itself (400, 431, 502): no serving
  // connection reads the rest of it.
  void refuseLocally(StreamState& s, int status, std::string_view reason, std::string_view text);
  void pumpStream(StreamState& s);
  void submitHead(StreamState& s, bool withBody);
  void fail(std::string_view reason, std::string detail, std::uint32_t goaway);
  bool resetCounted();  // false: over the rapid-reset limit

  H2Host& host_;
  H2Limits limits_;
  Clock::time_point* now_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::unique_ptr<StreamState>> streams_;
  std::vector<std::int32_t> ready_;   // requests complete enough to start
  std::vector<std::int32_t> closed_;  // streams nghttp2 closed, to forget
  double resetTokens_ = 0;
  Clock::time_point resetClock_{};
  std::size_t continuations_ = 0;  // CONTINUATION frames of the header block being read
  std::string_view failure_;
  std::string failureDetail_;
  bool goaway_ = false;
};

}  // namespace lens::proxy
