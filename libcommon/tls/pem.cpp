#include "libcommon/tls/pem.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <string>

namespace lens::tls {

namespace {

Bio memoryBio(std::string_view pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

Result<std::vector<Cert>> readCertificates(std::string_view pem, std::string_view what) {
  std::vector<Cert> out;
  Bio bio = memoryBio(pem);
  if (!bio) return makeError(ErrorCode::kInternal, "BIO_new_mem_buf: " + opensslError());
  while (Cert cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)})
    out.push_back(std::move(cert));
  ERR_clear_error();  // the end of the text reads as an error
  if (out.empty())
    return makeError(ErrorCode::kInvalidInput, std::string(what) + ": no PEM certificate in it");
  return out;
}

Result<Pkey> readPrivateKey(std::string_view pem, std::string_view what) {
  Bio bio = memoryBio(pem);
  if (!bio) return makeError(ErrorCode::kInternal, "BIO_new_mem_buf: " + opensslError());
  // No passphrase callback: an encrypted key is refused, not prompted for.
  Pkey key{PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr)};
  if (!key) {
    ERR_clear_error();
    return makeError(ErrorCode::kInvalidInput,
                     std::string(what) + ": no unencrypted PEM private key in it");
  }
  return key;
}

Status checkClientIdentity(std::string_view certPem, std::string_view keyPem) {
  auto certs = readCertificates(certPem, "certPem");
  if (!certs) return certs.error();
  auto key = readPrivateKey(keyPem, "keyPem");
  if (!key) return key.error();
  if (X509_check_private_key(certs->front().get(), key->get()) != 1) {
    ERR_clear_error();
    return makeError(ErrorCode::kInvalidInput,
                     "keyPem: the key does not belong to the first certificate of certPem");
  }
  return Ok{};
}

}  // namespace lens::tls
