#include "libcommon/proxy/request_head.h"

#include "libcommon/http/forwarding.h"

#include <algorithm>
#include <limits>

#include "libcommon/http/forwarding.h"
#include "libcommon/net/host_port.h"
#include "libcommon/util/strings.h"

namespace lens::proxy {

namespace {

Error badRequest(std::string message) {
  return makeError(ErrorCode::kInvalidInput, std::move(message));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True when a comma-separated header list (Connection, Proxy-Connection)
// has `token` in it, compared case-insensitively.
bool listHas(const http::RawRequest& head, std::string_view field, std::string_view token) {
  for (const http::HeaderField& f : head.headers) {
    if (!util::iequals(f.name, field)) continue;
    const std::string value = f.value();
    for (std::string_view item : util::split(value, ',')) {
      if (util::iequals(trim(item), token)) return true;
    }
  }
  return false;
}

// The request line must be exactly METHOD SP TARGET SP VERSION: the shared
// parser is lenient about spaces inside the target, a proxy is not.
Status checkRequestLine(std::string_view head) {
  std::string_view line = head.substr(0, head.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (std::count(line.begin(), line.end(), ' ') != 2) {
    return badRequest("line 1: malformed request line, expected METHOD SP TARGET SP HTTP-VERSION");
  }
  return Ok{};
}

Result<net::HostPort> parseAuthority(std::string_view authority) {
  if (authority.find('@') != std::string_view::npos) {
    return badRequest("line 1: user information in the URL is not accepted");
  }
  if (authority.front() != '[' && std::count(authority.begin(), authority.end(), ':') > 1) {
    return badRequest("line 1: an IPv6 address in a URL must be in brackets");
  }
  auto parsed = net::parseHostPort(authority);
  if (!parsed)
    return badRequest("line 1: invalid host in the request target: " + parsed.error().message);
  return std::move(*parsed);
}

Status checkFraming(ProxyRequest& request) {
  const http::RawRequest& head = request.head;
  const std::size_t lengths = head.countHeader("content-length");
  if (lengths > 1) return badRequest("more than one Content-Length");
  std::string codings;
  for (const http::HeaderField& f : head.headers) {
    if (!util::iequals(f.name, "transfer-encoding")) continue;
    if (!codings.empty()) codings += ',';
    codings += f.value();
  }
  if (!codings.empty()) {
    if (lengths != 0)
      return badRequest("Content-Length together with Transfer-Encoding (ambiguous framing)");
    if (head.version != "HTTP/1.1") return badRequest("Transfer-Encoding in an HTTP/1.0 request");
    const auto items = util::split(codings, ',');
    if (!util::iequals(trim(items.back()), "chunked")) {
      return badRequest("Transfer-Encoding does not end with chunked (the body length is unknown)");
    }
    request.body = http::Framing::kChunked;
    return Ok{};
  }
  if (lengths == 1) {
    const auto n = util::parseDecimal(head.findHeader("content-length")->value(),
                                      std::numeric_limits<long>::max());
    if (!n) return badRequest("Content-Length is not a decimal number");
    request.contentLength = *n;
    request.body = *n == 0 ? http::Framing::kNone : http::Framing::kLength;
  }
  return Ok{};
}

// The head as the shared parser reads it (its size was bounded by the
// reader), with the checks both doors make: a strict request line, no
// obsolete line folding, one unambiguous body framing.
Result<ProxyRequest> parseRequest(std::string_view text, const RequestLimits& limits) {
  if (auto ok = checkRequestLine(text); !ok) return ok.error();
  http::RawRequestLimits raw;
  raw.maxHeadBytes = std::numeric_limits<std::size_t>::max();
  raw.maxHeaderCount = limits.maxHeaderCount;
  raw.maxBodyBytes = std::numeric_limits<std::size_t>::max();
  auto parsed = http::parseRawRequestHead(text, raw);
  if (!parsed) return parsed.error();
  ProxyRequest request;
  request.head = std::move(parsed->request);
  for (const http::HeaderField& f : request.head.headers) {
    if (f.rawValue.find('\n') != std::string::npos)
      return badRequest("obsolete line folding in a header field");
  }
  if (auto ok = checkFraming(request); !ok) return ok.error();
  return request;
}

}  // namespace

std::string ProxyRequest::authority() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<ProxyRequest> parseProxyRequest(std::string_view text, const RequestLimits& limits) {
  auto parsed = parseRequest(text, limits);
  if (!parsed) return parsed.error();
  ProxyRequest request = std::move(*parsed);
  const http::RawRequest& head = request.head;

  const std::string_view target = head.target;
  if (head.method == "CONNECT") {
    request.kind = RequestKind::kConnect;
    auto hp = parseAuthority(target);
    if (!hp) return hp.error();
    if (!hp->port) return badRequest("line 1: CONNECT needs host:port");
    request.host = std::move(hp->host);
    request.port = *hp->port;
  } else {
    request.kind = RequestKind::kForward;
    constexpr std::string_view kHttp = "http://";
    if (target.size() < kHttp.size() || !util::iequals(target.substr(0, kHttp.size()), kHttp)) {
      if (target.size() >= 8 && util::iequals(target.substr(0, 8), "https://")) {
        return badRequest("line 1: an https:// URL must be reached through CONNECT");
      }
      return badRequest("line 1: the request target must be an absolute http:// URL");
    }
    const std::string_view rest = target.substr(kHttp.size());
    const std::size_t end = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, end);
    if (authority.empty()) return badRequest("line 1: the URL has no host");
    auto hp = parseAuthority(authority);
    if (!hp) return hp.error();
    request.host = std::move(hp->host);
    request.port = hp->port.value_or(80);
    std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (const std::size_t hash = path.find('#'); hash != std::string_view::npos)
      path = path.substr(0, hash);
    request.originTarget =
        path.empty() || path.front() != '/' ? "/" + std::string(path) : std::string(path);
  }
  if (head.version == "HTTP/1.1") {
    request.keepAlive =
        !listHas(head, "connection", "close") && !listHas(head, "proxy-connection", "close");
  } else {
    // An HTTP/1.0 client keeps its connection only when it asks to.
    request.keepAlive = listHas(head, "connection", "keep-alive") ||
                        listHas(head, "proxy-connection", "keep-alive");
  }
  return request;
}

Result<ProxyRequest> parseTransparentRequest(std::string_view text, std::uint16_t defaultPort,
                                             const RequestLimits& limits) {
  auto parsed = parseRequest(text, limits);
  if (!parsed) return parsed.error();
  ProxyRequest request = std::move(*parsed);
  request.kind = RequestKind::kForward;
  const http::RawRequest& head = request.head;
  if (head.method == "CONNECT")
    return makeError(ErrorCode::kDenied, "CONNECT on a redirected connection");
  const std::string_view target = head.target;
  if (target.empty() || target.front() != '/')
    return badRequest("line 1: the request target must be in origin form (/path)");
  if (const std::size_t hash = target.find('#'); hash != std::string_view::npos) {
    request.originTarget = std::string(target.substr(0, hash));
  } else {
    request.originTarget = std::string(target);
  }
  if (head.countHeader("host") > 1) return badRequest("more than one Host header");
  const http::HeaderField* host = head.findHeader("host");
  const std::string value = host ? host->value() : std::string();
  if (value.empty()) return makeError(ErrorCode::kNotFound, "the request has no Host header");
  auto hp = parseAuthority(value);
  if (!hp) return badRequest("invalid Host header");
  request.host = std::move(hp->host);
  request.port = hp->port.value_or(defaultPort);
  if (request.port == 0) return badRequest("invalid Host header");
  request.keepAlive = head.version == "HTTP/1.1" ? !listHas(head, "connection", "close")
                                                 : listHas(head, "connection", "keep-alive");
  return request;
}

bool isWebSocketUpgrade(std::string_view upgradeValue) {
  bool any = false;
  for (std::string_view token : util::split(upgradeValue, ',')) {
    token = trim(token);
    if (token.empty()) continue;
    if (!util::iequals(token, "websocket")) return false;
    any = true;
  }
  return any;
}

bool upgradesToWebSocket(const ProxyRequest& request) {
  for (const http::HeaderField& f : request.head.headers) {
    if (util::iequals(f.name, "upgrade") && isWebSocketUpgrade(f.value())) return true;
  }
  return false;
}

std::string originFormHead(const ProxyRequest& request, std::uint16_t defaultPort,
                           std::string_view hostField) {
  const http::RawRequest& head = request.head;
  std::string out;
  out.reserve(256 + request.originTarget.size());
  out.append(head.method)
      .append(" ")
      .append(request.originTarget)
      .append(" ")
      .append(head.version)
      .append("\r\n");
  if (!hostField.empty()) {
    out.append("Host: ").append(hostField);
  } else {
    const bool v6 = request.host.find(':') != std::string::npos;
    out.append("Host: ").append(v6 ? "[" + request.host + "]" : request.host);
    if (request.port != defaultPort) out.append(":").append(std::to_string(request.port));
  }
  out.append("\r\n");
  std::string fields;
  bool upgrade = false;
  for (const http::HeaderField& f : head.headers) {
    if (util::iequals(f.name, "host")) continue;
    if (f.name.size() >= 6 && util::iequals(std::string_view(f.name).substr(0, 6), "proxy-"))
      continue;
    if (util::iequals(f.name, "upgrade")) upgrade = upgrade || isWebSocketUpgrade(f.value());
    fields.append(f.name).append(":").append(f.rawValue).append("\r\n");
  }
  // The client's connection management stays behind; an upgrade to
  // WebSocket goes on (it was judged with the request). Any other (h2c
  // above all: its streams would pass unjudged) is dropped: the origin
  // answers the request itself.
  out.append(http::stripHopByHop(fields, upgrade));
  out.append("\r\n");
  return out;
}

}  // namespace lens::proxy
