#include "libcommon/tls/trust_export.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "libcommon/tls/ca.h"
#include "tests/unit/temp_dir.h"

namespace {

using lens::test::slurp;
using lens::test::TempDir;
using lens::tls::EnvAssignment;
using lens::tls::TrustFiles;

const TrustFiles kFiles{"/run/lens/ca/bundle.pem", "/run/lens/ca/ca.crt",
                        "/run/lens/ca/truststore.p12"};
const std::string kJvmTrust =
    "-Djavax.net.ssl.trustStore=/run/lens/ca/truststore.p12 -Djavax.net.ssl.trustStoreType=PKCS12 "
    "-Djavax.net.ssl.trustStorePassword=changeit";

// A fresh CA's certificate (PEM), made in `dir`.
std::string newCa(const std::filesystem::path& dir) {
  auto made = lens::tls::initCa(dir.string(), 30, false);
  REQUIRE(made.ok());
  return made->info.certPem;
}

std::string der(const std::string& pem) {
  auto certs = lens::tls::pemCertificates(pem);
  REQUIRE(certs.ok());
  REQUIRE(certs->size() == 1);
  return certs->front();
}

void write(const std::filesystem::path& file, const std::string& text) {
  std::ofstream(file, std::ios::binary) << text;
}

ino_t inodeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_ino;
}

// The friendlyName of each bag of a store lens wrote (one unencrypted safe).
std::vector<std::string> aliases(const std::string& store) {
  const auto* p = reinterpret_cast<const unsigned char*>(store.data());
  PKCS12* p12 = d2i_PKCS12(nullptr, &p, static_cast<long>(store.size()));
  REQUIRE(p12 != nullptr);
  STACK_OF(PKCS7)* safes = PKCS12_unpack_authsafes(p12);
  REQUIRE(sk_PKCS7_num(safes) == 1);
  STACK_OF(PKCS12_SAFEBAG)* bags = PKCS12_unpack_p7data(sk_PKCS7_value(safes, 0));
  std::vector<std::string> names;
  for (int i = 0; i < sk_PKCS12_SAFEBAG_num(bags); ++i) {
    char* name = PKCS12_get_friendlyname(sk_PKCS12_SAFEBAG_value(bags, i));
    names.emplace_back(name != nullptr ? name : "");
    OPENSSL_free(name);
  }
  sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
  sk_PKCS7_pop_free(safes, PKCS7_free);
  PKCS12_free(p12);
  return names;
}

}  // namespace

TEST_CASE("ca env names the bundle in every variable that replaces roots, the CA alone for node",
          "[tls][trust]") {
  auto env = lens::tls::trustEnvironment(kFiles, std::nullopt);
  REQUIRE(env.ok());
  const std::vector<std::pair<std::string, std::string>> want = {
      {"SSL_CERT_FILE", kFiles.bundle},
      {"REQUESTS_CA_BUNDLE", kFiles.bundle},
      {"CURL_CA_BUNDLE", kFiles.bundle},
      {"NODE_EXTRA_CA_CERTS", kFiles.caCertificate},
      {"GIT_SSL_CAINFO", kFiles.bundle},
      {"AWS_CA_BUNDLE", kFiles.bundle},
      {"PIP_CERT", kFiles.bundle},
      {"CARGO_HTTP_CAINFO", kFiles.bundle},
      {"DENO_CERT", kFiles.bundle},
      {"NPM_CONFIG_CAFILE", kFiles.bundle},
      {"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", kFiles.bundle},
      {"JAVA_TOOL_OPTIONS", kJvmTrust},
  };
  std::vector<std::pair<std::string, std::string>> got;
  for (const EnvAssignment& a : *env) got.emplace_back(a.name, a.value);
  CHECK(got == want);
}

TEST_CASE("with a proxy, the proxy variables and the JVM's proxy properties follow",
          "[tls][trust]") {
  auto proxy = lens::tls::parseProxySetting("127.0.0.1:3128",
                                            " localhost, .example.com,127.0.0.1,::1 ,10.0.0.0/8,");
  REQUIRE(proxy.ok());
  auto env = lens::tls::trustEnvironment(kFiles, *proxy);
  REQUIRE(env.ok());
  REQUIRE(env->size() == 12 + 6);
  CHECK((*env)[11].value ==
        kJvmTrust +
            " -Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=3128"
            " -Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=3128"
            " -Dhttp.nonProxyHosts=localhost|*.localhost|example.com|*.example.com|127.0.0.1|[::1]|"
            "10.0.0.0/8");
  const std::vector<std::string> names = {"HTTP_PROXY",  "HTTPS_PROXY", "http_proxy",
                                          "https_proxy", "NO_PROXY",    "no_proxy"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    INFO(names[i]);
    CHECK((*env)[12 + i].name == names[i]);
    CHECK((*env)[12 + i].value ==
          (i < 4 ? "http://127.0.0.1:3128" : "localhost,.example.com,127.0.0.1,::1,10.0.0.0/8"));
  }
}

