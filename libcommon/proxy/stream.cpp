#include "libcommon/proxy/stream.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "libcommon/net/ip_address.h"
#include "libcommon/tls/leaf_cache.h"
#include "libcommon/tls/openssl_handles.h"
#include "libcommon/tls/pem.h"

namespace lens::proxy {

namespace {
constexpr std::size_t kReadAhead = 64 * 1024;  // TLS bytes read from the socket at once
}  // namespace

IoResult SocketStream::read(char* data, std::size_t size) {
  const ssize_t n = ::recv(fd_.get(), data, size, 0);
  if (n > 0) return {IoStatus::kOk, static_cast<std::size_t>(n)};
  if (n == 0) return {IoStatus::kEof, 0};
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return {IoStatus::kWouldBlock, 0};
  return {IoStatus::kError, 0};
}

IoResult SocketStream::write(const char* data, std::size_t size) {
  const ssize_t n = ::send(fd_.get(), data, size, MSG_NOSIGNAL);
  if (n >= 0) return {IoStatus::kOk, static_cast<std::size_t>(n)};
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return {IoStatus::kWouldBlock, 0};
  return {IoStatus::kError, 0};
}

void SocketStream::shutdownWrite() { (void)::shutdown(fd_.get(), SHUT_WR); }

Result<std::shared_ptr<TlsClientConfig>> TlsClientConfig::create(std::string_view extraCaPem,
                                                                 std::string_view what) {
  return create(TlsClientOptions{.extraCaPem = extraCaPem, .what = what});
}

Result<std::shared_ptr<TlsClientConfig>> TlsClientConfig::create(const TlsClientOptions& options) {
  std::shared_ptr<TlsClientConfig> config(new TlsClientConfig());
  config->ctx_.reset(SSL_CTX_new(TLS_client_method()));
  if (!config->ctx_) return makeError(ErrorCode::kInternal, "SSL_CTX_new: " + tls::opensslError());
  SSL_CTX* const ctx = config->ctx_.get();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // A server that closes without close_notify ends the stream; it does not
  // make the bytes before it suspect (the framing of what was relayed says
  // whether it was whole).
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (options.systemRoots && SSL_CTX_set_default_verify_paths(ctx) != 1) ERR_clear_error();
  if (!options.extraCaPem.empty()) {
    auto certs = tls::readCertificates(options.extraCaPem, options.what);
    if (!certs) return certs.error();
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (const tls::Cert& cert : *certs) {
      if (X509_STORE_add_cert(store, cert.get()) != 1) ERR_clear_error();  // a duplicate
    }
  } else if (!options.systemRoots) {
    return makeError(ErrorCode::kInvalidInput,
                     std::string(options.what) + ": no roots to verify the server with");
  }
  if (!options.certPem.empty() || !options.keyPem.empty()) {
    const std::string what(options.what);
    auto chain = tls::readCertificates(options.certPem, what + " certPem");
    if (!chain) return chain.error();
    auto key = tls::readPrivateKey(options.keyPem, what + " keyPem");
    if (!key) return key.error();
    if (SSL_CTX_use_certificate(ctx, chain->front().get()) != 1) {
      return makeError(ErrorCode::kInvalidInput, what + " certPem: " + tls::opensslError());
    }
    for (std::size_t i = 1; i < chain->size(); ++i) {
      // add1: the context takes its own reference; ours goes with `chain`.
      if (SSL_CTX_add1_chain_cert(ctx, (*chain)[i].get()) != 1) {
        return makeError(ErrorCode::kInvalidInput, what + " certPem: " + tls::opensslError());
      }
    }
    if (SSL_CTX_use_PrivateKey(ctx, key->get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
      ERR_clear_error();
      return makeError(ErrorCode::kInvalidInput,
                       what + " keyPem: the key does not belong to the certificate");
    }
  }
  return config;
}

// The BIO under every TlsStream: reads the bytes given at the start first,
// then the inner stream; reports would-block as a retry.
struct StreamBio {
  static BIO_METHOD* method() {
    static BIO_METHOD* const m = [] {
      BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "lens stream");
      BIO_meth_set_read(made, &StreamBio::read);
      BIO_meth_set_write(made, &StreamBio::write);
      BIO_meth_set_ctrl(made, &StreamBio::ctrl);
      return made;
    }();
    return m;
  }

  static int read(BIO* bio, char* out, int size) {
    auto* s = static_cast<TlsStream*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (size <= 0) return 0;
    if (s->initialUsed_ < s->initial_.size()) {
      const std::size_t n =
          std::min(static_cast<std::size_t>(size), s->initial_.size() - s->initialUsed_);
      std::memcpy(out, s->initial_.data() + s->initialUsed_, n);
      s->initialUsed_ += n;
      if (s->initialUsed_ == s->initial_.size()) {
        s->initial_.clear();
        s->initial_.shrink_to_fit();
        s->initialUsed_ = 0;
      }
      return static_cast<int>(n);
    }
    const IoResult r = s->inner_->read(out, static_cast<std::size_t>(size));
    switch (r.status) {
      case IoStatus::kOk:
        return static_cast<int>(r.bytes);
      case IoStatus::kWouldBlock:
        BIO_set_retry_read(bio);
        return -1;
      case IoStatus::kEof:
        s->innerEof_ = true;  // BIO_eof(): OpenSSL tells an unexpected EOF from an error by it
        return 0;
      case IoStatus::kError:
        s->innerFailed_ = true;
        return -1;
    }
    return -1;
  }

  static int write(BIO* bio, const char* data, int size) {
    auto* s = static_cast<TlsStream*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    const IoResult r = s->inner_->write(data, static_cast<std::size_t>(size));
    switch (r.status) {
      case IoStatus::kOk:
        return static_cast<int>(r.bytes);
      case IoStatus::kWouldBlock:
        BIO_set_retry_write(bio);
        return -1;
      case IoStatus::kEof:
      case IoStatus::kError:
        s->innerFailed_ = true;
        return -1;
    }
    return -1;
  }

  static long ctrl(BIO* bio, int command, long, void*) {
    if (command == BIO_CTRL_EOF) {
      const auto* s = static_cast<const TlsStream*>(BIO_get_data(bio));
      return s->innerEof_ && s->initialUsed_ >= s->initial_.size() ? 1 : 0;
    }
    return command == BIO_CTRL_FLUSH || command == BIO_CTRL_PUSH || command == BIO_CTRL_POP ? 1 : 0;
  }
};

TlsStream::TlsStream(std::unique_ptr<Stream> inner, tls::Ssl ssl)
    : inner_(std::move(inner)), ssl_(std::move(ssl)) {
  BIO* bio = BIO_new(StreamBio::method());
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_.get(), bio, bio);  // the SSL owns the BIO (one reference for both directions)
  // Read what the socket holds, up to several records, in one call instead
  // of a header and a body per record. Bytes read ahead are invisible to
  // epoll: every reader goes on until kWouldBlock (or asks the reactor to
  // come back).
  SSL_set_read_ahead(ssl_.get(), 1);
  SSL_set_default_read_buffer_len(ssl_.get(), kReadAhead);
}

