#include "libcommon/proxy/h2_session.h"

#include <algorithm>
#include <cstring>

#include "libcommon/proxy/h2_common.h"
#include "libcommon/proxy/reply.h"

namespace lens::proxy {

namespace {

constexpr std::size_t kDecodedRoom = 256 * 1024;  // answer bytes waiting for DATA frames
constexpr std::size_t kMaxContinuations = 8;

struct OptionDeleter {
  void operator()(nghttp2_option* o) const { nghttp2_option_del(o); }
};
struct CallbacksDeleter {
  void operator()(nghttp2_session_callbacks* c) const { nghttp2_session_callbacks_del(c); }
};

}  // namespace

// ---- the pipe -----------------------------------------------------------------

H2StreamPipe::~H2StreamPipe() {
  channel_->responseEnded = true;
  if (channel_->wake) channel_->wake();
}

IoResult H2StreamPipe::read(char* data, std::size_t size) {
  H2Channel& c = *channel_;
  if (c.gone) return {IoStatus::kError, 0};
  // Never the end: the request's own framing says where it ends, and an
  // HTTP/2 client that ended its side still waits for the answer (the
  // session ends the serving connection when the stream goes).
  if (c.request.empty()) return {IoStatus::kWouldBlock, 0};
  const std::size_t n = std::min(size, c.request.size());
  std::memcpy(data, c.request.data(), n);
  c.request.erase(0, n);
  if (c.wake) c.wake();  // the window may open
  return {IoStatus::kOk, n};
}

IoResult H2StreamPipe::write(const char* data, std::size_t size) {
  H2Channel& c = *channel_;
  if (c.gone || c.responseEnded) return {IoStatus::kError, 0};
  if (c.response.size() >= kResponseRoom) {
    c.writeBlocked = true;
    return {IoStatus::kWouldBlock, 0};
  }
  const std::size_t n = std::min(size, kResponseRoom - c.response.size());
  c.response.append(data, n);
  if (c.wake) c.wake();
  return {IoStatus::kOk, n};
}

void H2StreamPipe::shutdownWrite() {
  channel_->responseEnded = true;
  if (channel_->wake) channel_->wake();
}

// ---- one stream ---------------------------------------------------------------

struct H2ServerSession::StreamState {
  std::int32_t id = 0;
  std::vector<H2Field> fields;  // the request's, then (HCAT_HEADERS) its trailers
  std::size_t headerBytes = 0;
  bool tooLarge = false;
  bool started = false;
  bool endStream = false;    // the client's side ended
  bool headersOnly = false;  // ... with the request's HEADERS: it has no body
  bool chunked = false;
  std::shared_ptr<H2Channel> channel = std::make_shared<H2Channel>();
  std::uint64_t server = 0;      // the serving connection, 0 none (yet, or any more)
  std::uint64_t uncredited = 0;  // DATA bytes received and not yet given back to the window
  std::optional<H1ResponseReader> reader;
  h2::Outgoing answer;      // decoded answer bytes waiting for DATA frames, trailers
  bool responding = false;  // the final HEADERS were submitted
  bool done = false;        // nothing more is sent on it
  bool news = false;  // request bytes (or its end) the serving connection has not been told of
};

struct H2Callbacks {
  static H2ServerSession& self(void* user) { return *static_cast<H2ServerSession*>(user); }

  static int beginFrame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
    H2ServerSession& s = self(user);
    if (hd->type == NGHTTP2_HEADERS) s.continuations_ = 0;
    if (hd->type == NGHTTP2_CONTINUATION && ++s.continuations_ > kMaxContinuations) {
      s.fail(reason::kH2ContinuationFlood, "more than 8 CONTINUATION frames in one header block",
             NGHTTP2_ENHANCE_YOUR_CALM);
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int beginHeaders(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    H2ServerSession& s = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      auto state = std::make_unique<H2ServerSession::StreamState>();
      state->id = frame->hd.stream_id;
      nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, state.get());
      s.streams_[frame->hd.stream_id] = std::move(state);
    } else if (H2ServerSession::StreamState* st = s.find(frame->hd.stream_id)) {
      st->fields.clear();  // trailers: counted afresh
      st->headerBytes = 0;
    }
    return 0;
  }

