// Leaf certificates minted from the interception CA: what strict verifiers
// accept, and the cache that keeps them.
#include "libcommon/tls/leaf_cache.h"

#include <openssl/x509_vfy.h>
#include <poll.h>

#include <catch2/catch.hpp>
#include <ctime>

#include "libcommon/tls/ca.h"
#include "tests/unit/temp_dir.h"

namespace {

using lens::tls::Cert;
using lens::tls::SigningCa;

std::shared_ptr<const SigningCa> makeCa(const lens::test::TempDir& dir, int days = 365) {
  REQUIRE(lens::tls::initCa(dir.path.string(), days, false));
  auto ca = SigningCa::load(dir.path.string());
  REQUIRE(ca);
  return *ca;
}

// X509_verify_cert with X509_V_FLAG_X509_STRICT (what `openssl verify
// -x509_strict` does), for TLS servers, naming `name`.
std::string verify(const SigningCa& ca, X509* leaf, const std::string& name, bool ip) {
  std::unique_ptr<X509_STORE, lens::tls::OpensslDeleter<X509_STORE_free>> store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca.cert());
  std::unique_ptr<X509_STORE_CTX, lens::tls::OpensslDeleter<X509_STORE_CTX_free>> ctx(
      X509_STORE_CTX_new());
  REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr) == 1);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  if (ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  }
  if (X509_verify_cert(ctx.get()) == 1) return "ok";
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

int daysUntil(const ASN1_TIME* t) {
  int days = 0;
  int seconds = 0;
  ASN1_TIME_diff(&days, &seconds, nullptr, t);
  return days;
}

}  // namespace

TEST_CASE("a minted leaf verifies strictly for its host name", "[tls][leaf]") {
  lens::test::TempDir dir;
  auto ca = makeCa(dir);
  auto leaf = lens::tls::mintLeaf(*ca, "api.example.test");
  REQUIRE(leaf);
  X509* cert = leaf->cert.get();
  CHECK(verify(*ca, cert, "api.example.test", false) == "ok");
  CHECK(verify(*ca, cert, "other.example.test", false) != "ok");

  // ECDSA P-256, not a CA, for TLS servers only.
  CHECK(EVP_PKEY_get_base_id(X509_get0_pubkey(cert)) == EVP_PKEY_EC);
  CHECK(EVP_PKEY_get_bits(X509_get0_pubkey(cert)) == 256);
  CHECK(X509_check_ca(cert) == 0);
  CHECK((X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE) != 0);
  CHECK((X509_get_key_usage(cert) & KU_KEY_CERT_SIGN) == 0);
  CHECK(X509_get_extended_key_usage(cert) == XKU_SSL_SERVER);
  const int ku = X509_get_ext_by_NID(cert, NID_key_usage, -1);
  REQUIRE(ku >= 0);
  CHECK(X509_EXTENSION_get_critical(X509_get_ext(cert, ku)) == 1);
  CHECK(X509_get0_subject_key_id(cert) != nullptr);
  CHECK(X509_get0_authority_key_id(cert) != nullptr);

  // Valid from about an hour ago for 30 days.
  CHECK(X509_cmp_time(X509_get0_notBefore(cert), nullptr) < 0);
  time_t inAnHour = time(nullptr) - 3500;
  CHECK(X509_cmp_time(X509_get0_notBefore(cert), &inAnHour) < 0);
  CHECK(daysUntil(X509_get0_notAfter(cert)) >= 29);
  CHECK(daysUntil(X509_get0_notAfter(cert)) <= 30);

  char cn[128] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  CHECK(std::string(cn) == "api.example.test");
}

TEST_CASE("a leaf for an IP literal carries an IP SAN", "[tls][leaf]") {
  lens::test::TempDir dir;
  auto ca = makeCa(dir);
  for (const std::string ip : {"192.0.2.7", "2001:db8::5"}) {
    auto leaf = lens::tls::mintLeaf(*ca, ip);
    REQUIRE(leaf);
    CHECK(verify(*ca, leaf->cert.get(), ip, true) == "ok");
    CHECK(verify(*ca, leaf->cert.get(), "192.0.2.8", true) != "ok");
  }
}

