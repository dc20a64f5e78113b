#include "libcommon/proxy/h2_origin.h"

#include <sys/epoll.h>

#include <algorithm>
#include <cstring>

#include "libcommon/http/framing.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/log/logging.h"
#include "libcommon/proxy/h2_common.h"
#include "libcommon/proxy/reply.h"
#include "libcommon/util/strings.h"

namespace lens::proxy {

namespace {

constexpr std::size_t kReadBudget = 256 * 1024;
constexpr std::uint32_t kStreamWindow = 1024 * 1024;
constexpr std::int32_t kConnectionWindow = 8 * 1024 * 1024;

// What a request's head carries that HTTP/2 does not (Host becomes :authority).
bool dropped(std::string_view lowerName) {
  return lowerName == "host" || isConnectionSpecific(lowerName);
}

}  // namespace

// ---- the exchange's side ---------------------------------------------------------

H2OriginStream::~H2OriginStream() {
  channel_->closed = true;
  if (wakeSession_) wakeSession_();
}

IoResult H2OriginStream::read(char* data, std::size_t size) {
  H2OriginChannel& c = *channel_;
  if (!c.response.empty()) {
    const std::size_t n = std::min(size, c.response.size());
    std::memcpy(data, c.response.data(), n);
    c.response.erase(0, n);
    if (wakeSession_) wakeSession_();  // the window may open
    return {IoStatus::kOk, n};
  }
  if (c.failed) return {IoStatus::kError, 0};
  return {c.responseEnded ? IoStatus::kEof : IoStatus::kWouldBlock, 0};
}

IoResult H2OriginStream::write(const char* data, std::size_t size) {
  H2OriginChannel& c = *channel_;
  if (c.failed) return {IoStatus::kError, 0};
  if (c.request.size() >= kRequestRoom) {
    c.writeBlocked = true;
    return {IoStatus::kWouldBlock, 0};
  }
  const std::size_t n = std::min(size, kRequestRoom - c.request.size());
  c.request.append(data, n);
  if (wakeSession_) wakeSession_();
  return {IoStatus::kOk, n};
}

// ---- one request -------------------------------------------------------------------

struct H2OriginSession::Request {
  std::shared_ptr<H2OriginChannel> channel = std::make_shared<H2OriginChannel>();
  // The request body, decoded from its HTTP/1.1 framing.
  http::Framing framing = http::Framing::kNone;
  std::uint64_t remaining = 0;
  http::ChunkedScanner chunked;
  h2::Outgoing body;         // waiting for DATA frames
  std::string trailerLines;  // the chunked body's trailer section
  // The response.
  std::string method;
  std::vector<H2Field> fields;
  bool responseChunked = false;
  bool finalHead = false;
  std::uint64_t uncredited = 0;  // DATA bytes of the response not yet given back
  bool done = false;
};

struct H2OriginCallbacks {
  static H2OriginSession& self(void* user) { return *static_cast<H2OriginSession*>(user); }

  static int beginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (auto* r = self(user).find(frame->hd.stream_id)) r->fields.clear();
    return 0;
  }