  static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                    std::size_t nameLength, const std::uint8_t* value, std::size_t valueLength,
                    std::uint8_t, void* user) {
    H2ServerSession& s = self(user);
    H2ServerSession::StreamState* st = s.find(frame->hd.stream_id);
    if (st == nullptr || st->tooLarge) return 0;
    st->headerBytes += nameLength + valueLength + 32;
    if (st->headerBytes > s.limits_.maxHeaderBytes ||
        st->fields.size() >= s.limits_.maxHeaderCount + 4) {  // + the pseudo-fields
      st->tooLarge = true;
      st->fields.clear();
      return 0;
    }
    st->fields.push_back({std::string(reinterpret_cast<const char*>(name), nameLength),
                          std::string(reinterpret_cast<const char*>(value), valueLength)});
    return 0;
  }

  static int frameReceived(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    H2ServerSession& s = self(user);
    const bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    H2ServerSession::StreamState* st = s.find(frame->hd.stream_id);
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
        if (st == nullptr) return 0;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
          st->endStream = end;
          st->headersOnly = end;
          s.ready_.push_back(st->id);
        } else if (st->started && !st->tooLarge) {  // trailers (END_STREAM is certain)
          st->endStream = true;
          if (st->chunked) {
            std::string& r = st->channel->request;
            r.append("0\r\n");
            for (const H2Field& f : st->fields)
              r.append(f.name).append(": ").append(f.value).append("\r\n");
            r.append("\r\n");
          }
          st->channel->requestEnded = true;
          st->news = true;
          st->fields.clear();
        }
        break;
      case NGHTTP2_DATA:
        if (st != nullptr && end) {
          st->endStream = true;
          if (st->started) {
            if (st->chunked) st->channel->request.append("0\r\n\r\n");
            st->channel->requestEnded = true;
            st->news = true;
          }
        }
        break;
      case NGHTTP2_RST_STREAM:
        if (st != nullptr && !st->responding && !s.resetCounted()) {
          s.fail(reason::kH2RapidReset, "streams reset faster than the limit",
                 NGHTTP2_ENHANCE_YOUR_CALM);
        }
        break;
      default:
        break;
    }
    return 0;
  }

  static int dataChunk(nghttp2_session* session, std::uint8_t, std::int32_t id,
                       const std::uint8_t* data, std::size_t length, void* user) {
    H2ServerSession& s = self(user);
    H2ServerSession::StreamState* st = s.find(id);
    if (st == nullptr || st->done || (st->started && st->server == 0)) {
      // Nobody reads it any more: given back at once.
      nghttp2_session_consume(session, id, length);
      return 0;
    }
    const std::string_view bytes(reinterpret_cast<const char*>(data), length);
    st->news = true;
    h2::appendBody(st->channel->request, bytes, st->chunked);
    st->uncredited += length;
    return 0;
  }

  static int streamClosed(nghttp2_session*, std::int32_t id, std::uint32_t error, void* user) {
    H2ServerSession& s = self(user);
    H2ServerSession::StreamState* st = s.find(id);
    if (st == nullptr) return 0;
    (void)error;
    st->done = true;
    s.closed_.push_back(id);
    return 0;
  }

  static ssize_t readBody(nghttp2_session* session, std::int32_t id, std::uint8_t* buf,
                          std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                          void* user) {
    H2ServerSession::StreamState* st = self(user).find(id);
    if (st == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return h2::provide(session, id, st->answer, buf, length, flags);
  }
};

// ---- the session ----------------------------------------------------------------

H2ServerSession::H2ServerSession(H2Host& host, const H2Limits& limits, Clock::time_point* now)
    : host_(host), limits_(limits), now_(now) {
  resetTokens_ = limits_.resetBurst;
  resetClock_ = *now_;
}

H2ServerSession::~H2ServerSession() {
  for (auto& [id, st] : streams_) st->channel->gone = true;
  if (session_ != nullptr) nghttp2_session_del(session_);
}

