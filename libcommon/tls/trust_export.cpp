#include "libcommon/tls/trust_export.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <set>

#include "libcommon/net/ip_address.h"
#include "libcommon/tls/ca.h"
#include "libcommon/tls/openssl_handles.h"
#include "libcommon/util/file.h"
#include "libcommon/util/strings.h"

namespace lens::tls {

namespace {

// Owners of the PKCS#12 handles used here (the common ones are in
// tls/openssl_handles.h).
template <auto Free>
using Deleter = OpensslDeleter<Free>;
using Object = std::unique_ptr<ASN1_OBJECT, Deleter<ASN1_OBJECT_free>>;
using Pkcs12 = std::unique_ptr<PKCS12, Deleter<PKCS12_free>>;
using Bag = std::unique_ptr<PKCS12_SAFEBAG, Deleter<PKCS12_SAFEBAG_free>>;
void freeBags(STACK_OF(PKCS12_SAFEBAG) * bags) {
  sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
}
void freeSafes(STACK_OF(PKCS7) * safes) { sk_PKCS7_pop_free(safes, PKCS7_free); }
using Bags = std::unique_ptr<STACK_OF(PKCS12_SAFEBAG), Deleter<freeBags>>;
using Safes = std::unique_ptr<STACK_OF(PKCS7), Deleter<freeSafes>>;

// Oracle's trusted key usage: a cert bag with this attribute is what Java's
// PKCS12KeyStore loads as a trusted certificate entry.
constexpr const char* kJdkTrustedKeyUsage = "2.16.840.1.113894.746875.1.1";
constexpr const char* kAnyExtendedKeyUsage = "2.5.29.37.0";

constexpr std::size_t kMaxBundleBytes = 64 * 1024 * 1024;

Error internalError(const std::string& what) {
  ERR_clear_error();
  return makeError(ErrorCode::kInternal, what);
}

Object numericObject(const char* oid) { return Object(OBJ_txt2obj(oid, 1)); }

std::string derOf(X509* cert) {
  unsigned char* der = nullptr;
  const int n = i2d_X509(cert, &der);
  if (n <= 0) return {};
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  return out;
}

Cert certFromDer(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return Cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

// The alias Java shows for a certificate: its subject's CN (or the whole
// subject), lower-cased as Java stores aliases, made unique with " (N)".
std::string aliasFor(X509* cert, std::set<std::string>& taken) {
  X509_NAME* subject = X509_get_subject_name(cert);
  std::string name;
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  unsigned char* utf8 = nullptr;
  if (index >= 0 && ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
                                                   X509_NAME_get_entry(subject, index))) >= 0) {
    name = reinterpret_cast<char*>(utf8);
    OPENSSL_free(utf8);
  } else {
    char line[256];
    name = X509_NAME_oneline(subject, line, sizeof line);
  }
  name = util::toLower(name);
  std::string alias = name;
  for (int n = 2; !taken.insert(alias).second; ++n) alias = name + " (" + std::to_string(n) + ")";
  return alias;
}

// A cert bag Java reads as a trusted certificate entry.
Result<Bag> trustedBag(X509* cert, const std::string& alias, const ASN1_OBJECT* anyUsage) {
  Bag bag(PKCS12_SAFEBAG_create_cert(cert));
  // With length -1 and type V_ASN1_OBJECT the "bytes" are the ASN1_OBJECT
  // itself (X509_ATTRIBUTE_set1_data), copied into the attribute.
  if (!bag || PKCS12_add_friendlyname_utf8(bag.get(), alias.c_str(), -1) != 1 ||
      PKCS12_add1_attr_by_txt(bag.get(), kJdkTrustedKeyUsage, V_ASN1_OBJECT,
                              reinterpret_cast<const unsigned char*>(anyUsage), -1) != 1) {
    return internalError("cannot make the PKCS#12 bag of " + alias);
  }
  return bag;
}

// Whether a bag carries trusted key usage = anyExtendedKeyUsage.
bool isTrustedBag(const PKCS12_SAFEBAG* bag, const ASN1_OBJECT* trustedUsage,
                  const ASN1_OBJECT* anyUsage) {
  const STACK_OF(X509_ATTRIBUTE)* attrs = PKCS12_SAFEBAG_get0_attrs(bag);
  const int index = X509at_get_attr_by_OBJ(attrs, trustedUsage, -1);
  if (index < 0) return false;
  const ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(X509at_get_attr(attrs, index), 0);
  return value != nullptr && value->type == V_ASN1_OBJECT &&
         OBJ_cmp(value->value.object, anyUsage) == 0;
}

// False only when nothing is there; a path stat cannot look at (EACCES)
// counts as there, so that reading it says why it cannot be used.
bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 || errno != ENOENT;
}

