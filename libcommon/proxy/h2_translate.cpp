#include "libcommon/proxy/h2_translate.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstring>

#include "libcommon/proxy/h2_common.h"

#include <algorithm>

#include "libcommon/http/raw_request.h"
#include "libcommon/util/strings.h"

namespace lens::proxy {

namespace {

Error invalid(std::string message) { return Error{ErrorCode::kInvalidInput, std::move(message)}; }

// A Sec-WebSocket-Key (RFC 6455 section 4.1): 16 random bytes, base64.
Result<std::string> webSocketKey() {
  unsigned char nonce[16];
  if (RAND_bytes(nonce, sizeof nonce) != 1) return invalid("no random bytes for a WebSocket key");
  unsigned char encoded[32];
  const int length = EVP_EncodeBlock(encoded, nonce, sizeof nonce);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(length));
}

}  // namespace

bool isConnectionSpecific(std::string_view lowerName) {
  return lowerName == "connection" || lowerName == "keep-alive" ||
         lowerName == "proxy-connection" || lowerName == "transfer-encoding" ||
         lowerName == "upgrade" || lowerName == "te";
}

Status parseFieldLines(std::string_view lines, std::vector<H2Field>& out) {
  while (!lines.empty()) {
    const std::size_t end = lines.find('\n');
    std::string_view line = lines.substr(0, end);
    lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return invalid("malformed header line");
    std::string name = util::toLower(line.substr(0, colon));
    if (isConnectionSpecific(name)) continue;
    out.push_back({std::move(name), std::string(util::trimOws(line.substr(colon + 1)))});
  }
  return Ok{};
}