TEST_CASE("an IPv6 proxy is bracketed in URLs but not for the JVM; no entries, no NO_PROXY",
          "[tls][trust]") {
  auto proxy = lens::tls::parseProxySetting("[::1]:3128", "");
  REQUIRE(proxy.ok());
  auto env = lens::tls::trustEnvironment(kFiles, *proxy);
  REQUIRE(env.ok());
  REQUIRE(env->size() == 12 + 4);
  CHECK((*env)[11].value.ends_with("-Dhttp.proxyHost=::1 -Dhttp.proxyPort=3128"));
  CHECK((*env)[15].value == "http://[::1]:3128");
}

TEST_CASE("bad proxy settings are usage errors", "[tls][trust]") {
  using lens::ErrorCode;
  for (auto [address, noProxy, message] :
       {std::tuple{"127.0.0.1", "", "HOST:PORT"}, std::tuple{"127.0.0.1:0", "", "port"},
        std::tuple{"proxy:3128", "a,b|c", "entry 2"}, std::tuple{"proxy:3128", "a b", "entry 1"},
        std::tuple{"proxy:3128", "x,'y'", "entry 2"}}) {
    INFO(address << " / " << noProxy);
    auto setting = lens::tls::parseProxySetting(address, noProxy);
    REQUIRE_FALSE(setting.ok());
    CHECK(setting.error().code == ErrorCode::kInvalidArgument);
    CHECK_THAT(setting.error().message, Catch::Contains(message));
  }
}

TEST_CASE("a JVM option with a space is quoted for the JVM; one with both quotes cannot be",
          "[tls][trust]") {
  TrustFiles spaced = kFiles;
  spaced.trustStore = "/tmp/a b/it's.p12";
  auto env = lens::tls::trustEnvironment(spaced, std::nullopt);
  REQUIRE(env.ok());
  CHECK(env->back().value.starts_with("\"-Djavax.net.ssl.trustStore=/tmp/a b/it's.p12\" -Djavax"));
  spaced.trustStore = "/tmp/say \"it's\".p12";
  auto refused = lens::tls::trustEnvironment(spaced, std::nullopt);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == lens::ErrorCode::kInvalidArgument);
  spaced.trustStore = "/tmp/quote\"d.p12";
  env = lens::tls::trustEnvironment(spaced, std::nullopt);
  REQUIRE(env.ok());
  CHECK(env->back().value.starts_with("'-Djavax.net.ssl.trustStore=/tmp/quote\"d.p12' -Djavax"));
}

TEST_CASE("assignments are quoted for sh and for fish", "[tls][trust]") {
  const std::vector<EnvAssignment> env = {{"A", "/x y/it's $HOME `id` \\n"}, {"B", ""}};
  CHECK(lens::tls::renderAssignments(env, lens::tls::Shell::kSh) ==
        "export A='/x y/it'\\''s $HOME `id` \\n'\n"
        "export B=''\n");
  CHECK(lens::tls::renderAssignments(env, lens::tls::Shell::kFish) ==
        "set -gx A '/x y/it\\'s $HOME `id` \\\\n'\n"
        "set -gx B ''\n");
}

TEST_CASE("pemCertificates skips other blocks and names a broken certificate", "[tls][trust]") {
  TempDir tmp;
  const std::string ca = newCa(tmp.path / "ca");
  const std::string key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  auto certs = lens::tls::pemCertificates("# roots\n" + ca + key + ca);
  REQUIRE(certs.ok());
  CHECK(certs->size() == 2);
  auto none = lens::tls::pemCertificates("");
  REQUIRE(none.ok());
  CHECK(none->empty());
  auto broken = lens::tls::pemCertificates(
      ca + "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.error().code == lens::ErrorCode::kInvalidInput);
  CHECK_THAT(broken.error().message, Catch::Contains("certificate 2"));
}

TEST_CASE("the PKCS#12 store holds every certificate as a Java trusted entry with a unique alias",
          "[tls][trust]") {
  TempDir tmp;
  const std::string first = newCa(tmp.path / "one");
  const std::string second = newCa(tmp.path / "two");  // the same CN
  auto store = lens::tls::pkcs12TrustStore(first + second, "changeit");
  REQUIRE(store.ok());
  auto trusted = lens::tls::trustedCertificates(*store, "changeit");
  REQUIRE(trusted.ok());
  CHECK(*trusted == std::vector<std::string>{der(first), der(second)});
  CHECK(aliases(*store) == std::vector<std::string>{"lens sandbox ca", "lens sandbox ca (2)"});

  auto wrong = lens::tls::trustedCertificates(*store, "secret");
  REQUIRE_FALSE(wrong.ok());
  CHECK_THAT(wrong.error().message, Catch::Contains("MAC"));
  CHECK_FALSE(lens::tls::trustedCertificates("not a store", "changeit").ok());
  auto empty = lens::tls::pkcs12TrustStore("no certificate here\n", "changeit");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code == lens::ErrorCode::kInvalidInput);
}