Result<std::string> readNamed(const std::string& path, const std::string& what) {
  auto text = util::readFile(path, kMaxBundleBytes);
  if (!text) return makeError(text.error().code, what + " " + path + ": " + text.error().message);
  return std::move(*text);
}

// A JVM option as one word of JAVA_TOOL_OPTIONS: HotSpot splits the variable
// at white space and reads '...' and "..." as quotes (no escapes).
Result<std::string> jvmWord(const std::string& option) {
  if (option.find_first_of(" \t\n\r\f\v'\"") == std::string::npos) return option;
  if (option.find('"') == std::string::npos) return "\"" + option + "\"";
  if (option.find('\'') == std::string::npos) return "'" + option + "'";
  return makeError(
      ErrorCode::kInvalidArgument,
      "the JVM cannot be given an option holding both ' and \" with a space: " + option);
}

std::string hostForUrl(const std::string& host) {
  return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

}  // namespace

Result<std::vector<std::string>> pemCertificates(std::string_view pem) {
  Bio in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!in) return internalError("out of memory");
  std::vector<std::string> certs;
  ERR_clear_error();
  while (true) {
    Cert cert(PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    certs.push_back(derOf(cert.get()));
  }
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE) return certs;
  return makeError(ErrorCode::kInvalidInput, "certificate " + std::to_string(certs.size() + 1) +
                                                 " of the bundle is not a valid PEM certificate");
}

Result<std::string> pkcs12TrustStore(std::string_view pem, std::string_view password) {
  auto ders = pemCertificates(pem);
  if (!ders) return ders.error();
  if (ders->empty()) return makeError(ErrorCode::kInvalidInput, "the bundle holds no certificate");
  const Object anyUsage = numericObject(kAnyExtendedKeyUsage);
  Bags bags(sk_PKCS12_SAFEBAG_new_null());
  if (!anyUsage || !bags) return internalError("out of memory");
  std::set<std::string> aliases;
  for (const std::string& der : *ders) {
    Cert cert = certFromDer(der);
    if (!cert) return internalError("cannot decode a certificate again");
    auto bag = trustedBag(cert.get(), aliasFor(cert.get(), aliases), anyUsage.get());
    if (!bag) return bag.error();
    if (sk_PKCS12_SAFEBAG_push(bags.get(), bag->get()) == 0) return internalError("out of memory");
    bag->release();  // owned by the stack now
  }
  // One unencrypted safe (safe_nid -1: the certificates are public), and a
  // MAC over it, which Java checks with the password.
  STACK_OF(PKCS7)* rawSafes = nullptr;
  const int added = PKCS12_add_safe(&rawSafes, bags.get(), -1, 0, nullptr);
  Safes safes(rawSafes);
  if (added != 1) return internalError("cannot pack the PKCS#12 safe");
  const std::string pass(password);
  Pkcs12 p12(PKCS12_add_safes(safes.get(), 0));
  if (!p12 || PKCS12_set_mac(p12.get(), pass.c_str(), static_cast<int>(pass.size()), nullptr, 0,
                             PKCS12_DEFAULT_ITER, EVP_sha256()) != 1) {
    return internalError("cannot seal the PKCS#12 store");
  }
  unsigned char* out = nullptr;
  const int n = i2d_PKCS12(p12.get(), &out);
  if (n <= 0) return internalError("cannot encode the PKCS#12 store");
  std::string der(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
  OPENSSL_free(out);
  return der;
}

Result<std::vector<std::string>> trustedCertificates(std::string_view pkcs12,
                                                     std::string_view password) {
  const auto* p = reinterpret_cast<const unsigned char*>(pkcs12.data());
  Pkcs12 p12(d2i_PKCS12(nullptr, &p, static_cast<long>(pkcs12.size())));
  if (!p12) {
    ERR_clear_error();
    return makeError(ErrorCode::kInvalidInput, "not a PKCS#12 store");
  }
  const std::string pass(password);
  if (PKCS12_verify_mac(p12.get(), pass.c_str(), static_cast<int>(pass.size())) != 1) {
    ERR_clear_error();
    return makeError(ErrorCode::kInvalidInput,
                     "the PKCS#12 store's MAC does not match the password");
  }
  const Object trustedUsage = numericObject(kJdkTrustedKeyUsage);
  const Object anyUsage = numericObject(kAnyExtendedKeyUsage);
  Safes safes(PKCS12_unpack_authsafes(p12.get()));
  if (!trustedUsage || !anyUsage || !safes) return internalError("cannot unpack the PKCS#12 store");
  std::vector<std::string> certs;
  for (int i = 0; i < sk_PKCS7_num(safes.get()); ++i) {
    PKCS7* safe = sk_PKCS7_value(safes.get(), i);
    if (OBJ_obj2nid(safe->type) != NID_pkcs7_data) continue;
    Bags bags(PKCS12_unpack_p7data(safe));
    if (!bags) return internalError("cannot unpack a PKCS#12 safe");
    for (int j = 0; j < sk_PKCS12_SAFEBAG_num(bags.get()); ++j) {
      const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags.get(), j);
      if (PKCS12_SAFEBAG_get_nid(bag) != NID_certBag ||
          !isTrustedBag(bag, trustedUsage.get(), anyUsage.get())) {
        continue;
      }
      Cert cert(PKCS12_SAFEBAG_get1_cert(bag));
      if (cert) certs.push_back(derOf(cert.get()));
    }
  }
  ERR_clear_error();
  return certs;
}