TEST_CASE("a leaf never outlives its CA", "[tls][leaf]") {
  lens::test::TempDir dir;
  auto ca = makeCa(dir, 2);
  auto leaf = lens::tls::mintLeaf(*ca, "short.example.test");
  REQUIRE(leaf);
  CHECK(ASN1_TIME_compare(X509_get0_notAfter(leaf->cert.get()), X509_get0_notAfter(ca->cert())) ==
        0);
  CHECK(verify(*ca, leaf->cert.get(), "short.example.test", false) == "ok");
}

TEST_CASE("a name longer than a CN can hold is in the SAN only", "[tls][leaf]") {
  lens::test::TempDir dir;
  auto ca = makeCa(dir);
  const std::string name = std::string(70, 'a') + ".example.test";
  auto leaf = lens::tls::mintLeaf(*ca, name);
  REQUIRE(leaf);
  CHECK(X509_NAME_entry_count(X509_get_subject_name(leaf->cert.get())) == 0);
  CHECK(verify(*ca, leaf->cert.get(), name, false) == "ok");
  CHECK_FALSE(lens::tls::mintLeaf(*ca, "a,b.example.test"));
  CHECK_FALSE(lens::tls::mintLeaf(*ca, ""));
}

TEST_CASE("the leaf cache mints once per name and drops the least recently used", "[tls][leaf]") {
  lens::test::TempDir dir;
  auto ca = makeCa(dir);
  lens::tls::LeafOptions options;
  options.capacity = 2;
  lens::tls::LeafCache cache(ca, options);
  auto a = cache.context("a.test");
  REQUIRE(a);
  auto again = cache.context("a.test");
  REQUIRE(again);
  CHECK(again->get() == a->get());
  CHECK(cache.mints() == 1);
  CHECK(cache.hits() == 1);
  REQUIRE(cache.context("b.test"));
  REQUIRE(cache.context("a.test"));  // a is now the most recent
  REQUIRE(cache.context("c.test"));  // b goes
  CHECK(cache.size() == 2);
  CHECK(cache.mints() == 3);
  REQUIRE(cache.context("a.test"));
  CHECK(cache.mints() == 3);
  REQUIRE(cache.context("b.test"));
  CHECK(cache.mints() == 4);
  // A context handed out stays valid after the cache dropped it.
  lens::tls::LeafCache tiny(ca, {1, {"http/1.1"}});
  auto first = tiny.context("x.test");
  REQUIRE(first);
  REQUIRE(tiny.context("y.test"));
  CHECK(SSL_CTX_get0_certificate(first->get()) != nullptr);
}

TEST_CASE("an unusable CA directory is an error naming the problem", "[tls][leaf]") {
  lens::test::TempDir dir;
  auto missing = SigningCa::load((dir.path / "nothing").string());
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("does not exist") != std::string::npos);
}

TEST_CASE("leaves are minted off the calling thread and collected on it", "[tls][leaf]") {
  lens::test::TempDir dir;
  auto ca = makeCa(dir);
  lens::tls::LeafCache cache(ca, {});
  CHECK(cache.find("a.test") == nullptr);
  std::vector<std::string> got;
  cache.mint("a.test", [&](lens::Result<lens::tls::LeafCache::Context> c) {
    got.push_back(c ? "a ok" : "a failed");
  });
  cache.mint("a.test", [&](lens::Result<lens::tls::LeafCache::Context> c) {
    got.push_back(c ? "a again" : "failed");
  });
  cache.mint("a,b.test", [&](lens::Result<lens::tls::LeafCache::Context> c) {
    got.push_back(c ? "bad ok" : "bad failed");
  });
  CHECK(got.empty());  // nothing is called before collect()
  for (int i = 0; i < 500 && got.size() < 3; ++i) {
    pollfd p{cache.notifyFd(), POLLIN, 0};
    if (::poll(&p, 1, 10) == 1) cache.collect();
  }
  CHECK(got == std::vector<std::string>{"a ok", "a again", "bad failed"});
  CHECK(cache.mints() == 1);  // two asks for a.test shared one mint
  CHECK(cache.find("a.test") != nullptr);
  CHECK(cache.size() == 1);
}
