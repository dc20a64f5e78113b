#include "libcommon/tls/ca.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "tests/unit/temp_dir.h"

namespace {

using lens::test::slurp;
using lens::test::TempDir;
using lens::tls::CaOutcome;

unsigned modeOf(const std::filesystem::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// What a strict verifier says of the certificate as its own trust anchor.
int strictVerify(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  REQUIRE(cert != nullptr);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, cert);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, cert, nullptr);
  X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
  const int ok = X509_verify_cert(ctx);
  const int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(cert);
  return err;
}

}  // namespace

TEST_CASE("initCa creates a P-256 CA: key 0600, certificate 0644, accepted by a strict verifier",
          "[tls][ca]") {
  TempDir tmp;
  const std::string dir = (tmp.path / "ca").string();
  auto made = lens::tls::initCa(dir, 30, false);
  REQUIRE(made.ok());
  CHECK(made->outcome == CaOutcome::kCreated);
  CHECK(modeOf(tmp.path / "ca") == 0755);
  CHECK(modeOf(tmp.path / "ca" / "ca.key") == 0600);
  CHECK(modeOf(tmp.path / "ca" / "ca.crt") == 0644);
  CHECK(made->info.subject == "CN = Lens Sandbox CA, O = Lens Sandbox");
  CHECK(made->info.fingerprint.size() == 32 * 3 - 1);
  CHECK_FALSE(made->info.expired);
  CHECK(made->info.certPem == slurp(tmp.path / "ca" / "ca.crt"));
  CHECK(slurp(tmp.path / "ca" / "ca.key").starts_with("-----BEGIN PRIVATE KEY-----"));
  CHECK(strictVerify(made->info.certPem) == X509_V_OK);

  auto loaded = lens::tls::loadCa(dir);
  REQUIRE(loaded.ok());
  CHECK(loaded->fingerprint == made->info.fingerprint);
}

TEST_CASE("initCa keeps a usable CA and replaces it only when told", "[tls][ca]") {
  TempDir tmp;
  const std::string dir = tmp.path.string();
  auto first = lens::tls::initCa(dir, 30, false);
  REQUIRE(first.ok());
  auto again = lens::tls::initCa(dir, 30, false);
  REQUIRE(again.ok());
  CHECK(again->outcome == CaOutcome::kKept);
  CHECK(again->info.fingerprint == first->info.fingerprint);
  auto replaced = lens::tls::initCa(dir, 30, true);
  REQUIRE(replaced.ok());
  CHECK(replaced->outcome == CaOutcome::kReplaced);
  CHECK(replaced->info.fingerprint != first->info.fingerprint);
}

TEST_CASE("A CA that cannot be used is named, and kept until replaced", "[tls][ca]") {
  TempDir tmp;
  const std::string dir = tmp.path.string();
  const auto key = tmp.path / "ca.key";
  const auto cert = tmp.path / "ca.crt";

  SECTION("only the certificate") {
    std::ofstream(cert) << "-----BEGIN CERTIFICATE-----\n";
    auto loaded = lens::tls::loadCa(dir);
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().code == lens::ErrorCode::kNotFound);
    auto init = lens::tls::initCa(dir, 30, false);
    REQUIRE_FALSE(init.ok());
    CHECK_THAT(init.error().message,
               Catch::Contains("ca.key does not exist") && Catch::Contains("--force"));
    CHECK(slurp(cert) == "-----BEGIN CERTIFICATE-----\n");
    CHECK(lens::tls::initCa(dir, 30, true).ok());
  }
  SECTION("a key others may read") {
    REQUIRE(lens::tls::initCa(dir, 30, false).ok());
    std::filesystem::permissions(key, std::filesystem::perms::others_read,
                                 std::filesystem::perm_options::add);
    auto loaded = lens::tls::loadCa(dir);
    REQUIRE_FALSE(loaded.ok());
    CHECK_THAT(loaded.error().message, Catch::Contains("mode 0604") && Catch::Contains("0600"));
  }
  SECTION("a key another user owns") {
    REQUIRE(lens::tls::initCa(dir, 30, false).ok());
    if (::geteuid() == 0) {
      REQUIRE(::chown(key.c_str(), 65534, 65534) == 0);
      auto loaded = lens::tls::loadCa(dir);
      REQUIRE_FALSE(loaded.ok());
      CHECK_THAT(loaded.error().message, Catch::Contains("belongs to uid 65534"));
    } else {
      WARN("not checked: giving the key to another user needs root");
    }
  }
  SECTION("a key of another CA") {
    TempDir other;
    REQUIRE(lens::tls::initCa(other.path.string(), 30, false).ok());
    REQUIRE(lens::tls::initCa(dir, 30, false).ok());
    std::filesystem::copy_file(other.path / "ca.key", key,
                               std::filesystem::copy_options::overwrite_existing);
    auto loaded = lens::tls::loadCa(dir);
    REQUIRE_FALSE(loaded.ok());
    CHECK_THAT(loaded.error().message, Catch::Contains("does not belong to the certificate"));
  }
  SECTION("not PEM") {
    REQUIRE(lens::tls::initCa(dir, 30, false).ok());
    std::ofstream(cert, std::ios::trunc) << "hello";
    auto loaded = lens::tls::loadCa(dir);
    REQUIRE_FALSE(loaded.ok());
    CHECK_THAT(loaded.error().message, Catch::Contains("not a PEM certificate"));
  }
  SECTION("zero days") {
    auto init = lens::tls::initCa(dir, 0, false);
    REQUIRE_FALSE(init.ok());
    CHECK(init.error().code == lens::ErrorCode::kInvalidArgument);
  }
}

TEST_CASE("appendToBundle adds the CA once, on its own line", "[tls][ca]") {
  const std::string ca = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n";
  CHECK(lens::tls::appendToBundle("", ca) == ca);
  CHECK(lens::tls::appendToBundle("x", ca) == "x\n" + ca);
  const std::string once = lens::tls::appendToBundle("x\n", ca);
  CHECK(lens::tls::appendToBundle(once, ca) == once);
}