TEST_CASE("a store OpenSSL made without the trust attribute holds no trusted entry",
          "[tls][trust]") {
  TempDir tmp;
  const std::string ca = newCa(tmp.path / "ca");
  BIO* bio = BIO_new_mem_buf(ca.data(), static_cast<int>(ca.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  STACK_OF(X509)* certs = sk_X509_new_null();
  sk_X509_push(certs, cert);
  // What OpenSSL 3.0's `pkcs12 -export -nokeys` writes: Java lists no entry.
  PKCS12* p12 = PKCS12_create("changeit", nullptr, nullptr, nullptr, certs, 0, -1, 0, 0, 0);
  REQUIRE(p12 != nullptr);
  unsigned char* out = nullptr;
  const int n = i2d_PKCS12(p12, &out);
  const std::string store(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
  OPENSSL_free(out);
  PKCS12_free(p12);
  sk_X509_pop_free(certs, X509_free);
  BIO_free(bio);
  auto trusted = lens::tls::trustedCertificates(store, "changeit");
  REQUIRE(trusted.ok());
  CHECK(trusted->empty());
}

TEST_CASE("ensureTrustFiles writes the bundle and the store once, and again for a new CA",
          "[tls][trust]") {
  TempDir tmp;
  const std::string dir = (tmp.path / "ca").string();
  const std::string root = newCa(tmp.path / "root");
  write(tmp.path / "roots.pem", root);
  const std::string ca = newCa(dir);

  auto files = lens::tls::ensureTrustFiles(dir, ca, "", (tmp.path / "roots.pem").string());
  REQUIRE(files.ok());
  CHECK(files->bundle == dir + "/bundle.pem");
  CHECK(files->caCertificate == dir + "/ca.crt");
  CHECK(files->trustStore == dir + "/truststore.p12");
  CHECK(slurp(files->bundle) == lens::tls::appendToBundle(root, ca));
  auto trusted =
      lens::tls::trustedCertificates(slurp(files->trustStore), lens::tls::kTrustStorePassword);
  REQUIRE(trusted.ok());
  CHECK(*trusted == std::vector<std::string>{der(root), der(ca)});

  // Current files are left alone (a rename would give a new inode).
  const ino_t bundleInode = inodeOf(files->bundle);
  const ino_t storeInode = inodeOf(files->trustStore);
  REQUIRE(lens::tls::ensureTrustFiles(dir, ca, "", (tmp.path / "roots.pem").string()).ok());
  CHECK(inodeOf(files->bundle) == bundleInode);
  CHECK(inodeOf(files->trustStore) == storeInode);

  // A new CA (ca init --force): both are rebuilt for it.
  auto replaced = lens::tls::initCa(dir, 30, true);
  REQUIRE(replaced.ok());
  const std::string next = replaced->info.certPem;
  REQUIRE(lens::tls::ensureTrustFiles(dir, next, "", (tmp.path / "roots.pem").string()).ok());
  CHECK(slurp(files->bundle) == lens::tls::appendToBundle(root, next));
  trusted =
      lens::tls::trustedCertificates(slurp(files->trustStore), lens::tls::kTrustStorePassword);
  REQUIRE(trusted.ok());
  CHECK(*trusted == std::vector<std::string>{der(root), der(next)});
}

TEST_CASE(
    "ensureTrustFiles: without system roots the bundle is the CA; a named bundle must hold it",
    "[tls][trust]") {
  TempDir tmp;
  const std::string dir = (tmp.path / "ca").string();
  const std::string ca = newCa(dir);
  auto files = lens::tls::ensureTrustFiles(dir, ca, "", (tmp.path / "missing.pem").string());
  REQUIRE(files.ok());
  CHECK(slurp(files->bundle) == ca);

  const std::string other = newCa(tmp.path / "other");
  write(tmp.path / "stale.pem", other);
  auto stale = lens::tls::ensureTrustFiles(dir, ca, (tmp.path / "stale.pem").string(), "");
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().code == lens::ErrorCode::kInvalidInput);
  CHECK_THAT(stale.error().message, Catch::Contains("does not hold the CA certificate"));

  write(tmp.path / "mine.pem", other + ca);
  auto named = lens::tls::ensureTrustFiles(dir, ca, (tmp.path / "mine.pem").string(), "");
  REQUIRE(named.ok());
  CHECK(named->bundle == (tmp.path / "mine.pem").string());
  auto trusted =
      lens::tls::trustedCertificates(slurp(named->trustStore), lens::tls::kTrustStorePassword);
  REQUIRE(trusted.ok());
  CHECK(*trusted == std::vector<std::string>{der(other), der(ca)});
}