Result<TrustFiles> ensureTrustFiles(const std::string& caDir, std::string_view caPem,
                                    const std::string& bundle, const std::string& systemRoots) {
  auto ca = pemCertificates(caPem);
  if (!ca) return ca.error();
  if (ca->size() != 1)
    return makeError(ErrorCode::kInvalidInput, "the CA certificate is not one PEM certificate");
  const std::string& caDer = ca->front();
  TrustFiles files{bundle.empty() ? caDir + "/" + std::string(kBundleFileName) : bundle,
                   caDir + "/ca.crt", caDir + "/" + std::string(kTrustStoreFileName)};

  std::string bundlePem;
  std::vector<std::string> bundleCerts;
  if (!bundle.empty() || exists(files.bundle)) {
    auto text = readNamed(files.bundle, "bundle");
    if (!text) return text.error();
    bundlePem = std::move(*text);
    auto certs = pemCertificates(bundlePem);
    if (!certs)
      return makeError(ErrorCode::kInvalidInput,
                       "bundle " + files.bundle + ": " + certs.error().message);
    bundleCerts = std::move(*certs);
  }
  if (std::ranges::find(bundleCerts, caDer) == bundleCerts.end()) {
    if (!bundle.empty()) {
      return makeError(ErrorCode::kInvalidInput,
                       "bundle " + bundle + " does not hold the CA certificate of " + caDir +
                           " (rebuild it with ca export --bundle ... --out " + bundle + ")");
    }
    bundlePem.clear();
    if (exists(systemRoots)) {
      auto roots = readNamed(systemRoots, "system roots");
      if (!roots) return roots.error();
      bundlePem = std::move(*roots);
    }
    bundlePem = appendToBundle(std::move(bundlePem), caPem);
    auto certs = pemCertificates(bundlePem);
    if (!certs)
      return makeError(ErrorCode::kInvalidInput,
                       "system roots " + systemRoots + ": " + certs.error().message);
    bundleCerts = std::move(*certs);
    if (Status s = util::writeFileAtomically(files.bundle, bundlePem, 0644); !s) return s.error();
  }

  if (exists(files.trustStore)) {
    auto current = readNamed(files.trustStore, "trust store");
    if (!current) return current.error();
    auto certs = trustedCertificates(*current, kTrustStorePassword);
    if (certs && *certs == bundleCerts) return files;
  }
  auto store = pkcs12TrustStore(bundlePem, kTrustStorePassword);
  if (!store) return store.error();
  if (Status s = util::writeFileAtomically(files.trustStore, *store, 0644); !s) return s.error();
  return files;
}