// The SSL goes first, while everything its BIO may touch is still there.
TlsStream::~TlsStream() { ssl_.reset(); }

bool TlsStream::alpnRefused() const { return tls::alpnRefused(ssl_.get()); }

std::unique_ptr<TlsStream> TlsStream::client(std::unique_ptr<Stream> inner,
                                             std::shared_ptr<TlsClientConfig> config,
                                             const std::string& serverName,
                                             const std::vector<std::string>& alpn) {
  tls::Ssl owned(SSL_new(config->context()));  // holds its own reference to the context
  if (!owned) return nullptr;
  SSL* const ssl = owned.get();
  std::unique_ptr<TlsStream> stream(new TlsStream(std::move(inner), std::move(owned)));
  // Without the name to check, verification would accept any certificate
  // of a trusted CA: no stream at all then.
  if (auto ip = net::IpAddress::parse(serverName)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip->toString().c_str()) != 1)
      return nullptr;
  } else {
    // SSL_set_tlsext_host_name() without its C cast.
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(serverName.c_str()));
    // The name must be in the subjectAltName: no fallback to the subject's
    // CN, no partial wildcards ("w*.example.com").
    SSL_set_hostflags(ssl,
                      X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, serverName.c_str()) != 1) return nullptr;
  }
  if (!alpn.empty()) {
    std::string wire;
    for (const std::string& p : alpn) {
      wire.push_back(static_cast<char>(p.size()));
      wire += p;
    }
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  SSL_set_connect_state(ssl);
  return stream;
}