Status H2ServerSession::start() {
  nghttp2_session_callbacks* raw = nullptr;
  if (nghttp2_session_callbacks_new(&raw) != 0) return Error{ErrorCode::kIo, "out of memory"};
  std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter> callbacks(raw);
  nghttp2_session_callbacks_set_on_begin_frame_callback(raw, H2Callbacks::beginFrame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(raw, H2Callbacks::beginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(raw, H2Callbacks::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(raw, H2Callbacks::frameReceived);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(raw, H2Callbacks::dataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(raw, H2Callbacks::streamClosed);
  nghttp2_option* rawOption = nullptr;
  if (nghttp2_option_new(&rawOption) != 0) return Error{ErrorCode::kIo, "out of memory"};
  std::unique_ptr<nghttp2_option, OptionDeleter> option(rawOption);
  nghttp2_option_set_no_auto_window_update(rawOption, 1);
  nghttp2_option_set_max_settings(rawOption, 32);       // entries in one SETTINGS frame
  nghttp2_option_set_max_outbound_ack(rawOption, 100);  // unread PING/SETTINGS answers
  nghttp2_option_set_max_deflate_dynamic_table_size(rawOption, 4096);
#ifdef LENS_HAVE_NGHTTP2_RESET_LIMIT
  nghttp2_option_set_stream_reset_rate_limit(rawOption, limits_.resetBurst * 2u,
                                             limits_.resetRate * 2u);
#endif
#ifdef LENS_HAVE_NGHTTP2_MAX_CONTINUATIONS
  nghttp2_option_set_max_continuations(rawOption, kMaxContinuations + 1);  // ours trips first
#endif
  if (nghttp2_session_server_new2(&session_, raw, this, rawOption) != 0)
    return Error{ErrorCode::kIo, "out of memory"};
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.maxStreams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.streamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(limits_.maxHeaderBytes)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      // RFC 8441: WebSockets over HTTP/2, relayed as HTTP/1.1 WebSockets.
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0 ||
      nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                            static_cast<std::int32_t>(limits_.connectionWindow)) !=
          0) {
    return Error{ErrorCode::kIo, "nghttp2 refused the settings"};
  }
  return Ok{};
}

H2ServerSession::StreamState* H2ServerSession::find(std::int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

std::vector<std::uint64_t> H2ServerSession::servers() const {
  std::vector<std::uint64_t> out;
  for (const auto& [id, st] : streams_)
    if (st->server != 0) out.push_back(st->server);
  return out;
}

void H2ServerSession::fail(std::string_view reason, std::string detail, std::uint32_t goaway) {
  if (failure_.empty()) {
    failure_ = reason;
    failureDetail_ = std::move(detail);
  }
  goaway_ = true;
  nghttp2_session_terminate_session(session_, goaway);
}

bool H2ServerSession::resetCounted() {
  const double elapsed = std::chrono::duration<double>(*now_ - resetClock_).count();
  resetClock_ = *now_;
  resetTokens_ = std::min<double>(limits_.resetBurst, resetTokens_ + elapsed * limits_.resetRate);
  if (resetTokens_ < 1) return false;
  resetTokens_ -= 1;
  return true;
}

Status H2ServerSession::receive(std::string_view bytes) {
  const ssize_t used = nghttp2_session_mem_recv(
      session_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  if (used < 0) {
    const auto code = static_cast<int>(used);
    if (failure_.empty()) {
      failure_ = code == NGHTTP2_ERR_FLOODED                  ? reason::kH2Flood
                 : code == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS ? reason::kH2ContinuationFlood
                                                              : reason::kH2ProtocolError;
      failureDetail_ = nghttp2_strerror(code);
    }
    if (!goaway_ && code != NGHTTP2_ERR_CALLBACK_FAILURE) {
      goaway_ = true;
      nghttp2_session_terminate_session(session_, code == NGHTTP2_ERR_FLOODED
                                                      ? NGHTTP2_ENHANCE_YOUR_CALM
                                                      : NGHTTP2_PROTOCOL_ERROR);
    }
    return Error{ErrorCode::kInvalidInput, failureDetail_};
  }
  return Ok{};
}

void H2ServerSession::refuseLocally(StreamState& s, int status, std::string_view reason,
                                    std::string_view text) {
  s.started = true;
  s.reader.emplace("GET");
  s.channel->response = host_.refuseStream(status, reason, text);
  s.channel->responseEnded = true;
  s.channel->requestEnded = true;
}

void H2ServerSession::startStream(StreamState& s) {
  if (s.tooLarge) {
    refuseLocally(s, 431, reason::kHeaderTooLarge, "the request's header fields are too large");
    return;
  }
  auto request = h1RequestFromH2(s.fields, s.headersOnly);
  s.fields.clear();
  if (!request) {
    refuseLocally(s, 400, reason::kBadRequest, request.error().message);
    return;
  }
  s.started = true;
  s.chunked = request->chunked;
  s.reader.emplace(request->method, request->webSocket);
  std::string body = std::move(s.channel->request);  // DATA that came with the HEADERS
  s.channel->request = std::move(request->head);
  h2::appendBody(s.channel->request, body, s.chunked);
  if (s.endStream) {
    if (s.chunked) s.channel->request.append("0\r\n\r\n");
    s.channel->requestEnded = true;
  }
  s.server = host_.serveStream(s.channel);
}

void H2ServerSession::submitHead(StreamState& s, bool withBody) {
  std::vector<nghttp2_nv> fields;
  const std::string status = std::to_string(s.reader->status());
  fields.push_back(h2::field(":status", status));
  for (const H2Field& f : s.reader->fields()) fields.push_back(h2::field(f.name, f.value));
  if (s.reader->status() < 200) {
    nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, s.id, nullptr, fields.data(), fields.size(),
                           nullptr);
    return;
  }
  s.responding = true;
  nghttp2_data_provider provider{};
  provider.read_callback = H2Callbacks::readBody;
  nghttp2_submit_response(session_, s.id, fields.data(), fields.size(),
                          withBody ? &provider : nullptr);
}

void H2ServerSession::pumpStream(StreamState& s) {
  H2Channel& c = *s.channel;
  // The window opens by what the serving connection has read.
  if (s.uncredited > 0) {
    const std::uint64_t waiting = std::min<std::uint64_t>(s.uncredited, c.request.size());
    const std::uint64_t credit = s.uncredited - waiting;
    if (credit > 0) {
      nghttp2_session_consume(session_, s.id, credit);
      s.uncredited = waiting;
    }
  }
  if (!s.reader || s.done) return;
  bool progressed = false;
  // (With no bytes left to decode, only the end can come: taken whatever the room.)
  while ((s.answer.body.size() < kDecodedRoom || c.response.empty()) && !s.reader->ended()) {
    auto event = s.reader->decode(c.response, c.responseEnded);
    if (!event) {
      if (!s.responding) {
        if (s.server != 0) host_.abandonStream(s.server);
        s.server = 0;
        refuseLocally(s, 502, reason::kBadResponse, event.error().message);
        continue;
      }
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
      s.done = true;
      return;
    }
    if (*event == H1ResponseReader::Event::kNeedMore) break;
    progressed = true;
    switch (*event) {
      case H1ResponseReader::Event::kInterim:
        submitHead(s, false);
        break;
      case H1ResponseReader::Event::kHead:
        submitHead(s, !s.reader->ended());
        break;
      case H1ResponseReader::Event::kData:
        s.answer.body.append(s.reader->data());
        break;
      case H1ResponseReader::Event::kTrailers:
        s.answer.trailers = s.reader->fields();
        s.answer.ended = true;
        break;
      case H1ResponseReader::Event::kEnd:
        s.answer.ended = true;
        break;
      case H1ResponseReader::Event::kNeedMore:
        break;
    }
  }
  if (progressed && s.answer.deferred) {
    s.answer.deferred = false;
    nghttp2_session_resume_data(session_, s.id);
  }
  if (s.reader->ended() && !s.responding) {
    // No final head (cannot happen with a reader that ended), nothing to send.
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
    s.done = true;
    return;
  }
  if (c.responseEnded && !s.reader->ended() && c.response.empty() && !progressed) {
    // The serving connection ended before its answer did.
    if (!s.responding) {
      refuseLocally(s, 502, reason::kBadResponse, "the answer ended early");
      pumpStream(s);
      return;
    }
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
    s.done = true;
    return;
  }
  if (c.writeBlocked && c.response.size() < H2StreamPipe::kResponseRoom / 2 && s.server != 0) {
    c.writeBlocked = false;
    host_.wakeStream(s.server);
  }
}

void H2ServerSession::pump() {
  std::vector<std::int32_t> ready;
  ready.swap(ready_);
  for (std::int32_t id : ready) {
    if (StreamState* s = find(id); s != nullptr && !s->started && !s->done) startStream(*s);
  }
  for (auto& [id, st] : streams_) {
    pumpStream(*st);
    if (st->server != 0 && st->channel->responseEnded) st->server = 0;  // it closed
    if (st->server != 0 && st->news) {
      st->news = false;
      host_.wakeStream(st->server);
    }
  }
  std::vector<std::int32_t> closed;
  closed.swap(closed_);
  for (std::int32_t id : closed) {
    auto it = streams_.find(id);
    if (it == streams_.end()) continue;
    it->second->channel->gone = true;
    if (it->second->server != 0) host_.abandonStream(it->second->server);
    // Body bytes nobody will read: the connection's window gets them back
    // (a refused upload would shrink it for good otherwise).
    if (it->second->uncredited > 0)
      nghttp2_session_consume_connection(session_,
                                         static_cast<std::size_t>(it->second->uncredited));
    streams_.erase(it);
  }
}

void H2ServerSession::produce(Buffer& out, std::size_t max) {
  while (out.size() < max) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) {
      if (n < 0 && failure_.empty()) {
        failure_ = reason::kH2ProtocolError;
        failureDetail_ = nghttp2_strerror(static_cast<int>(n));
        goaway_ = true;
      }
      return;
    }
    out.append(std::string_view(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n)));
  }
}

bool H2ServerSession::finished() const {
  if (!failure_.empty() && nghttp2_session_want_write(session_) == 0) return true;
  return nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
}

void H2ServerSession::shutdown() {
  if (goaway_) return;
  goaway_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

}  // namespace lens::proxy