  static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                    std::size_t nameLength, const std::uint8_t* value, std::size_t valueLength,
                    std::uint8_t, void* user) {
    H2OriginSession::Request* r = self(user).find(frame->hd.stream_id);
    if (r == nullptr) return 0;
    if (r->fields.size() > 512) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    r->fields.push_back({std::string(reinterpret_cast<const char*>(name), nameLength),
                         std::string(reinterpret_cast<const char*>(value), valueLength)});
    return 0;
  }

  static void head(H2OriginSession::Request& r, bool end) {
    std::string status = "502";
    for (const auto& [name, value] : r.fields)
      if (name == ":status") status = value;
    const int code = std::atoi(status.c_str());
    std::string& out = r.channel->response;
    out.append("HTTP/1.1 ").append(status).append(" ").append(statusText(code)).append("\r\n");
    bool length = false;
    for (const auto& [name, value] : r.fields) {
      if (name.empty() || name.front() == ':' || dropped(name)) continue;
      if (name == "content-length") length = true;
      out.append(name).append(": ").append(value).append("\r\n");
    }
    if (code >= 200) {
      r.finalHead = true;
      const bool bodiless = r.method == "HEAD" || code == 204 || code == 304;
      if (!bodiless && !length) {
        if (end) {
          out.append("content-length: 0\r\n");
        } else {
          out.append("transfer-encoding: chunked\r\n");
          r.responseChunked = true;
        }
      }
    }
    out.append("\r\n");
    r.fields.clear();
  }

  static void end(H2OriginSession::Request& r) {
    if (r.responseChunked) {
      std::string& out = r.channel->response;
      out.append("0\r\n");
      for (const auto& [name, value] : r.fields) {
        if (!name.empty() && name.front() != ':')
          out.append(name).append(": ").append(value).append("\r\n");
      }
      out.append("\r\n");
    }
    r.fields.clear();
    r.channel->responseEnded = true;
  }

  static int frameReceived(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    H2OriginSession& s = self(user);
    H2OriginSession::Request* r = s.find(frame->hd.stream_id);
    const bool endStream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
        if (r == nullptr) break;
        if (!r->finalHead) {
          head(*r, endStream);
          if (endStream) end(*r);
        } else if (endStream) {  // trailers
          end(*r);
        }
        if (r->channel->wake) r->channel->wake();
        break;
      case NGHTTP2_DATA:
        if (r != nullptr && endStream) {
          end(*r);
          if (r->channel->wake) r->channel->wake();
        }
        break;
      case NGHTTP2_GOAWAY:
        s.goaway_ = true;
        break;
      default:
        break;
    }
    return 0;
  }

  static int dataChunk(nghttp2_session* session, std::uint8_t, std::int32_t id,
                       const std::uint8_t* data, std::size_t length, void* user) {
    H2OriginSession::Request* r = self(user).find(id);
    if (r == nullptr || r->channel->closed) {
      nghttp2_session_consume(session, id, length);
      return 0;
    }
    const std::string_view bytes(reinterpret_cast<const char*>(data), length);
    h2::appendBody(r->channel->response, bytes, r->responseChunked);
    r->uncredited += length;
    if (r->channel->wake) r->channel->wake();
    return 0;
  }

  static int streamClosed(nghttp2_session*, std::int32_t id, std::uint32_t error, void* user) {
    H2OriginSession& s = self(user);
    H2OriginSession::Request* r = s.find(id);
    if (r == nullptr) return 0;
    if (!r->channel->responseEnded) {
      r->channel->failed = true;
      r->channel->failure =
          std::string("the origin ended the HTTP/2 stream (") + nghttp2_http2_strerror(error) + ")";
      if (r->channel->wake) r->channel->wake();
    }
    r->done = true;
    return 0;
  }

  static ssize_t readBody(nghttp2_session* session, std::int32_t id, std::uint8_t* buf,
                          std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                          void* user) {
    H2OriginSession::Request* r = self(user).find(id);
    if (r == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return h2::provide(session, id, r->body, buf, length, flags);
  }
};

// ---- the session ---------------------------------------------------------------------

H2OriginSession::H2OriginSession(Reactor& reactor, std::string key, std::unique_ptr<Stream> stream,
                                 OutgoingEntry outgoing, std::optional<net::IpAddress> address)
    : reactor_(reactor),
      key_(std::move(key)),
      stream_(std::move(stream)),
      outgoing_(std::move(outgoing)),
      address_(std::move(address)),
      watch_{this, stream_->fd()} {}

H2OriginSession::~H2OriginSession() {
  reactor_.remove(watch_);
  for (auto& [id, r] : requests_) r->channel->failed = true;
  for (auto& r : waiting_) r->channel->failed = true;
  if (session_ != nullptr) nghttp2_session_del(session_);
}

bool H2OriginSession::start() {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return false;
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks,
                                                          H2OriginCallbacks::beginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, H2OriginCallbacks::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, H2OriginCallbacks::frameReceived);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks,
                                                            H2OriginCallbacks::dataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks,
                                                         H2OriginCallbacks::streamClosed);
  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return false;
  }
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_max_outbound_ack(option, 100);
  const int made = nghttp2_session_client_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (made != 0) return false;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0 ||
      nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow) !=
          0) {
    return false;
  }
  wake();
  return true;
}

