#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/tls/openssl_handles.h"
#include "libcommon/util/result.h"
#include "libcommon/util/unique_fd.h"

namespace lens::proxy {

enum class IoStatus { kOk, kWouldBlock, kEof, kError };

struct IoResult {
  IoStatus status = IoStatus::kOk;
  std::size_t bytes = 0;
};

// One side of a relayed connection: a non-blocking socket, or TLS over
// another stream (which may itself be TLS: the origin's TLS inside an
// https:// upstream proxy's). The innermost stream owns the descriptor.
class Stream {
 public:
  Stream() = default;
  virtual ~Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // The socket underneath, for epoll.
  [[nodiscard]] virtual int fd() const = 0;
  virtual IoResult read(char* data, std::size_t size) = 0;
  virtual IoResult write(const char* data, std::size_t size) = 0;
  // Half-close: the peer sees the end of the stream.
  virtual void shutdownWrite() = 0;
  // True when the bytes are the socket's own, so splice() can move them.
  [[nodiscard]] virtual bool plain() const { return false; }
  // After kWouldBlock: the socket must become writable (TLS may need to
  // write to read), or readable (TLS may need to read to write); otherwise
  // readable for reads, writable for writes.
  [[nodiscard]] virtual bool blockedOnWrite() const { return false; }
  [[nodiscard]] virtual bool blockedOnRead() const { return false; }
  // After kError: what failed, when the stream knows more than the socket
  // (a TLS alert of the peer); "" otherwise.
  [[nodiscard]] virtual std::string failure() const { return {}; }
};

// A connected non-blocking socket.
class SocketStream final : public Stream {
 public:
  explicit SocketStream(util::UniqueFd fd) : fd_(std::move(fd)) {}
  [[nodiscard]] int fd() const override { return fd_.get(); }
  IoResult read(char* data, std::size_t size) override;
  IoResult write(const char* data, std::size_t size) override;
  void shutdownWrite() override;
  [[nodiscard]] bool plain() const override { return true; }

 private:
  util::UniqueFd fd_;
};

// What a TlsClientConfig trusts and presents.
struct TlsClientOptions {
  std::string_view extraCaPem;  // zero or more PEM certificates added to the roots
  bool systemRoots = true;      // false: extraCaPem alone (a forward bridge's caPem)
  // A client identity (a forward bridge's mutual TLS): the certificate
  // chain, leaf first, and its private key; both empty: none.
  std::string_view certPem;
  std::string_view keyPem;
  std::string_view what = "proxyCaCert";  // names the settings in errors
};

// TLS settings for connecting to a server (an https:// upstream proxy, an
// intercepted connection's origin, a forward bridge's origin): the system's
// trust roots plus extra PEM certificates (the policy frame's proxyCaCert,
// --origin-ca), and a client certificate when one is configured.
class TlsClientConfig {
 public:
  // `extraCaPem`: zero or more PEM certificates; text that holds none is an
  // error naming `what`.
  [[nodiscard]] static Result<std::shared_ptr<TlsClientConfig>> create(
      std::string_view extraCaPem, std::string_view what = "proxyCaCert");
  [[nodiscard]] static Result<std::shared_ptr<TlsClientConfig>> create(
      const TlsClientOptions& options);
  TlsClientConfig(const TlsClientConfig&) = delete;
  TlsClientConfig& operator=(const TlsClientConfig&) = delete;
  [[nodiscard]] ssl_ctx_st* context() const { return ctx_.get(); }

 private:
  TlsClientConfig() = default;
  tls::SslCtx ctx_;
};

// TLS over another stream, as the client or as the server. handshake()
// until kOk, then read and write.
class TlsStream final : public Stream {
 public:
  // The server certificate must chain to `config`'s roots and name
  // `serverName` (a host name, checked strictly, or an IP address); `alpn`
  // is offered when not empty.
  [[nodiscard]] static std::unique_ptr<TlsStream> client(std::unique_ptr<Stream> inner,
                                                         std::shared_ptr<TlsClientConfig> config,
                                                         const std::string& serverName,
                                                         const std::vector<std::string>& alpn = {});
  // Answers a client with `context` (its certificate, its ALPN choice;
  // `alpn`, when not empty, the protocols this connection accepts instead
  // of the context's); `initial` are the client's bytes already read, fed
  // to TLS first.
  [[nodiscard]] static std::unique_ptr<TlsStream> server(std::unique_ptr<Stream> inner,
                                                         std::shared_ptr<ssl_ctx_st> context,
                                                         std::string initial,
                                                         const std::vector<std::string>& alpn = {});
  ~TlsStream() override;

  // kOk when done, kWouldBlock to be called again, kError (see error()).
  IoResult handshake();
  [[nodiscard]] const std::string& error() const { return error_; }
  // After the handshake: the protocol ALPN chose ("" none), the name the
  // client asked for (servers; "" none).
  [[nodiscard]] std::string alpn() const;
  [[nodiscard]] std::string serverName() const;
  // The server refused the handshake because the client offered no
  // protocol it speaks (set by the ALPN callback of the context).
  [[nodiscard]] bool alpnRefused() const;

  [[nodiscard]] int fd() const override { return inner_->fd(); }
  IoResult read(char* data, std::size_t size) override;
  IoResult write(const char* data, std::size_t size) override;
  void shutdownWrite() override;
  [[nodiscard]] bool blockedOnWrite() const override;
  [[nodiscard]] bool blockedOnRead() const override;
  [[nodiscard]] std::string failure() const override { return error_; }

 private:
  TlsStream(std::unique_ptr<Stream> inner, tls::Ssl ssl);
  IoResult result(int rc);
  friend struct StreamBio;

  std::unique_ptr<Stream> inner_;
  tls::Ssl ssl_;         // its BIO reads and writes inner_ and the members below
  std::string initial_;  // bytes read before TLS began, fed first
  std::size_t initialUsed_ = 0;
  bool lastWantsRead_ = false;  // the socket readiness the last operation waits for
  bool lastWantsWrite_ = false;
  bool innerEof_ = false;
  bool innerFailed_ = false;
  std::string error_;
};

}  // namespace lens::proxy
