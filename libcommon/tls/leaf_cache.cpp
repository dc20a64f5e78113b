#include "libcommon/tls/leaf_cache.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <ctime>

#include "libcommon/net/ip_address.h"
#include "libcommon/tls/ca.h"
#include "libcommon/util/file.h"

namespace lens::tls {

namespace {

constexpr long kBackdate = 3600;            // seconds: a client clock slightly behind still accepts
constexpr long kLifetime = 30L * 86400L;    // seconds
constexpr std::size_t kMaxCommonName = 64;  // ub-common-name (RFC 5280)

Error cryptoError(const std::string& what) {
  return makeError(ErrorCode::kInternal, what + ": " + opensslError());
}

int alpnIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// The context owns its copy of the ALPN list (the callback's argument), so
// a context outliving its cache stays valid.
void freeAlpn(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::string*>(ptr);
}

int alpnListIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, freeAlpn);
  return index;
}

// One connection's own list (offerAlpn), owned by its SSL.
int alpnOfferIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, freeAlpn);
  return index;
}

std::string alpnWire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& p : protocols) {
    wire.push_back(static_cast<char>(p.size()));
    wire += p;
  }
  return wire;
}

// Chooses the first of our protocols the client offers (ours in preference
// order: the connection's own list, else the context's); a client that offers only others gets a
// no_application_protocol alert. A client that offers no ALPN at all is not asked.
int selectAlpn(SSL* ssl, const unsigned char** out, unsigned char* outLength,
               const unsigned char* in, unsigned int inLength, void* arg) {
  const auto* offer = static_cast<const std::string*>(SSL_get_ex_data(ssl, alpnOfferIndex()));
  const auto* ours = offer != nullptr ? offer : static_cast<const std::string*>(arg);
  for (std::size_t i = 0; i < ours->size();) {
    const auto length = static_cast<unsigned char>((*ours)[i]);
    const std::string_view protocol = std::string_view(*ours).substr(i + 1, length);
    for (unsigned int j = 0; j < inLength;) {
      const unsigned int theirs = in[j];
      if (j + 1 + theirs > inLength) break;
      if (std::string_view(reinterpret_cast<const char*>(in + j + 1), theirs) == protocol) {
        *out = in + j + 1;
        *outLength = static_cast<unsigned char>(theirs);
        return SSL_TLSEXT_ERR_OK;
      }
      j += 1 + theirs;
    }
    i += 1 + length;
  }
  SSL_set_ex_data(ssl, alpnIndex(), reinterpret_cast<void*>(1));
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

Status addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Extension ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
    return cryptoError("leaf certificate extension " + value);
  return Ok{};
}

}  // namespace

bool alpnRefused(const SSL* ssl) { return SSL_get_ex_data(ssl, alpnIndex()) != nullptr; }

bool offerAlpn(SSL* ssl, const std::vector<std::string>& protocols) {
  auto wire = std::make_unique<std::string>(alpnWire(protocols));
  std::unique_ptr<std::string> before(
      static_cast<std::string*>(SSL_get_ex_data(ssl, alpnOfferIndex())));
  if (SSL_set_ex_data(ssl, alpnOfferIndex(), wire.get()) != 1) {
    (void)before.release();  // still the SSL's
    return false;
  }
  (void)wire.release();  // the SSL's now (freeAlpn)
  return true;
}

Result<std::shared_ptr<const SigningCa>> SigningCa::load(const std::string& dir) {
  auto info = loadCa(dir);
  if (!info) return info.error();
  if (info->expired)
    return makeError(ErrorCode::kInvalidInput,
                     "the CA in " + dir + " expired on " + info->notAfter);
  auto keyPem = util::readFile(caFiles(dir).key, 64 * 1024);
  if (!keyPem) return keyPem.error();
  std::shared_ptr<SigningCa> ca(new SigningCa());
  Bio certIn(BIO_new_mem_buf(info->certPem.data(), static_cast<int>(info->certPem.size())));
  ca->cert_.reset(PEM_read_bio_X509(certIn.get(), nullptr, nullptr, nullptr));
  Bio keyIn(BIO_new_mem_buf(keyPem->data(), static_cast<int>(keyPem->size())));
  ca->key_.reset(PEM_read_bio_PrivateKey(keyIn.get(), nullptr, nullptr, nullptr));
  // The key text is not kept: only the parsed key stays in memory.
  std::fill(keyPem->begin(), keyPem->end(), '\0');
  if (!ca->cert_ || !ca->key_ || X509_check_private_key(ca->cert_.get(), ca->key_.get()) != 1) {
    ERR_clear_error();
    return makeError(ErrorCode::kInvalidInput, "the CA in " + dir + " changed while it was read");
  }
  return std::shared_ptr<const SigningCa>(std::move(ca));
}

