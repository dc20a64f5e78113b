#include "libcommon/sync/control_socket.h"

#include <Poco/Buffer.h>
#include <Poco/Exception.h>
#include <Poco/Net/DNS.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HostEntry.h>
#include <Poco/Net/IPAddress.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>
#include <vector>

#include "libcommon/log/logging.h"
#include "libcommon/net/socket_mark.h"
#include "libcommon/util/strings.h"

namespace lens::sync {

namespace {

using Poco::Net::WebSocket;

Error badUrl(std::string_view url, const std::string& why) {
  return makeError(ErrorCode::kInvalidArgument,
                   "invalid control-plane URL \"" + std::string(url) + "\": " + why);
}

constexpr int kPongFlags =
    static_cast<int>(WebSocket::FRAME_FLAG_FIN) | static_cast<int>(WebSocket::FRAME_OP_PONG);
constexpr int kPingFlags =
    static_cast<int>(WebSocket::FRAME_FLAG_FIN) | static_cast<int>(WebSocket::FRAME_OP_PING);

Poco::Timespan span(std::chrono::milliseconds ms) {
  return Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(ms.count()) * 1000);
}

std::string hostHeader(const ControlUrl& url) {
  const bool v6 = url.host.find(':') != std::string::npos;
  std::string out = v6 ? "[" + url.host + "]" : url.host;
  const std::uint16_t defaultPort = url.secure ? 443 : 80;
  if (url.port != defaultPort) out += ":" + std::to_string(url.port);
  return out;
}

std::vector<Poco::Net::IPAddress> resolve(const std::string& host) {
  Poco::Net::IPAddress literal;
  if (Poco::Net::IPAddress::tryParse(host, literal)) return {literal};
  const Poco::Net::HostEntry entry = Poco::Net::DNS::hostByName(host);
  std::vector<Poco::Net::IPAddress> out(entry.addresses().begin(), entry.addresses().end());
  return out;
}

}  // namespace

std::string ControlUrl::text() const {
  return std::string(secure ? "wss://" : "ws://") + hostHeader(*this) + target;
}

Result<ControlUrl> parseControlUrl(std::string_view url) {
  ControlUrl out;
  const auto sep = url.find("://");
  if (sep == std::string_view::npos)
    return badUrl(url, "expected ws://HOST[:PORT]/PATH or wss://...");
  const std::string scheme = util::toLower(url.substr(0, sep));
  if (scheme == "wss") {
    out.secure = true;
  } else if (scheme != "ws") {
    return badUrl(url, "the scheme must be ws or wss");
  }
  std::string_view rest = url.substr(sep + 3);
  for (char c : rest) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return badUrl(url, "spaces and control characters are not allowed");
  }
  const auto end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) {
    return badUrl(
        url, "user information is not allowed (give the token with --token-file or LENS_TOKEN)");
  }
  std::string_view portText;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return badUrl(url, "unterminated [IPv6 address]");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return badUrl(url, "unexpected text after ]");
      portText = after.substr(1);
      if (portText.empty()) return badUrl(url, "empty port");
    }
    Poco::Net::IPAddress ip;
    if (!Poco::Net::IPAddress::tryParse(out.host, ip) ||
        ip.family() != Poco::Net::IPAddress::IPv6) {
      return badUrl(url, "[" + out.host + "] is not an IPv6 address");
    }
  } else {
    const auto colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      portText = authority.substr(colon + 1);
      if (portText.empty()) return badUrl(url, "empty port");
    }
  }
  if (out.host.empty()) return badUrl(url, "no host");
  out.port = out.secure ? 443 : 80;
  if (!portText.empty()) {
    const auto port = util::parseDecimal(portText, 65535);
    if (!port || *port == 0) return badUrl(url, "the port must be a number from 1 to 65535");
    out.port = static_cast<std::uint16_t>(*port);
  }
  const auto hash = target.find('#');
  if (hash != std::string_view::npos) target = target.substr(0, hash);
  out.target = target.empty()
                   ? "/"
                   : (target.front() == '?' ? "/" + std::string(target) : std::string(target));
  return out;
}

