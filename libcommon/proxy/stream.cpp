#include "libcommon/proxy/stream.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "libcommon/net/ip_address.h"

namespace lens::proxy {

Stream::~Stream() {
  if (fd_ >= 0) ::close(fd_);
}

IoResult Stream::read(char* data, std::size_t size) {
  const ssize_t n = ::recv(fd_, data, size, 0);
  if (n > 0) return {IoStatus::kOk, static_cast<std::size_t>(n)};
  if (n == 0) return {IoStatus::kEof, 0};
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return {IoStatus::kWouldBlock, 0};
  return {IoStatus::kError, 0};
}

IoResult Stream::write(const char* data, std::size_t size) {
  const ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
  if (n >= 0) return {IoStatus::kOk, static_cast<std::size_t>(n)};
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return {IoStatus::kWouldBlock, 0};
  return {IoStatus::kError, 0};
}

void Stream::shutdownWrite() { (void)::shutdown(fd_, SHUT_WR); }

namespace {

std::string opensslError() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "TLS error";
  char text[256];
  ERR_error_string_n(e, text, sizeof text);
  ERR_clear_error();
  return text;
}

}  // namespace

Result<std::shared_ptr<TlsClientConfig>> TlsClientConfig::create(std::string_view extraCaPem) {
  std::shared_ptr<TlsClientConfig> config(new TlsClientConfig());
  config->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!config->ctx_) return makeError(ErrorCode::kInternal, "SSL_CTX_new: " + opensslError());
  SSL_CTX_set_min_proto_version(config->ctx_, TLS1_2_VERSION);
  SSL_CTX_set_verify(config->ctx_, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_mode(config->ctx_,
                   SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
  // A proxy that closes the tunnel without close_notify ends the stream; it
  // does not make the bytes before it suspect (they were relayed already).
  SSL_CTX_set_options(config->ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
  if (SSL_CTX_set_default_verify_paths(config->ctx_) != 1) ERR_clear_error();
  if (!extraCaPem.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(config->ctx_);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(extraCaPem.data(), static_cast<int>(extraCaPem.size())), BIO_free);
    int added = 0;
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      if (X509_STORE_add_cert(store, cert) == 1) ++added;
      X509_free(cert);
    }
    ERR_clear_error();
    if (added == 0)
      return makeError(ErrorCode::kInvalidPolicy, "proxyCaCert: no PEM certificate in it");
  }
  return config;
}

TlsClientConfig::~TlsClientConfig() { SSL_CTX_free(ctx_); }

TlsStream::TlsStream(int fd, std::shared_ptr<TlsClientConfig> config, const std::string& serverName)
    : Stream(fd), config_(std::move(config)), ssl_(SSL_new(config_->context())) {
  SSL_set_fd(ssl_, fd);
  if (auto ip = net::IpAddress::parse(serverName)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), ip->toString().c_str());
  } else {
    // SSL_set_tlsext_host_name() without its C cast.
    SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(serverName.c_str()));
    SSL_set1_host(ssl_, serverName.c_str());
  }
  SSL_set_connect_state(ssl_);
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

IoResult TlsStream::result(int rc) {
  wantRead_ = wantWrite_ = false;
  if (rc > 0) return {IoStatus::kOk, static_cast<std::size_t>(rc)};
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
      wantRead_ = true;
      return {IoStatus::kWouldBlock, 0};
    case SSL_ERROR_WANT_WRITE:
      wantWrite_ = true;
      return {IoStatus::kWouldBlock, 0};
    case SSL_ERROR_ZERO_RETURN:
      return {IoStatus::kEof, 0};
    default: {
      const long verify = SSL_get_verify_result(ssl_);
      error_ = verify != X509_V_OK ? std::string("certificate verification failed: ") +
                                         X509_verify_cert_error_string(verify)
                                   : opensslError();
      ERR_clear_error();
      return {IoStatus::kError, 0};
    }
  }
}

IoResult TlsStream::handshake() {
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    wantRead_ = wantWrite_ = false;
    return {IoStatus::kOk, 0};
  }
  IoResult r = result(rc);
  if (r.status == IoStatus::kEof) {
    error_ = "the upstream closed the connection during the TLS handshake";
    r.status = IoStatus::kError;
  }
  return r;
}

IoResult TlsStream::read(char* data, std::size_t size) {
  return result(SSL_read(ssl_, data, static_cast<int>(std::min<std::size_t>(size, 1 << 30))));
}

IoResult TlsStream::write(const char* data, std::size_t size) {
  if (size == 0) return {IoStatus::kOk, 0};
  return result(SSL_write(ssl_, data, static_cast<int>(std::min<std::size_t>(size, 1 << 30))));
}

void TlsStream::shutdownWrite() {
  (void)SSL_shutdown(ssl_);
  ERR_clear_error();
}

}  // namespace lens::proxy