Result<Leaf> mintLeaf(const SigningCa& ca, std::string_view name) {
  if (name.empty()) return makeError(ErrorCode::kInvalidArgument, "a leaf needs a name");
  Leaf leaf;
  leaf.key.reset(EVP_EC_gen("P-256"));
  leaf.cert.reset(X509_new());
  Bignum serial(BN_new());
  if (!leaf.key || !leaf.cert || !serial) return cryptoError("cannot make a leaf key");
  X509* cert = leaf.cert.get();
  if (X509_set_version(cert, 2) != 1 ||
      BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) {
    return cryptoError("cannot set the leaf's serial number");
  }
  time_t now = time(nullptr);
  X509_time_adj_ex(X509_getm_notBefore(cert), 0, -kBackdate, &now);
  X509_time_adj_ex(X509_getm_notAfter(cert), 0, kLifetime, &now);
  if (ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(ca.cert())) > 0) {
    X509_set1_notAfter(cert, X509_get0_notAfter(ca.cert()));
  }
  const std::string text(name);
  X509_NAME* subject = X509_get_subject_name(cert);
  if (text.size() <= kMaxCommonName) {
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(text.c_str()), -1, -1, 0);
  }
  X509_set_issuer_name(cert, X509_get_subject_name(ca.cert()));
  if (X509_set_pubkey(cert, leaf.key.get()) != 1)
    return cryptoError("cannot set the leaf's public key");
  const auto ip = net::IpAddress::parse(text);
  // Without a subject (a name too long for a CN) the SAN must be critical.
  const std::string san = std::string(text.size() <= kMaxCommonName ? "" : "critical,") +
                          (ip ? "IP:" + ip->toString() : "DNS:" + text);
  if (!ip && text.find_first_of(",:\n\r") != std::string::npos) {
    return makeError(ErrorCode::kInvalidArgument, "not a host name: " + text);
  }
  for (const auto& [nid, value] :
       {std::pair<int, std::string>{NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "serverAuth"},
        {NID_subject_alt_name, san},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid:always"}}) {
    if (Status s = addExtension(cert, ca.cert(), nid, value); !s) return s.error();
  }
  if (X509_sign(cert, ca.key(), EVP_sha256()) == 0) return cryptoError("cannot sign the leaf");
  return leaf;
}

Result<std::shared_ptr<ssl_ctx_st>> serverContext(const SigningCa& ca, const std::string& name,
                                                  const std::string& alpnWire) {
  auto leaf = mintLeaf(ca, name);
  if (!leaf) return leaf.error();
  SslCtx ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return cryptoError("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Resumption by stateless tickets; the stateful cache (TLS 1.2 without
  // tickets) small, one per leaf.
  SSL_CTX_sess_set_cache_size(ctx.get(), 64);
  if (SSL_CTX_use_certificate(ctx.get(), leaf->cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), leaf->key.get()) != 1 ||
      SSL_CTX_add1_chain_cert(ctx.get(), ca.cert()) != 1) {
    return cryptoError("cannot load the leaf for " + name);
  }
  if (!alpnWire.empty()) {
    auto* list = new std::string(alpnWire);
    SSL_CTX_set_ex_data(ctx.get(), alpnListIndex(), list);
    SSL_CTX_set_alpn_select_cb(ctx.get(), selectAlpn, list);
  }
  return std::shared_ptr<ssl_ctx_st>(ctx.release(), SSL_CTX_free);
}

LeafCache::LeafCache(std::shared_ptr<const SigningCa> ca, LeafOptions options)
    : ca_(std::move(ca)), options_(std::move(options)) {
  options_.capacity = std::max<std::size_t>(options_.capacity, 1);
  alpnWire_ = alpnWire(options_.alpn);
}

LeafCache::~LeafCache() = default;

LeafCache::Context LeafCache::find(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return nullptr;
  // A leaf within a day of its end is minted again (a daemon runs longer
  // than a leaf lives).
  if (time(nullptr) + 86400 >= it->second.notAfter) {
    order_.erase(it->second.position);
    entries_.erase(it);
    return nullptr;
  }
  ++hits_;
  order_.splice(order_.begin(), order_, it->second.position);
  return it->second.context;
}

void LeafCache::insert(const std::string& name, Context context) {
  if (entries_.count(name) != 0) return;
  if (entries_.size() >= options_.capacity) {
    entries_.erase(order_.back());
    order_.pop_back();
  }
  // The end of the leaf's validity, read once (find() checks it per hit).
  time_t notAfter = 0;
  std::tm end{};
  const X509* leaf = SSL_CTX_get0_certificate(context.get());
  if (leaf != nullptr && ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &end) == 1)
    notAfter = timegm(&end);
  order_.push_front(name);
  entries_.emplace(name, Entry{std::move(context), order_.begin(), notAfter});
}

Result<LeafCache::Context> LeafCache::context(const std::string& name) {
  if (Context hit = find(name)) return hit;
  auto made = serverContext(*ca_, name, alpnWire_);
  if (!made) return made.error();
  ++mints_;
  insert(name, *made);
  return std::move(*made);
}

void LeafCache::mint(const std::string& name, Done done) {
  auto& waiters = waiting_[name];
  waiters.push_back(std::move(done));
  if (waiters.size() > 1) return;  // minted already
  // The worker reads only what never changes (the CA, the ALPN list).
  worker_.post([this, name]() -> util::OffLoop::Finish {
    auto made = std::make_shared<Result<Context>>(serverContext(*ca_, name, alpnWire_));
    return [this, name, made] { minted(name, std::move(*made)); };
  });
}

void LeafCache::minted(const std::string& name, Result<Context> made) {
  if (made) {
    ++mints_;
    insert(name, *made);
  }
  auto it = waiting_.find(name);
  if (it == waiting_.end()) return;
  std::vector<Done> callbacks = std::move(it->second);
  waiting_.erase(it);
  for (Done& done : callbacks) done(made);
}

}  // namespace lens::tls
