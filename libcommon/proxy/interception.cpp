#include "libcommon/proxy/interception.h"

#include "libcommon/proxy/reply.h"
#include "libcommon/util/strings.h"

namespace lens::proxy {

namespace {

std::string canonicalHost(std::string_view host) {
  std::string out = util::toLower(host);
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

}  // namespace

InterceptionSession::InterceptionSession(std::string_view host, std::uint16_t port,
                                         decision::Door door)
    : host_(canonicalHost(host)), port_(port), door_(door) {}

std::unique_ptr<Stream> InterceptionSession::accept(std::shared_ptr<ssl_ctx_st> leaf,
                                                    std::unique_ptr<Stream> client,
                                                    std::string initial,
                                                    const std::vector<std::string>& alpn) {
  return TlsStream::server(std::move(client), std::move(leaf), std::move(initial), alpn);
}

InterceptionSession::Handshake InterceptionSession::handshake(Stream& client) {
  auto& tls = static_cast<TlsStream&>(client);
  const IoResult r = tls.handshake();
  if (r.status == IoStatus::kWouldBlock) return Handshake::kWait;
  if (r.status != IoStatus::kOk) {
    failureReason_ = tls.alpnRefused() ? reason::kAlpnUnsupported : reason::kClientTlsFailed;
    failureDetail_ = tls.error();
    return Handshake::kFailed;
  }
  sni_ = canonicalHost(tls.serverName());
  alpn_ = tls.alpn();
  return Handshake::kDone;
}

std::optional<std::string> InterceptionSession::disagreement(const ProxyRequest& request) const {
  if (!sni_.empty() && sni_ != host_) {
    return "the TLS server name " + sni_ + " is not " + host_;
  }
  const std::string host = canonicalHost(request.host);
  if (host != host_ || request.port != port_) {
    return "the request's Host names " + host + ":" + std::to_string(request.port) +
           ", the connection is for " + host_ + ":" + std::to_string(port_);
  }
  return std::nullopt;
}

decision::Request InterceptionSession::engineRequest(const ProxyRequest& request) const {
  decision::Request r = tunnelRequest();
  r.method = request.head.method;
  r.path = request.originTarget;
  return r;
}

decision::Request InterceptionSession::tunnelRequest() const {
  decision::Request r;
  r.door = door_;
  r.host = host_;
  r.port = port_;
  return r;
}

std::string InterceptionSession::action(const ProxyRequest& request) const {
  const bool v6 = host_.find(':') != std::string::npos;
  std::string out = request.head.method + " https://" + (v6 ? "[" + host_ + "]" : host_);
  if (port_ != 443) out += ":" + std::to_string(port_);
  const std::string_view target = request.originTarget;
  out += target.substr(0, target.find('?'));
  return out;
}

}  // namespace lens::proxy
