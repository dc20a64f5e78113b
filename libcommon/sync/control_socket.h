#pragma once

#include <Poco/Net/Context.h>
#include <Poco/Net/WebSocket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "libcommon/util/result.h"

namespace lens::sync {

// A control-plane URL: ws://HOST[:PORT][/PATH] or wss://... (scheme case-insensitive).
struct ControlUrl {
  bool secure = false;
  std::string host;  // without brackets
  std::uint16_t port = 0;
  std::string target;                      // path and query, at least "/"
  [[nodiscard]] std::string text() const;  // for logs (never holds a secret)
};

// Errors are kInvalidArgument with the reason. User info ("user@") is
// refused: the token goes in the Authorization header only.
[[nodiscard]] Result<ControlUrl> parseControlUrl(std::string_view url);

// The TLS client context for wss: the peer is verified against the system
// roots plus `caFile` (when not empty), and its certificate must name `host`
// (a DNS name, or an IP address in an IP SAN).
[[nodiscard]] Result<Poco::Net::Context::Ptr> makeTlsContext(const std::string& caFile,
                                                             const std::string& host);

struct ConnectOptions {
  ControlUrl url;
  std::string token;            // sent as "Authorization: Bearer <token>"; never logged
  Poco::Net::Context::Ptr tls;  // for wss
  std::chrono::milliseconds timeout{
      10000};                          // connect, TLS and upgrade, and each frame read or write
  std::uint32_t mark = 0;              // SO_MARK on the TCP socket (EPERM tolerated)
  std::size_t maxMessage = 16u << 20;  // larger messages are discarded as kOversized
};

struct ConnectError {
  bool unauthorized = false;  // the upgrade was answered 401 or 403: do not retry
  int httpStatus = 0;
  std::string message;
};

// One WebSocket connection to the control plane (Poco::Net::WebSocket over
// a socket we open, so it carries the trusted mark from its first packet).
// Not thread-safe: one thread reads and writes.
class ControlSocket {
 public:
  enum class Kind {
    kNone,       // a frame that completes nothing yet (a fragment, a ping answered)
    kText,       // a complete text message
    kBinary,     // a binary message (refused by the caller); size set
    kOversized,  // a text message over maxMessage, discarded; size set
    kPong,
    kClose,  // the peer closed (close frame or end of stream); closeCode set
  };
  struct Message {
    Kind kind = Kind::kNone;
    std::string text;
    std::size_t size = 0;
    int closeCode = 0;
  };

  [[nodiscard]] static std::variant<std::unique_ptr<ControlSocket>, ConnectError> connect(
      const ConnectOptions& options);
  ~ControlSocket();
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

  // The descriptor to poll for reading, and whether bytes are already
  // buffered above it (TLS records, bytes read with the upgrade response).
  [[nodiscard]] int fd() const;
  [[nodiscard]] bool buffered();
  // Reads one frame (blocks up to the timeout once it started). Errors (a
  // reset, a timeout in the middle of a frame, a frame too large to skip,
  // a protocol error) are kIo: the connection is unusable.
  [[nodiscard]] Result<Message> receive();
  [[nodiscard]] Status sendText(std::string_view text);
  [[nodiscard]] Status sendPing();
  // Sends a close frame with `code` and waits up to `wait` for the peer's.
  void close(int code, std::chrono::milliseconds wait);
  [[nodiscard]] bool marked() const { return marked_; }

 private:
  ControlSocket() = default;

  std::unique_ptr<Poco::Net::WebSocket> ws_;
  std::size_t maxMessage_ = 0;
  bool marked_ = false;
  bool closed_ = false;
  // The message being reassembled from fragments.
  enum class Assembling { kNothing, kText, kBinary } assembling_ = Assembling::kNothing;
  std::string message_;
  std::size_t messageSize_ = 0;
  bool discarding_ = false;
};

}  // namespace lens::sync