Result<Poco::Net::Context::Ptr> makeTlsContext(const std::string& caFile, const std::string& host) {
  try {
    Poco::Net::Context::Params params;
    params.verificationMode =
        Poco::Net::Context::VERIFY_RELAXED;  // the client verifies the server's chain
    params.loadDefaultCAs = true;            // the system roots
    params.caLocation = caFile;              // plus --ca-file
    params.verificationDepth = 9;
    params.cipherList = "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES";
    Poco::Net::Context::Ptr ctx =
        new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
    ctx->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
    // The certificate must name the host (RFC 6125, checked by OpenSSL while
    // it verifies the chain). Poco's own check is off: when names differ it
    // falls back to resolving the names in the certificate and comparing
    // addresses, which a DNS answer can satisfy.
    ctx->enableExtendedCertificateVerification(false);
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx->sslContext());
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    Poco::Net::IPAddress ip;
    const int set = Poco::Net::IPAddress::tryParse(host, ip)
                        ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                        : X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    if (set != 1)
      return makeError(ErrorCode::kInvalidArgument,
                       "cannot check TLS certificates for host " + host);
    return ctx;
  } catch (const Poco::Exception& e) {
    return makeError(ErrorCode::kInvalidArgument,
                     "cannot set up TLS" +
                         (caFile.empty() ? std::string() : " with --ca-file " + caFile) + ": " +
                         e.displayText());
  }
}

std::variant<std::unique_ptr<ControlSocket>, ConnectError> ControlSocket::connect(
    const ConnectOptions& o) {
  const ControlUrl& url = o.url;
  std::unique_ptr<ControlSocket> self(new ControlSocket());
  self->maxMessage_ = o.maxMessage;
  Poco::Net::HTTPResponse response;
  try {
    std::vector<Poco::Net::IPAddress> addresses;
    try {
      addresses = resolve(url.host);
    } catch (const Poco::Exception& e) {
      return ConnectError{false, 0, "cannot resolve " + url.host + ": " + e.displayText()};
    }
    Poco::Net::StreamSocket sock;
    std::string lastError = "no address for " + url.host;
    bool connected = false;
    for (const Poco::Net::IPAddress& ip : addresses) {
      const Poco::Net::SocketAddress address(ip, url.port);
      try {
        Poco::Net::StreamSocket candidate(address.family());
        if (o.mark != 0) {
          auto marked = net::markSocket(candidate.impl()->sockfd(), o.mark);
          if (!marked) return ConnectError{false, 0, marked.error().message};
          self->marked_ = *marked == net::MarkResult::kMarked;
        }
        candidate.connect(address, span(o.timeout));
        sock = candidate;
        connected = true;
        break;
      } catch (const Poco::Exception& e) {
        lastError = address.toString() + ": " + e.displayText();
      }
    }
    if (!connected) return ConnectError{false, 0, "cannot connect: " + lastError};
    sock.setReceiveTimeout(span(o.timeout));
    sock.setSendTimeout(span(o.timeout));

    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, url.target,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    request.set("Host", hostHeader(url));
    request.set("Authorization", "Bearer " + o.token);
    request.set("User-Agent", "lens-policy-sync/" LENS_VERSION);
    // HTTPSClientSession insists on connecting itself (it sets the port),
    // so the TLS socket goes into a plain session: the session only frames
    // HTTP, the socket does TLS.
    Poco::Net::StreamSocket transport = sock;
    if (url.secure) {
      Poco::Net::SecureStreamSocket tls =
          Poco::Net::SecureStreamSocket::attach(sock, url.host, o.tls);
      tls.setReceiveTimeout(span(o.timeout));
      tls.setSendTimeout(span(o.timeout));
      transport = tls;
    }
    Poco::Net::HTTPClientSession session(transport);
    session.setTimeout(span(o.timeout));
    self->ws_ = std::make_unique<WebSocket>(session, request, response);
  } catch (const Poco::Net::WebSocketException& e) {
    const int status = static_cast<int>(response.getStatus());
    if (status == 401 || status == 403) {
      return ConnectError{true, status,
                          "the control plane refused the token: HTTP " + std::to_string(status) +
                              " " + response.getReason()};
    }
    if (status != 200 && status != 101) {
      return ConnectError{
          false, status,
          "upgrade refused: HTTP " + std::to_string(status) + " " + response.getReason()};
    }
    return ConnectError{false, 0, "WebSocket upgrade failed: " + e.displayText()};
  } catch (const Poco::Net::SSLException& e) {
    return ConnectError{false, 0, "TLS: " + e.displayText()};
  } catch (const Poco::Exception& e) {
    return ConnectError{false, 0, e.displayText()};
  }
  const auto ceiling = std::clamp<std::size_t>(o.maxMessage * 4, 64u << 20, INT_MAX);
  self->ws_->setMaxPayloadSize(static_cast<int>(ceiling));
  self->ws_->setReceiveTimeout(span(o.timeout));
  self->ws_->setSendTimeout(span(o.timeout));
  return self;
}

ControlSocket::~ControlSocket() {
  if (ws_) {
    try {
      ws_->close();
    } catch (const Poco::Exception&) {
      // closing a broken socket: nothing left to do
    }
  }
}

