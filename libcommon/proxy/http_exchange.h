#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "libcommon/http/body_filter.h"
#include "libcommon/http/framing.h"
#include "libcommon/proxy/buffer.h"
#include "libcommon/proxy/pipe_pool.h"
#include "libcommon/proxy/stream.h"

namespace lens::proxy {

// One HTTP/1.1 request and its response between a client stream and an
// origin stream, whatever the streams are (the forward door's plain
// sockets, or TLS on both sides inside an intercepted connection): the
// judged request head goes to the origin, the request body follows from
// the client's bytes by its framing, the response head (after any 1xx
// interim responses) is rewritten for the client (the proxy's own
// HTTP-version and connection management) and its body relayed by its
// framing. Bytes after the request body stay with the caller: the next
// request is judged before anything of it is forwarded. A 101 answer
// ends the exchange with kUpgrade: the caller relays the rest as a tunnel.
// With a PipePool, between plain sockets, a body that nothing rewrites
// goes by splice() once its head went out, counted but not seen: a
// request body with a Content-Length (no body filter), a response body
// delimited by its Content-Length or by the close. Never a byte past the
// body's end: what follows is the next message, judged on its own.
class HttpExchange {
 public:
  HttpExchange() = default;
  explicit HttpExchange(PipePool& pipes) : pipes_(&pipes) {}
  ~HttpExchange();
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

  struct Request {
    std::string head;  // as the origin gets it (already rewritten)
    std::string method;
    http::Framing body = http::Framing::kNone;
    std::uint64_t contentLength = 0;
    bool keepAlive = false;  // the client may send another request afterwards
    bool http10 = false;     // the client spoke HTTP/1.0
    bool upgrade = false;    // the head asks for an upgrade (WebSocket): a 101 may answer it
    // The upgraded socket's frames are policed: a 101 must not negotiate an
    // extension (its frames could not be read).
    bool plainWebSocket = false;
    // Rewrites the body on its way (its framing stays): null for none.
    std::unique_ptr<http::BodyFilter> bodyFilter;
  };
  // `serverPending`: bytes the server sent before the request (what an
  // upstream proxy sent after its 200), read as the start of the response.
  void start(Request request, std::string serverPending = {});

  enum class Outcome : std::uint8_t {
    kGoing,    // waiting for readiness (interest())
    kYielded,  // stopped to let other connections go first: call again soon
    kDone,     // the response went to the client: the next request may follow
    kUpgrade,  // 101: tunnel the rest (leftovers in upgradeLeftover())
    kRefuse,   // nothing went to the client yet: answer failure() instead
    kClose,    // close the connection (closeReason())
  };
  // Moves what can be moved now; `in` holds the client's unread bytes.
  Outcome pump(Stream& client, Stream& server, std::string& in, bool& progress);
  void interest(const Stream& server, std::uint32_t& clientEvents,
                std::uint32_t& serverEvents) const;

  struct Failure {
    int status = 502;
    std::string_view reason;
    std::string text;
    std::string detail;
  };
  [[nodiscard]] const Failure& failure() const { return failure_; }
  [[nodiscard]] std::string_view closeReason() const { return closeReason_; }

  // After kDone: whether the client connection and the origin connection
  // may carry another request.
  [[nodiscard]] bool keepClient() const { return !closeClientAfter_; }
  // (An HTTP/1.0 request goes without Connection: keep-alive, so its
  // server closes after the response whatever its head says.)
  [[nodiscard]] bool keepServer() const { return !serverClose_ && !serverEof_ && !request_.http10; }
  // After kUpgrade: the bytes not yet written each way: to the client what
  // is left of the 101 head (`toClient`), then what the origin sent after
  // it (`afterUpgrade`, the upgraded protocol's first bytes).
  void takeUpgradeBytes(std::string& toServer, std::string& toClient, std::string& afterUpgrade);
  // The response head started toward the client.
  [[nodiscard]] bool answered() const { return sentThisRequest_; }
  [[nodiscard]] bool responseStarted() const { return responseHead_; }
  // The whole final response was read from the server.
  [[nodiscard]] bool responseComplete() const { return responseHead_ && responseDone_; }
  [[nodiscard]] int status() const { return status_; }
  [[nodiscard]] std::uint64_t bytesUp() const { return bytesUp_; }
  [[nodiscard]] std::uint64_t bytesDown() const { return bytesDown_; }
  // Bytes still waiting to go to the client.
  [[nodiscard]] bool clientFlushed() const {
    return toClient_.empty() && responsePipe_.pipe.fill == 0;
  }

 private:
  [[nodiscard]] bool parseResponse(Stream& client, std::string_view& data, Outcome& outcome);
  void toClient(Stream& client, std::string& head, std::string_view body = {});
  void writeThrough(Stream& client, std::string_view bytes);
  void fail(int status, std::string_view reason, std::string text, std::string detail = {});
  // A body on its way by splice() (one per direction).
  struct BodyPipe {
    Pipe pipe;
    bool writeBlocked = false;  // the destination took no more in this pump()
  };
  // The request body, the response body go by splice() now (see the class comment).
  [[nodiscard]] bool splicingRequest(const Stream& client, const Stream& server,
                                     const std::string& in) const;
  [[nodiscard]] bool splicingResponse(const Stream& client, const Stream& server) const;
  enum class Spliced : std::uint8_t { kGoing, kSourceEnded, kDestinationFailed };
  // Moves body bytes src -> pipe -> dst, taking no more from src than
  // `body` has left; `counter` counts what left src.
  [[nodiscard]] Spliced spliceBody(BodyPipe& p, Stream& src, Stream& dst, http::BodyTracker& body,
                                   std::uint64_t& counter, bool& moved);
  void releasePipe(BodyPipe& p);

  PipePool* pipes_ = nullptr;  // null: no splice()
  bool noPipe_ = false;        // the pool had none (no descriptors left): read and write
  BodyPipe requestPipe_;
  BodyPipe responsePipe_;
  Request request_;
  http::BodyTracker requestBody_;
  http::BodyTracker responseBody_;
  Buffer toServer_;
  Buffer toClient_;
  std::string fromServer_;
  std::string filtered_;  // the body filter's output of one piece
  std::string head_;      // a response head not yet written: its body's first bytes join it
  bool requestDone_ = false;
  bool responseHead_ = false;
  bool responseDone_ = false;
  bool serverClose_ = false;
  bool closeClientAfter_ = false;
  bool serverEof_ = false;
  std::string serverFailure_;  // the server stream's error (a TLS alert), when it failed
  bool clientFailed_ = false;  // a write to the client failed
  bool sentThisRequest_ = false;
  int status_ = 0;
  std::uint64_t bytesUp_ = 0;
  std::uint64_t bytesDown_ = 0;
  Failure failure_;
  std::string_view closeReason_;
};

}  // namespace lens::proxy