bool H2OriginSession::usable() const {
  return !failed_ && !goaway_ && session_ != nullptr && nghttp2_session_want_read(session_) != 0;
}

H2OriginSession::Request* H2OriginSession::find(std::int32_t id) {
  auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : it->second.get();
}

std::unique_ptr<Stream> H2OriginSession::open(std::function<void()> wake) {
  if (!usable()) return nullptr;
  auto r = std::make_unique<Request>();
  r->channel->wake = std::move(wake);
  std::weak_ptr<bool> alive = alive_;
  auto stream = std::make_unique<H2OriginStream>(r->channel, [this, alive] {
    if (!alive.expired()) this->wake();
  });
  waiting_.push_back(std::move(r));
  return stream;
}

void H2OriginSession::wake() { reactor_.again(watch_); }

void H2OriginSession::fail(const std::string& why) {
  if (failed_) return;
  failed_ = true;
  log::get("proxy")->debug("HTTP/2 origin {}: {}", key_, why);
  auto failOne = [&why](Request& r) {
    if (r.channel->responseEnded) return;
    r.channel->failed = true;
    r.channel->failure = why;
    if (r.channel->wake) r.channel->wake();
  };
  for (auto& [id, r] : requests_) failOne(*r);
  for (auto& r : waiting_) failOne(*r);
}

void H2OriginSession::onIo(int /*fd*/, std::uint32_t /*events*/) { pump(); }

void H2OriginSession::pumpRequest(std::int32_t id, Request& r) {
  H2OriginChannel& c = *r.channel;
  // The request body, from its HTTP/1.1 framing.
  bool more = false;
  while (!c.request.empty() && !r.body.ended && r.body.body.size() < H2OriginStream::kRequestRoom) {
    if (r.framing == http::Framing::kLength) {
      const auto take =
          static_cast<std::size_t>(std::min<std::uint64_t>(r.remaining, c.request.size()));
      r.body.body.append(c.request, 0, take);
      c.request.erase(0, take);
      r.remaining -= take;
      if (r.remaining == 0) r.body.ended = true;
    } else if (r.framing == http::Framing::kChunked) {
      auto used = r.chunked.feed(c.request, &r.body.body, &r.trailerLines);
      if (!used) {
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
        c.failed = true;
        c.failure = "malformed chunked request body: " + used.error().message;
        return;
      }
      c.request.erase(0, *used);
      if (r.chunked.done()) {
        r.body.ended = true;
        (void)parseFieldLines(r.trailerLines, r.body.trailers);  // checked by the scanner
        std::erase_if(r.body.trailers, [](const H2Field& f) { return dropped(f.name); });
      }
    } else {
      break;
    }
    more = true;
  }
  if ((more || r.body.ended) && r.body.deferred) {
    r.body.deferred = false;
    nghttp2_session_resume_data(session_, id);
  }
  if (c.writeBlocked && c.request.size() < H2OriginStream::kRequestRoom / 2) {
    c.writeBlocked = false;
    if (c.wake) c.wake();
  }
  // The response window opens by what the exchange read.
  if (r.uncredited > 0) {
    const std::uint64_t waiting = std::min<std::uint64_t>(r.uncredited, c.response.size());
    if (r.uncredited > waiting) {
      nghttp2_session_consume(session_, id, r.uncredited - waiting);
      r.uncredited = waiting;
    }
  }
  if (c.closed && !r.done && !c.responseEnded) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    r.done = true;
  }
}

