#include "libcommon/tls/ca.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>

#include "libcommon/tls/openssl_handles.h"
#include "libcommon/util/file.h"

namespace lens::tls {

std::string opensslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "TLS error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

namespace {

constexpr std::size_t kMaxPemBytes = 64 * 1024;

Error cryptoError(const std::string& what) {
  return makeError(ErrorCode::kInternal, what + ": " + opensslError());
}

std::string bioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

Result<std::string> readPem(const std::string& path, std::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
    return makeError(ErrorCode::kNotFound, std::string(what) + " " + path + " does not exist");
  }
  auto text = util::readFile(path, kMaxPemBytes);
  if (!text)
    return makeError(text.error().code,
                     std::string(what) + " " + path + ": " + text.error().message);
  return std::move(*text);
}

std::string rfc3339(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

std::string subjectText(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0,
                     XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
  return bioText(bio.get());
}

std::string fingerprintOf(X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  X509_digest(cert, EVP_sha256(), digest, &length);
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    if (i != 0) out.push_back(':');
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xF]);
  }
  return out;
}

CaInfo describe(X509* cert, std::string pem) {
  CaInfo info;
  info.certPem = std::move(pem);
  info.subject = subjectText(cert);
  info.fingerprint = fingerprintOf(cert);
  info.notBefore = rfc3339(X509_get0_notBefore(cert));
  info.notAfter = rfc3339(X509_get0_notAfter(cert));
  info.expired = X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0;
  return info;
}

Status addExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  Extension ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
    return cryptoError(std::string("certificate extension ") + value);
  return Ok{};
}

struct NewCa {
  std::string keyPem;
  std::string certPem;
};

Result<NewCa> generate(int days) {
  Pkey key(EVP_EC_gen("P-256"));
  if (!key) return cryptoError("cannot generate the CA key");
  Cert cert(X509_new());
  Bignum serial(BN_new());
  if (!cert || !serial) return cryptoError("out of memory");
  // A random positive 127-bit serial (RFC 5280: at most 20 octets, positive).
  if (X509_set_version(cert.get(), 2) != 1 ||
      BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return cryptoError("cannot set the serial number");
  }
  // Valid from an hour ago, so a clock slightly behind still accepts it.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400L);
  X509_NAME* name = X509_get_subject_name(cert.get());
  const std::string cn(kCaCommonName);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("Lens Sandbox"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return cryptoError("cannot set the public key");
  // keyUsage and the key identifiers: strict verifiers (OpenSSL's
  // X509_STRICT, Python 3.13) refuse a CA without them.
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                            std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                            std::pair{NID_subject_key_identifier, "hash"},
                            std::pair{NID_authority_key_identifier, "keyid:always"}}) {
    if (Status s = addExtension(cert.get(), nid, value); !s) return s.error();
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0)
    return cryptoError("cannot sign the CA certificate");

  Bio keyOut(BIO_new(BIO_s_mem()));
  Bio certOut(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(keyOut.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1 ||
      PEM_write_bio_X509(certOut.get(), cert.get()) != 1) {
    return cryptoError("cannot encode the CA");
  }
  return NewCa{bioText(keyOut.get()), bioText(certOut.get())};
}

Status makeDirectory(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Ok{};
    return makeError(ErrorCode::kIo, dir + " exists and is not a directory");
  }
  return makeError(ErrorCode::kIo, "cannot create " + dir + ": " + std::strerror(errno));
}

}  // namespace

CaFiles caFiles(const std::string& dir) { return {dir + "/ca.crt", dir + "/ca.key"}; }

Result<CaInfo> loadCa(const std::string& dir) {
  const CaFiles files = caFiles(dir);
  auto certPem = readPem(files.cert, "CA certificate");
  if (!certPem) return certPem.error();
  auto keyPem = readPem(files.key, "CA key");
  if (!keyPem) return keyPem.error();

  struct stat st {};
  if (::stat(files.key.c_str(), &st) == 0 && st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return makeError(ErrorCode::kInvalidInput,
                     "CA key " + files.key + " belongs to uid " + std::to_string(st.st_uid) +
                         ": it must belong to root or to the user running lens-proxy");
  }
  if (::stat(files.key.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return makeError(ErrorCode::kInvalidInput,
                     "CA key " + files.key + " has mode " + mode +
                         ": group or others may read it (it must be 0600)");
  }

  Bio certIn(BIO_new_mem_buf(certPem->data(), static_cast<int>(certPem->size())));
  Cert cert(PEM_read_bio_X509(certIn.get(), nullptr, nullptr, nullptr));
  if (!cert)
    return makeError(
        ErrorCode::kInvalidInput,
        "CA certificate " + files.cert + ": not a PEM certificate (" + opensslError() + ")");
  Bio keyIn(BIO_new_mem_buf(keyPem->data(), static_cast<int>(keyPem->size())));
  Pkey key(PEM_read_bio_PrivateKey(keyIn.get(), nullptr, nullptr, nullptr));
  if (!key)
    return makeError(ErrorCode::kInvalidInput,
                     "CA key " + files.key + ": not a PEM private key (" + opensslError() + ")");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return makeError(ErrorCode::kInvalidInput,
                     "CA key " + files.key + " does not belong to the certificate " + files.cert);
  }
  if (X509_check_ca(cert.get()) < 1 || (X509_get_key_usage(cert.get()) & KU_KEY_CERT_SIGN) == 0) {
    return makeError(ErrorCode::kInvalidInput,
                     "CA certificate " + files.cert + " is not a CA allowed to sign certificates");
  }
  return describe(cert.get(), std::move(*certPem));
}

Result<CaInitResult> initCa(const std::string& dir, int days, bool replace) {
  if (days < 1)
    return makeError(ErrorCode::kInvalidArgument, "the CA must be valid for at least one day");
  if (Status s = makeDirectory(dir); !s) return s.error();
  const CaFiles files = caFiles(dir);
  struct stat st {};
  const bool existed =
      ::lstat(files.cert.c_str(), &st) == 0 || ::lstat(files.key.c_str(), &st) == 0;
  if (existed && !replace) {
    auto current = loadCa(dir);
    if (current && !current->expired) return CaInitResult{std::move(*current), CaOutcome::kKept};
    const std::string problem =
        current ? "it expired on " + current->notAfter : current.error().message;
    return makeError(ErrorCode::kInvalidInput, "the CA in " + dir + " cannot be used: " + problem +
                                                   " (replace it with --force)");
  }
  auto made = generate(days);
  if (!made) return made.error();
  if (Status s = util::writeFileAtomically(files.key, made->keyPem, 0600); !s) return s.error();
  if (Status s = util::writeFileAtomically(files.cert, made->certPem, 0644); !s) return s.error();
  auto info = loadCa(dir);
  if (!info) return info.error();
  return CaInitResult{std::move(*info), existed ? CaOutcome::kReplaced : CaOutcome::kCreated};
}

std::string appendToBundle(std::string bundle, std::string_view certPem) {
  if (bundle.find(certPem) != std::string::npos) return bundle;
  if (!bundle.empty() && bundle.back() != '\n') bundle.push_back('\n');
  bundle.append(certPem);
  return bundle;
}

}  // namespace lens::tls
