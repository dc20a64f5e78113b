#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/decision/request.h"
#include "libcommon/proxy/request_head.h"
#include "libcommon/proxy/stream.h"
#include "libcommon/util/result.h"

struct ssl_ctx_st;

namespace lens::proxy {

// The TLS side of one intercepted client connection (DESIGN.md 5a): the
// proxy answers the client's TLS with a leaf for the host the connection
// was judged for (the CONNECT host, or the SNI on the transparent door),
// then reads HTTP/1.1 requests inside, each judged on its own by the
// connection's pipeline. This class holds what the session knows and
// checks: the host and port every request must name, the SNI, the
// request count, and how its requests are named in audit events.
class InterceptionSession {
 public:
  // `host` as judged (a name or an IP literal), `port` as the client asked;
  // `door` kConnect or kTransparentTls.
  InterceptionSession(std::string_view host, std::uint16_t port, decision::Door door);

  // The client's stream wrapped in a TLS server with that context;
  // `initial` are the client's bytes already read (the ClientHello, or
  // what followed the CONNECT head); `alpn` the protocols offered to the
  // client when not the context's (what the origin chose).
  [[nodiscard]] static std::unique_ptr<Stream> accept(std::shared_ptr<ssl_ctx_st> leaf,
                                                      std::unique_ptr<Stream> client,
                                                      std::string initial,
                                                      const std::vector<std::string>& alpn = {});

  enum class Handshake : std::uint8_t { kDone, kWait, kFailed };
  // Drives the client's handshake; kFailed with failureReason()/failureDetail().
  Handshake handshake(Stream& client);
  [[nodiscard]] std::string_view failureReason() const { return failureReason_; }
  [[nodiscard]] const std::string& failureDetail() const { return failureDetail_; }

  // Name agreement (domain fronting): the request's Host and the SNI must
  // name the session's host (case-insensitive, trailing dot ignored) and the
  // request's port must be the session's. nullopt when they agree, else
  // what disagrees (for the audit detail; never a header value beyond names).
  [[nodiscard]] std::optional<std::string> disagreement(const ProxyRequest& request) const;

  // The engine's view of a request inside: door, host, port, method, path.
  [[nodiscard]] decision::Request engineRequest(const ProxyRequest& request) const;
  // The engine's view of the connection between requests (no method).
  [[nodiscard]] decision::Request tunnelRequest() const;
  // "GET https://host[:port]/path" (query stripped, :443 omitted).
  [[nodiscard]] std::string action(const ProxyRequest& request) const;

  [[nodiscard]] const std::string& host() const { return host_; }
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] decision::Door door() const { return door_; }
  [[nodiscard]] const std::string& sni() const { return sni_; }
  // The protocol the client's handshake chose by ALPN ("h2", "http/1.1"; "" none).
  [[nodiscard]] const std::string& alpn() const { return alpn_; }
  std::uint32_t requests = 0;  // requests read inside

 private:
  std::string host_;  // lower case, no trailing dot
  std::uint16_t port_;
  decision::Door door_;
  std::string sni_;  // what the client sent (lower case), "" none
  std::string alpn_;
  std::string_view failureReason_;
  std::string failureDetail_;
};

}  // namespace lens::proxy