void H2OriginSession::pump() {
  if (session_ == nullptr) return;
  // The origin's bytes.
  std::size_t budget = kReadBudget;
  char chunk[16 * 1024];
  while (!failed_ && budget > 0) {
    const IoResult r = stream_->read(chunk, sizeof chunk);
    if (r.status == IoStatus::kWouldBlock) break;
    if (r.status != IoStatus::kOk) {
      fail(r.status == IoStatus::kEof
               ? "the origin closed the HTTP/2 connection"
               : "the HTTP/2 connection to the origin failed: " + stream_->failure());
      break;
    }
    budget -= std::min(budget, r.bytes);
    const ssize_t used =
        nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(chunk), r.bytes);
    if (used < 0) {
      fail(std::string("HTTP/2 from the origin: ") + nghttp2_strerror(static_cast<int>(used)));
      break;
    }
  }
  // Requests whose head is whole go out.
  for (auto it = waiting_.begin(); it != waiting_.end() && !failed_;) {
    Request& r = **it;
    if (r.channel->closed) {
      it = waiting_.erase(it);
      continue;
    }
    const auto end = http::findHeadEnd(r.channel->request);
    if (!end) {
      ++it;
      continue;
    }
    auto parsed = http::parseRawRequestHead(std::string_view(r.channel->request).substr(0, *end));
    if (!parsed) {
      r.channel->failed = true;
      r.channel->failure = "the request head cannot be sent as HTTP/2: " + parsed.error().message;
      if (r.channel->wake) r.channel->wake();
      it = waiting_.erase(it);
      continue;
    }
    const http::RawRequest& q = parsed->request;
    r.method = q.method;
    const http::HeaderField* host = q.findHeader("host");
    std::vector<H2Field> fields{{":method", q.method},
                                {":scheme", "https"},
                                {":authority", host != nullptr ? host->value() : key_},
                                {":path", q.target}};
    bool chunked = false;
    for (const http::HeaderField& f : q.headers) {
      std::string name = util::toLower(f.name);
      if (name == "transfer-encoding") chunked = true;
      if (dropped(name)) continue;
      fields.push_back({std::move(name), f.value()});
    }
    fields.push_back({"te", "trailers"});
    if (chunked) {
      r.framing = http::Framing::kChunked;
    } else if (parsed->contentLength && *parsed->contentLength > 0) {
      r.framing = http::Framing::kLength;
      r.remaining = *parsed->contentLength;
    } else {
      r.body.ended = true;
    }
    r.channel->request.erase(0, *end);
    const std::vector<nghttp2_nv> nva = h2::fields(fields);
    nghttp2_data_provider provider{};
    provider.read_callback = H2OriginCallbacks::readBody;
    const std::int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                                   r.body.ended ? nullptr : &provider, nullptr);
    if (id < 0) {
      r.channel->failed = true;
      r.channel->failure = std::string("HTTP/2 to the origin: ") + nghttp2_strerror(id);
      if (r.channel->wake) r.channel->wake();
      it = waiting_.erase(it);
      continue;
    }
    requests_[id] = std::move(*it);
    it = waiting_.erase(it);
  }
  for (auto& [id, r] : requests_) pumpRequest(id, *r);
  // A request done is forgotten. The bytes of its answer not yet taken by
  // the exchange are the channel's now: the connection's window gets them
  // back here (its stream's is gone), or every answer buffered at its end
  // would shrink the connection's window for good.
  std::erase_if(requests_, [this](const auto& entry) {
    const Request& r = *entry.second;
    const bool forgotten =
        r.done && (r.channel->closed || r.channel->failed || r.channel->responseEnded);
    if (forgotten && r.uncredited > 0)
      nghttp2_session_consume_connection(session_, static_cast<std::size_t>(r.uncredited));
    return forgotten;
  });
  // Frames out.
  while (!failed_ && out_.size() < kReadBudget) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      fail(std::string("HTTP/2 to the origin: ") + nghttp2_strerror(static_cast<int>(n)));
      break;
    }
    if (n == 0) break;
    out_.append(std::string_view(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n)));
  }
  while (!failed_ && !out_.empty()) {
    const IoResult w = stream_->write(out_.data(), out_.size());
    if (w.status == IoStatus::kWouldBlock) break;
    if (w.status != IoStatus::kOk) {
      fail("the HTTP/2 connection to the origin failed: " + stream_->failure());
      break;
    }
    out_.consume(w.bytes);
  }
  if (failed_) {
    reactor_.remove(watch_);
    return;
  }
  std::uint32_t events = EPOLLIN;
  if (!out_.empty() || stream_->blockedOnWrite()) events |= EPOLLOUT;
  if (stream_->blockedOnRead()) events |= EPOLLIN;
  (void)reactor_.set(watch_, events);
  if (budget == 0 || out_.size() >= kReadBudget) wake();
}

}  // namespace lens::proxy