std::unique_ptr<TlsStream> TlsStream::server(std::unique_ptr<Stream> inner,
                                             std::shared_ptr<ssl_ctx_st> context,
                                             std::string initial,
                                             const std::vector<std::string>& alpn) {
  tls::Ssl owned(SSL_new(context.get()));  // holds its own reference to the context
  if (!owned) return nullptr;
  SSL* const ssl = owned.get();
  if (!alpn.empty() && !tls::offerAlpn(ssl, alpn)) return nullptr;
  std::unique_ptr<TlsStream> stream(new TlsStream(std::move(inner), std::move(owned)));
  stream->initial_ = std::move(initial);
  SSL_set_accept_state(ssl);
  return stream;
}

IoResult TlsStream::result(int rc) {
  bool wantRead = false;
  bool wantWrite = false;
  IoResult out{IoStatus::kError, 0};
  if (rc > 0) {
    out = {IoStatus::kOk, static_cast<std::size_t>(rc)};
  } else {
    switch (SSL_get_error(ssl_.get(), rc)) {
      case SSL_ERROR_WANT_READ:
        wantRead = !innerFailed_;
        if (wantRead) out = {IoStatus::kWouldBlock, 0};
        break;
      case SSL_ERROR_WANT_WRITE:
        wantWrite = !innerFailed_;
        if (wantWrite) out = {IoStatus::kWouldBlock, 0};
        break;
      case SSL_ERROR_ZERO_RETURN:
        out = {IoStatus::kEof, 0};
        break;
      default:
        break;
    }
  }
  lastWantsRead_ = wantRead;
  lastWantsWrite_ = wantWrite;
  if (out.status != IoStatus::kError) return out;
  const long verify = SSL_get_verify_result(ssl_.get());
  if (verify != X509_V_OK) {
    error_ =
        std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify);
  } else if (innerFailed_ && ERR_peek_error() == 0) {
    error_ = "the connection failed";
  } else {
    error_ = tls::opensslError();
  }
  ERR_clear_error();
  return out;
}

IoResult TlsStream::handshake() {
  ERR_clear_error();  // SSL_get_error reads the queue: nothing of another connection's
  const int rc = SSL_do_handshake(ssl_.get());
  if (rc == 1) {
    lastWantsRead_ = lastWantsWrite_ = false;
    return {IoStatus::kOk, 0};
  }
  IoResult r = result(rc);
  if (r.status == IoStatus::kEof || (r.status == IoStatus::kError && error_ == "TLS error")) {
    error_ = "the peer closed the connection during the TLS handshake";
    r.status = IoStatus::kError;
  }
  return r;
}

std::string TlsStream::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &length);
  return data ? std::string(reinterpret_cast<const char*>(data), length) : std::string();
}

std::string TlsStream::serverName() const {
  const char* name = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
  return name ? std::string(name) : std::string();
}

IoResult TlsStream::read(char* data, std::size_t size) {
  ERR_clear_error();
  return result(SSL_read(ssl_.get(), data, static_cast<int>(std::min<std::size_t>(size, INT_MAX))));
}

IoResult TlsStream::write(const char* data, std::size_t size) {
  if (size == 0) return {IoStatus::kOk, 0};
  ERR_clear_error();
  return result(
      SSL_write(ssl_.get(), data, static_cast<int>(std::min<std::size_t>(size, INT_MAX))));
}

void TlsStream::shutdownWrite() {
  (void)SSL_shutdown(ssl_.get());
  ERR_clear_error();
}

// What the last operation waits for, whatever its direction.
bool TlsStream::blockedOnWrite() const {
  if (!lastWantsRead_ && !lastWantsWrite_) return false;
  return inner_->plain() ? lastWantsWrite_ : inner_->blockedOnWrite();
}

bool TlsStream::blockedOnRead() const {
  if (!lastWantsRead_ && !lastWantsWrite_) return false;
  return inner_->plain() ? lastWantsRead_ : inner_->blockedOnRead();
}

}  // namespace lens::proxy
