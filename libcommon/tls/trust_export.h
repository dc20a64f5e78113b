#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/net/host_port.h"
#include "libcommon/util/result.h"

namespace lens::tls {

// Trust export: how the workload's runtimes come to trust the interception
// CA (`lens-proxy ca env`, `ca export --format pkcs12`). Most runtimes read a
// PEM file named by an environment variable and use it instead of their own
// roots, so that file is the bundle: the system roots followed by the CA.
// Node adds NODE_EXTRA_CA_CERTS to its roots, so it gets the CA alone. The
// JVM reads neither: it takes a PKCS#12 trust store (again instead of its
// cacerts, so the store holds the whole bundle) and, since it ignores
// HTTPS_PROXY, its proxy too, from system properties in JAVA_TOOL_OPTIONS.

enum class TrustFile { kBundle, kCaCertificate };

struct TrustVariable {
  std::string_view name;
  TrustFile file;
  std::string_view reader;  // who reads it, for the documentation
};

// Every variable that names a PEM file, in the order `ca env` prints them.
inline constexpr TrustVariable kTrustVariables[] = {
    {"SSL_CERT_FILE", TrustFile::kBundle, "OpenSSL's default roots: Python ssl, Ruby, wget, ..."},
    {"REQUESTS_CA_BUNDLE", TrustFile::kBundle, "Python requests"},
    {"CURL_CA_BUNDLE", TrustFile::kBundle, "curl"},
    {"NODE_EXTRA_CA_CERTS", TrustFile::kCaCertificate, "Node.js (added to its roots)"},
    {"GIT_SSL_CAINFO", TrustFile::kBundle, "git"},
    {"AWS_CA_BUNDLE", TrustFile::kBundle, "AWS CLI and SDKs"},
    {"PIP_CERT", TrustFile::kBundle, "pip"},
    {"CARGO_HTTP_CAINFO", TrustFile::kBundle, "cargo"},
    {"DENO_CERT", TrustFile::kBundle, "Deno"},
    {"NPM_CONFIG_CAFILE", TrustFile::kBundle, "npm"},
    {"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", TrustFile::kBundle, "gRPC core (C++, Python, Ruby, ...)"},
};

// The password of every PKCS#12 trust store lens writes: "changeit", the
// JDK's own convention for cacerts. It guards nothing (a trust store holds
// public certificates only), but Java checks the store's integrity MAC with
// it and in practice will not read a PKCS#12 trust store without one.
inline constexpr std::string_view kTrustStorePassword = "changeit";

// The files `ca env` keeps in the CA directory.
inline constexpr std::string_view kBundleFileName = "bundle.pem";
inline constexpr std::string_view kTrustStoreFileName = "truststore.p12";
// The system roots a new CA_DIR/bundle.pem starts with (Debian's bundle).
inline constexpr std::string_view kSystemRoots = "/etc/ssl/certs/ca-certificates.crt";

// The certificates of a PEM bundle, DER-encoded, in order. Other PEM blocks
// are skipped; a CERTIFICATE block that does not decode is an error
// (kInvalidInput) naming its position.
[[nodiscard]] Result<std::vector<std::string>> pemCertificates(std::string_view pem);

// A PKCS#12 trust store, as Java's default keystore type reads it, holding
// every certificate of `pem` as a trusted certificate entry: one cert bag
// each, with a friendlyName (the alias: the subject's CN, made unique) and
// the attribute Java looks for, Oracle's trusted key usage (OID
// 2.16.840.1.113894.746875.1.1) = anyExtendedKeyUsage, as OpenSSL 3.2's
// `pkcs12 -export -nokeys -jdktrust anyExtendedKeyUsage` writes it. No
// private key; the certificates are not encrypted; the integrity MAC is
// HMAC-SHA256 keyed from `password`. Error (kInvalidInput) when `pem` holds
// no certificate or a broken one.
[[nodiscard]] Result<std::string> pkcs12TrustStore(std::string_view pem, std::string_view password);

// The certificates (DER, in order) that a PKCS#12 store holds as Java
// trusted entries (cert bags carrying the trusted-key-usage attribute), once
// its MAC checks out with `password`. Encrypted parts are not looked into.
[[nodiscard]] Result<std::vector<std::string>> trustedCertificates(std::string_view pkcs12,
                                                                   std::string_view password);

struct TrustFiles {
  std::string bundle;         // system roots + CA (PEM)
  std::string caCertificate;  // the CA alone (PEM)
  std::string trustStore;     // PKCS#12 of the bundle's certificates
};

// The trust files for the CA in `caDir`, whose certificate is `caPem`, made
// current so that nothing named is stale (after `ca init --force`, say):
// - the bundle: `bundle` as it is when not empty, which must hold the CA
//   (an error, kInvalidInput, otherwise: it was built for another CA);
//   else CA_DIR/bundle.pem, written (atomically, 0644) from `systemRoots`
//   (left out when that file is missing) and the CA, unless it already
//   holds the CA;
// - CA_DIR/truststore.p12, written (atomically, 0644) unless it already
//   holds exactly the bundle's certificates.
// Files that are current are not touched, so a user who cannot write the
// CA directory can call this once they exist.
[[nodiscard]] Result<TrustFiles> ensureTrustFiles(const std::string& caDir, std::string_view caPem,
                                                  const std::string& bundle,
                                                  const std::string& systemRoots);

// The workload's explicit proxy, for the variables that name it.
struct ProxySetting {
  net::HostPort address;             // port required
  std::vector<std::string> noProxy;  // NO_PROXY entries: names, .suffixes, IPs, CIDRs, *
};

// Parses `--proxy HOST:PORT` and `--no-proxy LIST` (comma-separated; spaces
// around entries are dropped). An entry may hold letters, digits and
// . - _ : / * [ ] only, so it reads the same in every variable and in the
// JVM's options. Errors are kInvalidArgument.
[[nodiscard]] Result<ProxySetting> parseProxySetting(std::string_view address,
                                                     std::string_view noProxy);

// The JVM's spelling of NO_PROXY entries for http.nonProxyHosts
// ('|'-separated patterns, '*' only at either end): a name also covers its
// subdomains, as curl and Python read NO_PROXY ("example.com" and
// ".example.com" give "example.com|*.example.com"); an IPv6 address is
// bracketed, as Java compares it; the rest is kept.
[[nodiscard]] std::string jvmNonProxyHosts(std::span<const std::string> noProxy);

struct EnvAssignment {
  std::string name;
  std::string value;
};

// Every assignment `ca env` prints: kTrustVariables, then JAVA_TOOL_OPTIONS
// (trustStore, its type and password; with a proxy, https.proxyHost/Port,
// http.proxyHost/Port and, with no-proxy entries, http.nonProxyHosts); with a
// proxy also HTTP_PROXY, HTTPS_PROXY, http_proxy, https_proxy
// (http://HOST:PORT) and, with entries, NO_PROXY and no_proxy. A JVM option
// holding a space or a quote is quoted for the JVM's own option parser; one
// holding both quote characters is an error (kInvalidArgument).
[[nodiscard]] Result<std::vector<EnvAssignment>> trustEnvironment(
    const TrustFiles& files, const std::optional<ProxySetting>& proxy);

enum class Shell { kSh, kFish };

// One line per assignment, safe to `eval` as is: `export NAME='value'` for
// sh, `set -gx NAME 'value'` for fish.
[[nodiscard]] std::string renderAssignments(std::span<const EnvAssignment> assignments,
                                            Shell shell);

}  // namespace lens::tls
