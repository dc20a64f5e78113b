#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "libcommon/proxy/buffer.h"
#include "libcommon/proxy/pipe_pool.h"
#include "libcommon/proxy/stream.h"

namespace lens::proxy {

// Sees a relay's bytes as they are read (a policed upgrade): what the
// client sends reaches the server only as the policer lets it through.
class RelayPolicer {
 public:
  virtual ~RelayPolicer() = default;
  // Bytes read from the client: appends what may go on to `forward`.
  // false: refused; the relay stops (Outcome::kRefused).
  virtual bool fromClient(std::string_view bytes, std::string& forward) = 0;
  // Bytes read from the server, before they go to the client.
  virtual void fromServer(std::string_view bytes) = 0;
};

// Relays bytes both ways between two streams until both directions ended:
// splice() through a kernel pipe when both are plain sockets, read and
// write through a bounded buffer otherwise (a TLS side). Each direction
// ends with a half-close of its destination once the source ended and
// everything went through. Driven by its owner's event loop: the owner
// reports readiness (onClient/onServer), calls pump() and registers the
// events interest() asks for. With a RelayPolicer nothing goes by splice():
// every byte is read, shown to it, and written.
class TunnelRelay {
 public:
  explicit TunnelRelay(PipePool& pipes) : pipes_(pipes) {}
  ~TunnelRelay();
  TunnelRelay(const TunnelRelay&) = delete;
  TunnelRelay& operator=(const TunnelRelay&) = delete;

  // Starts over: `toServer` and `toClient` were read before the relay began
  // and go first. `clientBuffered`, `serverBuffered`: that stream may hold
  // bytes epoll cannot see (TLS), so it is read before waiting. `policer`
  // (it outlives the relay's run; null for none) sees `toServer` at once
  // (a refusal shows in the first pump()), not `toClient`.
  void start(std::string_view toServer, std::string_view toClient, bool clientBuffered,
             bool serverBuffered, RelayPolicer* policer = nullptr);
  // Drops what is buffered and gives the pipes back.
  void reset();

  void onClient(std::uint32_t events);
  void onServer(std::uint32_t events);

  // kRefused: the policer refused what the client sent; nothing moves any more.
  enum class Outcome : std::uint8_t { kGoing, kDone, kReset, kRefused };
  // Moves what can be moved now. `progress` is set when a byte moved.
  Outcome pump(Stream& client, Stream& server, bool& progress);
  // The epoll events each side needs next.
  void interest(const Stream& server, std::uint32_t& clientEvents,
                std::uint32_t& serverEvents) const;

  // After kRefused: the bytes read from the server not yet written to the
  // client (the buffer empties).
  [[nodiscard]] std::string takeUnsentToClient();

  [[nodiscard]] std::uint64_t bytesUp() const { return bytesUp_; }
  [[nodiscard]] std::uint64_t bytesDown() const { return bytesDown_; }

 private:
  // One direction.
  struct Flow {
    Buffer buffer;  // bytes to write before anything else (and the non-splice path)
    Pipe pipe;
    bool srcEof = false;
    bool dstShut = false;
    bool readable = false;      // the source reported readable since the last EAGAIN
    bool writeBlocked = false;  // the destination answered EAGAIN
  };
  [[nodiscard]] bool pumpFlow(Flow& flow, const Flow& other, Stream& src, Stream& dst,
                              std::uint64_t& counter, bool& progress);
  void releasePipes();

  PipePool& pipes_;
  RelayPolicer* policer_ = nullptr;
  bool refused_ = false;
  Flow up_;    // client -> server
  Flow down_;  // server -> client
  std::uint64_t bytesUp_ = 0;
  std::uint64_t bytesDown_ = 0;
};

}  // namespace lens::proxy