Result<H1Request> h1RequestFromH2(const std::vector<H2Field>& fields, bool endStream) {
  const std::string* method = nullptr;
  const std::string* scheme = nullptr;
  const std::string* path = nullptr;
  const std::string* authority = nullptr;
  const std::string* protocol = nullptr;
  const std::string* host = nullptr;
  bool hasLength = false;
  std::string cookie;
  auto once = [](const std::string*& slot, const H2Field& f) -> Status {
    if (slot != nullptr) return invalid("repeated " + f.name);
    slot = &f.value;
    return Ok{};
  };
  for (const H2Field& f : fields) {
    if (!f.name.empty() && f.name.front() == ':') {
      Status ok = Ok{};
      if (f.name == ":method") {
        ok = once(method, f);
      } else if (f.name == ":scheme") {
        ok = once(scheme, f);
      } else if (f.name == ":path") {
        ok = once(path, f);
      } else if (f.name == ":authority") {
        ok = once(authority, f);
      } else if (f.name == ":protocol") {
        ok = once(protocol, f);
      } else {
        return invalid("unknown pseudo-header field");
      }
      if (!ok) return ok.error();
    } else if (f.name == "host") {
      if (host != nullptr) return invalid("repeated host");
      host = &f.value;
    } else if (f.name == "te" && !util::iequals(util::trimOws(f.value), "trailers")) {
      return invalid("te other than trailers");
    } else if (f.name == "transfer-encoding") {
      return invalid("transfer-encoding in an HTTP/2 request");
    } else if (f.name == "content-length") {
      hasLength = true;
    }
  }
  if (method == nullptr) return invalid("no :method");
  const bool webSocket = protocol != nullptr;
  if (*method == "CONNECT" && !webSocket)
    return invalid("CONNECT inside an intercepted connection");
  if (webSocket && *method != "CONNECT") return invalid(":protocol without CONNECT");
  if (webSocket && !util::iequals(*protocol, "websocket"))
    return invalid("extended CONNECT for a protocol other than websocket");
  if (scheme == nullptr || path == nullptr) return invalid("no :scheme or :path");
  if (*scheme != "https") return invalid(":scheme is not https");
  if (path->empty() || (path->front() != '/' && !(*path == "*" && *method == "OPTIONS")))
    return invalid(":path is not in origin form");
  if (authority == nullptr && host == nullptr) return invalid("no :authority and no host");
  if (authority != nullptr && host != nullptr && !util::iequals(*authority, *host))
    return invalid("host disagrees with :authority");
  const std::string& name = authority != nullptr ? *authority : *host;
  if (name.empty()) return invalid("empty :authority");

  H1Request out;
  out.method = webSocket ? "GET" : *method;
  out.webSocket = webSocket;
  std::string& head = out.head;
  head.reserve(256);
  head.append(out.method).append(" ").append(*path).append(" HTTP/1.1\r\nHost: ").append(name);
  head.append("\r\n");
  if (webSocket) {
    auto key = webSocketKey();
    if (!key) return key.error();
    head.append("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ")
        .append(*key)
        .append("\r\n");
  }
  for (const H2Field& f : fields) {
    if (f.name.front() == ':' || f.name == "host" || f.name == "te") continue;
    if (webSocket && (f.name == "sec-websocket-key" || f.name == "content-length")) continue;
    if (f.name == "cookie") {  // crumbs, joined into the one field HTTP/1.1 allows
      if (!cookie.empty()) cookie.append("; ");
      cookie.append(f.value);
      continue;
    }
    head.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  if (!cookie.empty()) head.append("cookie: ").append(cookie).append("\r\n");
  if (!endStream && !hasLength && !webSocket) {
    head.append("transfer-encoding: chunked\r\n");
    out.chunked = true;
  }
  head.append("\r\n");
  return out;
}

Result<H1ResponseReader::Event> H1ResponseReader::decodeHead(std::string& in) {
  const std::optional<std::size_t> end = http::findHeadEnd(in);
  if (!end) {
    if (in.size() > 256 * 1024) return invalid("response head too large");
    return Event::kNeedMore;
  }
  const std::string_view head = std::string_view(in).substr(0, *end);
  auto parsed = http::parseResponseHead(head, method_);
  if (!parsed) return parsed.error();
  if (parsed->status == 101 && !webSocket_)
    return invalid("an upgrade cannot be answered on an HTTP/2 stream");
  if (webSocket_ && parsed->status >= 200 && parsed->status < 300)
    return invalid("the origin answered the WebSocket handshake without switching protocols");
  fields_.clear();
  const std::size_t lineEnd = head.find('\n');
  if (auto ok = parseFieldLines(head.substr(lineEnd + 1), fields_); !ok) return ok.error();
  status_ = parsed->status;
  in.erase(0, *end);
  if (status_ == 101) {  // the WebSocket is open: 200, then its bytes until the close
    std::erase_if(fields_, [](const H2Field& f) {
      return f.name == "sec-websocket-accept" || f.name == "content-length";
    });
    status_ = 200;
    framing_ = http::Framing::kUntilClose;
    phase_ = Phase::kBody;
    return Event::kHead;
  }
  if (status_ < 200) return Event::kInterim;
  framing_ = parsed->framing;
  remaining_ = parsed->contentLength;
  // (A HEAD or 304 answer's length describes the body it does not have.)
  const bool describes = method_ == "HEAD" || status_ == 304;
  if ((framing_ != http::Framing::kLength && !describes) || status_ == 204) {
    std::erase_if(fields_, [](const H2Field& f) { return f.name == "content-length"; });
  }
  phase_ = framing_ == http::Framing::kNone ? Phase::kEnded : Phase::kBody;
  return Event::kHead;
}

Result<H1ResponseReader::Event> H1ResponseReader::decode(std::string& in, bool eof) {
  data_.clear();
  switch (phase_) {
    case Phase::kHead: {
      auto event = decodeHead(in);
      if (event && *event == Event::kNeedMore && eof) return invalid("the response ended early");
      return event;
    }
    case Phase::kEnded:
      if (!in.empty()) return invalid("bytes after the response");
      return Event::kNeedMore;
    case Phase::kBody:
      break;
  }
  switch (framing_) {
    case http::Framing::kLength: {
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
      remaining_ -= take;
      if (take > 0) {
        data_.assign(in, 0, take);
        in.erase(0, take);
        return Event::kData;
      }
      if (remaining_ == 0) {
        phase_ = Phase::kEnded;
        return Event::kEnd;
      }
      if (eof) return invalid("the response body ended early");
      return Event::kNeedMore;
    }
    case http::Framing::kUntilClose:
      if (!in.empty()) {
        data_.swap(in);
        in.clear();
        return Event::kData;
      }
      if (eof) {
        phase_ = Phase::kEnded;
        return Event::kEnd;
      }
      return Event::kNeedMore;
    case http::Framing::kChunked: {
      if (chunked_.done()) {
        phase_ = Phase::kEnded;
        if (trailers_.empty()) return Event::kEnd;
        fields_.clear();
        if (auto ok = parseFieldLines(trailers_, fields_); !ok) return ok.error();
        trailers_.clear();
        std::erase_if(fields_, [](const H2Field& f) { return f.name == "content-length"; });
        return fields_.empty() ? Event::kEnd : Event::kTrailers;
      }
      if (in.empty()) {
        if (eof) return invalid("the chunked response ended early");
        return Event::kNeedMore;
      }
      auto used = chunked_.feed(in, &data_, &trailers_);
      if (!used) return used.error();
      in.erase(0, *used);
      if (!data_.empty()) return Event::kData;
      if (chunked_.done()) return decode(in, eof);
      return Event::kNeedMore;
    }
    case http::Framing::kNone:
      break;
  }
  phase_ = Phase::kEnded;
  return Event::kEnd;
}

namespace h2 {

void appendBody(std::string& out, std::string_view data, bool chunked) {
  if (!chunked) {
    out.append(data);
    return;
  }
  if (data.empty()) return;
  char size[24];
  const int length = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  out.append(size, static_cast<std::size_t>(length)).append(data).append("\r\n");
}

ssize_t provide(nghttp2_session* session, std::int32_t id, Outgoing& out, std::uint8_t* buf,
                std::size_t length, std::uint32_t* flags) {
  const std::size_t n = std::min(length, out.body.size());
  std::memcpy(buf, out.body.data(), n);
  out.body.erase(0, n);
  if (out.body.empty() && out.ended) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!out.trailers.empty()) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      const std::vector<nghttp2_nv> t = fields(out.trailers);
      nghttp2_submit_trailer(session, id, t.data(), t.size());
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    out.deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

}  // namespace h2

}  // namespace lens::proxy
