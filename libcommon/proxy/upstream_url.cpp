#include "libcommon/proxy/upstream_url.h"

#include <algorithm>
#include <optional>

#include "libcommon/net/host_port.h"
#include "libcommon/util/base64.h"
#include "libcommon/util/strings.h"

namespace lens::proxy {

namespace {

Error invalid(std::string what) {
  return makeError(ErrorCode::kInvalidPolicy, "proxyUpstream: " + std::move(what));
}

std::optional<std::string> percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = util::hexDigitValue(s[i + 1]);
    const int lo = util::hexDigitValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

}  // namespace

std::string UpstreamProxy::redacted() const {
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(tls ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

Result<UpstreamProxy> parseUpstreamProxy(std::string_view url) {
  UpstreamProxy out;
  std::string_view rest;
  if (url.size() >= 7 && util::iequals(url.substr(0, 7), "http://")) {
    rest = url.substr(7);
  } else if (url.size() >= 8 && util::iequals(url.substr(0, 8), "https://")) {
    out.tls = true;
    rest = url.substr(8);
  } else {
    return invalid("must start with http:// or https://");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#") != std::string_view::npos)
    return invalid("must not have a path, query or fragment");
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    auto user = percentDecode(userinfo.substr(0, colon));
    auto pass = percentDecode(colon == std::string_view::npos ? std::string_view()
                                                              : userinfo.substr(colon + 1));
    if (!user || !pass) return invalid("bad percent-escape in the user information");
    if (user->empty()) return invalid("empty user name before '@'");
    out.authorization = "Basic " + util::base64Encode(*user + ":" + *pass);
  }
  if (rest.empty()) return invalid("no host");
  if (rest.front() != '[' && std::count(rest.begin(), rest.end(), ':') > 1) {
    return invalid("an IPv6 address must be in brackets");
  }
  auto hp = net::parseHostPort(rest);
  if (!hp) return invalid(hp.error().message);
  out.host = std::move(hp->host);
  if (hp->port) out.port = *hp->port;
  return out;
}

}  // namespace lens::proxy
