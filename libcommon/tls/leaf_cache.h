#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "libcommon/tls/openssl_handles.h"
#include "libcommon/util/off_loop.h"
#include "libcommon/util/result.h"

namespace lens::tls {

// The interception CA loaded into memory once (its key never read again):
// the certificate and key that sign the leaves.
class SigningCa {
 public:
  // Loads DIR/ca.crt and DIR/ca.key as loadCa() checks them; an expired CA
  // is an error (a leaf it signs would not verify).
  [[nodiscard]] static Result<std::shared_ptr<const SigningCa>> load(const std::string& dir);

  [[nodiscard]] X509* cert() const { return cert_.get(); }
  [[nodiscard]] EVP_PKEY* key() const { return key_.get(); }

 private:
  SigningCa() = default;
  Cert cert_;
  Pkey key_;
};

struct LeafOptions {
  std::size_t capacity = 1024;  // leaves kept (least recently used dropped)
  std::vector<std::string> alpn{
      "http/1.1"};  // protocols the server side accepts, in preference order
};

// A leaf certificate for one name: what a TLS server context needs.
struct Leaf {
  Cert cert;
  Pkey key;
};

// Mints a leaf for `name` (a host name, or an IP address literal): a fresh
// ECDSA P-256 key; subjectAltName DNS:name or IP:name; CN = name (when it
// fits the 64 characters X.520 allows); AKI/SKI; critical keyUsage
// digitalSignature; EKU serverAuth; critical CA:FALSE; valid from an hour
// ago for 30 days, never past the CA's notAfter.
[[nodiscard]] Result<Leaf> mintLeaf(const SigningCa& ca, std::string_view name);

// TLS server contexts presenting a leaf per name (leaf + CA chain), minted on
// first use and kept in a bounded least-recently-used cache. The contexts
// choose an ALPN protocol from `alpn` and refuse a client that offers only
// others (alpnRefused()).
//
// Minting costs about a millisecond (key, signature, and OpenSSL 3's
// context set-up; more on a busy machine), so a proxy never mints on its
// event loop: find() answers from the cache, mint() hands the name to a
// worker thread and calls back on the owner's thread from collect(), which
// the owner calls when notifyFd() is readable. context() mints in place
// (tests, tools).
class LeafCache {
 public:
  using Context = std::shared_ptr<ssl_ctx_st>;
  using Done = std::function<void(Result<Context>)>;

  LeafCache(std::shared_ptr<const SigningCa> ca, LeafOptions options);
  ~LeafCache();
  LeafCache(const LeafCache&) = delete;
  LeafCache& operator=(const LeafCache&) = delete;

  // `name` in lower case without a trailing dot. The cached context, or
  // null when it must be minted.
  [[nodiscard]] Context find(const std::string& name);
  // Mints `name` off the calling thread; `done` runs from collect(). Asks
  // for the same name while it is minted share one mint.
  void mint(const std::string& name, Done done);
  // Readable (an eventfd) when minted leaves wait for collect().
  [[nodiscard]] int notifyFd() const { return worker_.notifyFd(); }
  // Caches what the worker minted and calls the waiting callbacks.
  void collect() { worker_.collect(); }
  // find(), or mint now on this thread.
  [[nodiscard]] Result<Context> context(const std::string& name);

  [[nodiscard]] std::uint64_t mints() const { return mints_; }
  [[nodiscard]] std::uint64_t hits() const { return hits_; }
  [[nodiscard]] std::size_t size() const { return entries_.size(); }

 private:
  using Order = std::list<std::string>;  // most recent first
  struct Entry {
    Context context;
    Order::iterator position;
    time_t notAfter = 0;  // of the leaf (0: unknown, minted again on the next ask)
  };

  void insert(const std::string& name, Context context);
  void minted(const std::string& name, Result<Context> made);

  std::shared_ptr<const SigningCa> ca_;
  LeafOptions options_;
  std::string alpnWire_;  // options_.alpn in ALPN wire format
  Order order_;
  std::unordered_map<std::string, Entry> entries_;
  std::unordered_map<std::string, std::vector<Done>> waiting_;  // names being minted
  std::uint64_t mints_ = 0;
  std::uint64_t hits_ = 0;

  util::OffLoop worker_;  // last: stopped before the rest goes
};

// A TLS server context presenting a fresh leaf for `name`, chained to the
// CA, accepting the protocols of `alpnWire` (ALPN wire format; "" any).
[[nodiscard]] Result<std::shared_ptr<ssl_ctx_st>> serverContext(const SigningCa& ca,
                                                                const std::string& name,
                                                                const std::string& alpnWire);

// True when a server context of a LeafCache refused the handshake of `ssl`
// because the client offered ALPN protocols and none it accepts.
[[nodiscard]] bool alpnRefused(const SSL* ssl);

// The connection `ssl` (of a LeafCache context, before its handshake)
// accepts `protocols` (preference order) instead of its context's list:
// what the origin chose, when the proxy asked it first. False when out of
// memory (the context's list stays).
[[nodiscard]] bool offerAlpn(SSL* ssl, const std::vector<std::string>& protocols);

}  // namespace lens::tls