int ControlSocket::fd() const { return ws_->impl()->sockfd(); }

bool ControlSocket::buffered() {
  try {
    return ws_->available() > 0;
  } catch (const Poco::Exception&) {
    return true;  // let receive() report the error
  }
}

Result<ControlSocket::Message> ControlSocket::receive() {
  Message out;
  Poco::Buffer<char> buf(0);
  int flags = 0;
  int n = 0;
  try {
    n = ws_->receiveFrame(buf, flags);
  } catch (const Poco::Exception& e) {
    return makeError(ErrorCode::kIo, e.displayText());
  }
  if (n == 0 && flags == 0) {
    closed_ = true;
    out.kind = Kind::kClose;
    out.closeCode = 1006;  // no close frame
    return out;
  }
  const int opcode = flags & WebSocket::FRAME_OP_BITMASK;
  const bool fin = (flags & WebSocket::FRAME_FLAG_FIN) != 0;
  const std::size_t size = n > 0 ? static_cast<std::size_t>(n) : 0;
  try {
    switch (opcode) {
      case WebSocket::FRAME_OP_PING:
        ws_->sendFrame(buf.begin(), n, kPongFlags);
        return out;
      case WebSocket::FRAME_OP_PONG:
        out.kind = Kind::kPong;
        return out;
      case WebSocket::FRAME_OP_CLOSE:
        out.kind = Kind::kClose;
        out.closeCode = size >= 2 ? (static_cast<unsigned char>(buf[0]) << 8) |
                                        static_cast<unsigned char>(buf[1])
                                  : 1005;
        if (!closed_) {
          closed_ = true;
          ws_->shutdown(static_cast<Poco::UInt16>(WebSocket::WS_NORMAL_CLOSE));
        }
        return out;
      case WebSocket::FRAME_OP_TEXT:
      case WebSocket::FRAME_OP_BINARY:
        if (assembling_ != Assembling::kNothing)
          return makeError(ErrorCode::kIo, "a new message inside a fragmented one");
        assembling_ = opcode == WebSocket::FRAME_OP_TEXT ? Assembling::kText : Assembling::kBinary;
        message_.clear();
        messageSize_ = 0;
        discarding_ = assembling_ == Assembling::kBinary;
        break;
      case WebSocket::FRAME_OP_CONT:
        if (assembling_ == Assembling::kNothing)
          return makeError(ErrorCode::kIo, "a continuation frame without a message");
        break;
      default:
        return makeError(ErrorCode::kIo, "reserved opcode " + std::to_string(opcode));
    }
  } catch (const Poco::Exception& e) {
    return makeError(ErrorCode::kIo, e.displayText());
  }
  messageSize_ += size;
  if (!discarding_ && messageSize_ > maxMessage_) {
    discarding_ = true;
    message_.clear();
    message_.shrink_to_fit();
  }
  if (!discarding_) message_.append(buf.begin(), size);
  if (!fin) return out;
  out.size = messageSize_;
  if (assembling_ == Assembling::kBinary) {
    out.kind = Kind::kBinary;
  } else if (discarding_) {
    out.kind = Kind::kOversized;
  } else {
    out.kind = Kind::kText;
    out.text = std::move(message_);
  }
  message_.clear();
  assembling_ = Assembling::kNothing;
  discarding_ = false;
  return out;
}

Status ControlSocket::sendText(std::string_view text) {
  try {
    ws_->sendFrame(text.data(), static_cast<int>(text.size()), WebSocket::FRAME_TEXT);
    return Ok{};
  } catch (const Poco::Exception& e) {
    return makeError(ErrorCode::kIo, e.displayText());
  }
}

Status ControlSocket::sendPing() {
  try {
    static constexpr char kPayload[] = "lens";
    ws_->sendFrame(kPayload, 4, kPingFlags);
    return Ok{};
  } catch (const Poco::Exception& e) {
    return makeError(ErrorCode::kIo, e.displayText());
  }
}

void ControlSocket::close(int code, std::chrono::milliseconds wait) {
  if (!ws_ || closed_) return;
  closed_ = true;
  try {
    ws_->shutdown(static_cast<Poco::UInt16>(code));
    ws_->setReceiveTimeout(span(wait));
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < deadline) {
      Poco::Buffer<char> buf(0);
      int flags = 0;
      const int n = ws_->receiveFrame(buf, flags);
      if ((n == 0 && flags == 0) ||
          (flags & WebSocket::FRAME_OP_BITMASK) == WebSocket::FRAME_OP_CLOSE)
        break;
    }
  } catch (const Poco::Exception&) {
    // the peer went away without answering: the close is done from our side
  }
}

}  // namespace lens::sync