Result<ProxySetting> parseProxySetting(std::string_view address, std::string_view noProxy) {
  auto hostPort = net::parseHostPort(address);
  if (!hostPort)
    return makeError(ErrorCode::kInvalidArgument, "--proxy: " + hostPort.error().message);
  if (!hostPort->port)
    return makeError(ErrorCode::kInvalidArgument, "--proxy: give the port too (HOST:PORT)");
  ProxySetting setting{std::move(*hostPort), {}};
  for (std::string_view entry : util::split(noProxy, ',')) {
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    if (entry.empty()) continue;
    for (char c : entry) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::string_view(".-_:/*[]").find(c) != std::string_view::npos;
      if (!ok) {
        return makeError(ErrorCode::kInvalidArgument,
                         "--no-proxy: entry " + std::to_string(setting.noProxy.size() + 1) +
                             " holds a character other than letters, digits and . - _ : / * [ ]");
      }
    }
    setting.noProxy.emplace_back(entry);
  }
  return setting;
}

std::string jvmNonProxyHosts(std::span<const std::string> noProxy) {
  std::vector<std::string> patterns;
  for (const std::string& entry : noProxy) {
    if (entry == "*" || entry.find('/') != std::string::npos || entry.starts_with('[')) {
      patterns.push_back(entry);
    } else if (auto ip = net::IpAddress::parse(entry)) {
      patterns.push_back(hostForUrl(entry));
    } else {
      std::string_view name = entry;
      if (name.starts_with("*.")) name.remove_prefix(2);
      if (name.starts_with('.')) name.remove_prefix(1);
      patterns.emplace_back(name);
      patterns.push_back("*." + std::string(name));
    }
  }
  std::string out;
  for (const std::string& p : patterns) out += (out.empty() ? "" : "|") + p;
  return out;
}

Result<std::vector<EnvAssignment>> trustEnvironment(const TrustFiles& files,
                                                    const std::optional<ProxySetting>& proxy) {
  std::vector<EnvAssignment> env;
  for (const TrustVariable& v : kTrustVariables) {
    env.push_back(
        {std::string(v.name), v.file == TrustFile::kBundle ? files.bundle : files.caCertificate});
  }
  std::vector<std::string> jvm = {
      "-Djavax.net.ssl.trustStore=" + files.trustStore, "-Djavax.net.ssl.trustStoreType=PKCS12",
      "-Djavax.net.ssl.trustStorePassword=" + std::string(kTrustStorePassword)};
  if (proxy) {
    const std::string port = std::to_string(*proxy->address.port);
    for (const char* scheme : {"https", "http"}) {
      jvm.push_back("-D" + std::string(scheme) + ".proxyHost=" + proxy->address.host);
      jvm.push_back("-D" + std::string(scheme) + ".proxyPort=" + port);
    }
    if (!proxy->noProxy.empty())
      jvm.push_back("-Dhttp.nonProxyHosts=" + jvmNonProxyHosts(proxy->noProxy));
  }
  std::string options;
  for (const std::string& option : jvm) {
    auto word = jvmWord(option);
    if (!word) return word.error();
    options += (options.empty() ? "" : " ") + *word;
  }
  env.push_back({"JAVA_TOOL_OPTIONS", options});
  if (proxy) {
    const std::string url =
        "http://" + hostForUrl(proxy->address.host) + ":" + std::to_string(*proxy->address.port);
    for (const char* name : {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"})
      env.push_back({name, url});
    if (!proxy->noProxy.empty()) {
      std::string list;
      for (const std::string& entry : proxy->noProxy) list += (list.empty() ? "" : ",") + entry;
      env.push_back({"NO_PROXY", list});
      env.push_back({"no_proxy", list});
    }
  }
  return env;
}

std::string renderAssignments(std::span<const EnvAssignment> assignments, Shell shell) {
  std::string out;
  for (const EnvAssignment& a : assignments) {
    if (shell == Shell::kFish) {
      out += "set -gx " + a.name + ' ' + util::fishQuote(a.value) + '\n';
    } else {
      out += "export " + a.name + '=' + util::shellQuote(a.value) + '\n';
    }
  }
  return out;
}

}  // namespace lens::tls
