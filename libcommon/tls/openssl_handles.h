#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

namespace lens::tls {

// Owners of OpenSSL handles (STYLE.md: every C handle has an owner).
template <auto Free>
struct OpensslDeleter {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};
using Pkey = std::unique_ptr<EVP_PKEY, OpensslDeleter<EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, OpensslDeleter<X509_free>>;
using Bio = std::unique_ptr<BIO, OpensslDeleter<BIO_free>>;
using Bignum = std::unique_ptr<BIGNUM, OpensslDeleter<BN_free>>;
using Extension = std::unique_ptr<X509_EXTENSION, OpensslDeleter<X509_EXTENSION_free>>;
using Ssl = std::unique_ptr<SSL, OpensslDeleter<SSL_free>>;
using SslCtx = std::unique_ptr<SSL_CTX, OpensslDeleter<SSL_CTX_free>>;

// The first queued OpenSSL error as text ("TLS error" when none), and the
// queue cleared.
[[nodiscard]] std::string opensslError();

}  // namespace lens::tls
