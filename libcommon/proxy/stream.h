#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "libcommon/util/result.h"

struct ssl_st;
struct ssl_ctx_st;

namespace lens::proxy {

enum class IoStatus { kOk, kWouldBlock, kEof, kError };

struct IoResult {
  IoStatus status = IoStatus::kOk;
  std::size_t bytes = 0;
};

// One side of a relayed connection: a non-blocking socket, either plain or
// wrapped in TLS. Owns its descriptor.
class Stream {
 public:
  explicit Stream(int fd) : fd_(fd) {}
  virtual ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  [[nodiscard]] int fd() const { return fd_; }
  virtual IoResult read(char* data, std::size_t size);
  virtual IoResult write(const char* data, std::size_t size);
  // Half-close: the peer sees the end of the stream.
  virtual void shutdownWrite();
  // True when the bytes are the socket's own, so splice() can move them.
  [[nodiscard]] virtual bool plain() const { return true; }
  // After kWouldBlock: the socket must become writable (TLS may need to
  // write to read); otherwise readable for reads, writable for writes.
  [[nodiscard]] virtual bool blockedOnWrite() const { return false; }
  [[nodiscard]] virtual bool blockedOnRead() const { return false; }

 protected:
  int fd_;
};

// TLS settings for connecting to an https:// upstream proxy: the system's
// trust roots plus extra PEM certificates (the policy frame's proxyCaCert).
class TlsClientConfig {
 public:
  [[nodiscard]] static Result<std::shared_ptr<TlsClientConfig>> create(std::string_view extraCaPem);
  ~TlsClientConfig();
  TlsClientConfig(const TlsClientConfig&) = delete;
  TlsClientConfig& operator=(const TlsClientConfig&) = delete;
  [[nodiscard]] ssl_ctx_st* context() const { return ctx_; }

 private:
  TlsClientConfig() = default;
  ssl_ctx_st* ctx_ = nullptr;
};

// A TLS client over a connected socket: handshake() until kOk, then read and
// write. The server certificate must chain to the configured roots and name
// `serverName` (a host name or IP address).
class TlsStream : public Stream {
 public:
  TlsStream(int fd, std::shared_ptr<TlsClientConfig> config, const std::string& serverName);
  ~TlsStream() override;

  // kOk when done, kWouldBlock to be called again, kError (see error()).
  IoResult handshake();
  [[nodiscard]] const std::string& error() const { return error_; }

  IoResult read(char* data, std::size_t size) override;
  IoResult write(const char* data, std::size_t size) override;
  void shutdownWrite() override;
  [[nodiscard]] bool plain() const override { return false; }
  [[nodiscard]] bool blockedOnWrite() const override { return wantWrite_; }
  [[nodiscard]] bool blockedOnRead() const override { return wantRead_; }

 private:
  IoResult result(int rc);

  std::shared_ptr<TlsClientConfig> config_;
  ssl_st* ssl_ = nullptr;
  bool wantWrite_ = false;
  bool wantRead_ = false;
  std::string error_;
};

}  // namespace lens::proxy
