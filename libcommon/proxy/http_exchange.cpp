#include "libcommon/proxy/http_exchange.h"

#include <sys/epoll.h>

#include "libcommon/http/forwarding.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/proxy/reply.h"

namespace lens::proxy {

namespace {

constexpr std::size_t kChunk = 64 * 1024;  // one read from a socket
constexpr std::size_t kBufferLimit =
    256 * 1024;  // bytes buffered per direction before reading stops
constexpr std::size_t kMaxResponseHead = 64 * 1024;
constexpr std::size_t kJoined = 16 * 1024;  // a head and body bytes up to this go in one write

}  // namespace

HttpExchange::~HttpExchange() {
  releasePipe(requestPipe_);
  releasePipe(responsePipe_);
}

void HttpExchange::releasePipe(BodyPipe& p) {
  if (pipes_ != nullptr) pipes_->release(p.pipe);  // kept when empty, else closed
  p = BodyPipe{};
}

void HttpExchange::start(Request request, std::string serverPending) {
  releasePipe(requestPipe_);  // empty after an exchange that was whole
  releasePipe(responsePipe_);
  noPipe_ = false;
  request_ = std::move(request);
  toServer_.clear();
  toClient_.clear();
  fromServer_ = std::move(serverPending);
  toServer_.append(request_.head);
  requestBody_ = http::BodyTracker(request_.body, request_.contentLength);
  requestDone_ = requestBody_.done();
  responseHead_ = false;
  responseDone_ = false;
  serverClose_ = false;
  closeClientAfter_ = !request_.keepAlive;
  serverEof_ = false;
  serverFailure_.clear();
  clientFailed_ = false;
  head_.clear();
  sentThisRequest_ = false;
  status_ = 0;
  bytesUp_ = bytesDown_ = 0;
  failure_ = Failure{};
  closeReason_ = {};
}

void HttpExchange::fail(int status, std::string_view reason, std::string text, std::string detail) {
  failure_ = Failure{status, reason, std::move(text), std::move(detail)};
}

HttpExchange::Outcome HttpExchange::pump(Stream& client, Stream& server, std::string& in,
                                         bool& progress) {
  // Called on readiness: the destinations may take more now.
  requestPipe_.writeBlocked = false;
  responsePipe_.writeBlocked = false;
  for (int round = 0; round < 64; ++round) {
    bool moved = false;
    // The request body, spliced.
    const bool requestSpliced = splicingRequest(client, server, in);
    if (requestSpliced) {
      switch (spliceBody(requestPipe_, client, server, requestBody_, bytesUp_, moved)) {
        case Spliced::kGoing:
          break;
        case Spliced::kSourceEnded:
          closeReason_ = "client-closed";
          return Outcome::kClose;
        case Spliced::kDestinationFailed:  // as a failed write below: the response says more
          serverEof_ = true;
          serverFailure_ = server.failure();
          releasePipe(requestPipe_);
          moved = true;
          break;
      }
      if (requestBody_.done()) requestDone_ = true;
    }
    // The request body, from what the client sent.
    if (!requestDone_ && !requestSpliced) {
      if (!in.empty()) {
        auto n = requestBody_.feed(in);
        if (!n) {
          closeReason_ = "bad-request-body";
          return Outcome::kClose;
        }
        const std::string_view piece = std::string_view(in).substr(0, *n);
        if (request_.bodyFilter) {
          filtered_.clear();
          if (!request_.bodyFilter->feed(piece, filtered_)) {
            closeReason_ = "bad-request-body";
            return Outcome::kClose;
          }
          toServer_.append(filtered_);
        } else {
          toServer_.append(piece);
        }
        in.erase(0, *n);
        moved = moved || *n > 0;
      }
      if (requestBody_.done()) {
        if (request_.bodyFilter && !request_.bodyFilter->finish()) {
          closeReason_ = "bad-request-body";
          return Outcome::kClose;
        }
        requestDone_ = true;
      } else if (in.empty() && toServer_.size() < kBufferLimit) {
        char chunk[kChunk];
        const IoResult r = client.read(chunk, sizeof chunk);
        if (r.status == IoStatus::kOk) {
          in.append(chunk, r.bytes);
          moved = true;
        } else if (r.status != IoStatus::kWouldBlock) {
          closeReason_ = "client-closed";
          return Outcome::kClose;
        }
      }
    }
    // To the server.
    if (!toServer_.empty()) {
      const IoResult w = server.write(toServer_.data(), toServer_.size());
      if (w.status == IoStatus::kOk) {
        bytesUp_ += w.bytes;
        toServer_.consume(w.bytes);
        moved = moved || w.bytes > 0;
      } else if (w.status != IoStatus::kWouldBlock) {
        serverEof_ = true;
        if (w.status == IoStatus::kError) serverFailure_ = server.failure();
        toServer_.clear();
        moved = true;
      }
    }
    // From the server: parsed where it was read unless part of a head waits
    // in fromServer_; what the client can take at once is written through.
    Outcome outcome = Outcome::kGoing;
    char chunk[kChunk];
    std::string_view fresh;
    if (splicingResponse(client, server)) {
      switch (spliceBody(responsePipe_, server, client, responseBody_, bytesDown_, moved)) {
        case Spliced::kGoing:
          break;
        case Spliced::kSourceEnded:
          serverEof_ = true;  // parseResponse says whether the body was whole
          break;
        case Spliced::kDestinationFailed:
          closeReason_ = "client-closed";
          return Outcome::kClose;
      }
      if (responseBody_.done()) responseDone_ = true;
    } else if (!responseDone_ && !serverEof_ && toClient_.size() < kBufferLimit) {
      const IoResult r = server.read(chunk, sizeof chunk);
      if (r.status == IoStatus::kOk) {
        fresh = std::string_view(chunk, r.bytes);
        moved = true;
      } else if (r.status != IoStatus::kWouldBlock) {
        serverEof_ = true;
        if (r.status == IoStatus::kError) serverFailure_ = server.failure();
        moved = true;
      }
    }
    if (!fromServer_.empty()) {
      fromServer_.append(fresh);
      std::string_view data = fromServer_;
      if (parseResponse(client, data, outcome)) moved = true;
      fromServer_.erase(0, fromServer_.size() - data.size());
    } else {
      if (parseResponse(client, fresh, outcome)) moved = true;
      fromServer_.assign(fresh);  // a head in pieces, or bytes after the response
    }
    if (clientFailed_) {
      closeReason_ = "client-closed";
      return Outcome::kClose;
    }
    if (outcome != Outcome::kGoing) return outcome;
    // To the client.
    if (!toClient_.empty()) {
      const IoResult w = client.write(toClient_.data(), toClient_.size());
      if (w.status == IoStatus::kOk) {
        toClient_.consume(w.bytes);
        moved = moved || w.bytes > 0;
      } else if (w.status != IoStatus::kWouldBlock) {
        closeReason_ = "client-closed";
        return Outcome::kClose;
      }
    }
    if (moved) progress = true;
    if (responseDone_ && requestDone_ && toClient_.empty() && toServer_.empty() &&
        requestPipe_.pipe.fill == 0 && responsePipe_.pipe.fill == 0) {
      releasePipe(requestPipe_);
      releasePipe(responsePipe_);
      return Outcome::kDone;
    }
    if (!moved) return Outcome::kGoing;
  }
  // Bytes may be waiting that no readiness announces (the client's, read
  // already; the inside of a TLS stream).
  return Outcome::kYielded;
}

bool HttpExchange::splicingRequest(const Stream& client, const Stream& server,
                                   const std::string& in) const {
  if (requestPipe_.pipe.fill > 0) return true;  // what is in the pipe goes on that way
  return pipes_ != nullptr && !noPipe_ && client.plain() && server.plain() && !requestDone_ &&
         !serverEof_ && request_.body == http::Framing::kLength && !request_.bodyFilter &&
         in.empty() && toServer_.empty();
}

bool HttpExchange::splicingResponse(const Stream& client, const Stream& server) const {
  if (responsePipe_.pipe.fill > 0) return true;
  const http::Framing framing = responseBody_.framing();
  return pipes_ != nullptr && !noPipe_ && client.plain() && server.plain() && responseHead_ &&
         !responseDone_ && !serverEof_ &&
         (framing == http::Framing::kLength || framing == http::Framing::kUntilClose) &&
         head_.empty() && fromServer_.empty() && toClient_.empty() && !clientFailed_;
}

HttpExchange::Spliced HttpExchange::spliceBody(BodyPipe& p, Stream& src, Stream& dst,
                                               http::BodyTracker& body, std::uint64_t& counter,
                                               bool& moved) {
  // The pipe into the destination first: it takes the source's next bytes.
  if (p.pipe.fill > 0 && !p.writeBlocked) {
    const std::size_t before = p.pipe.fill;
    const IoResult w = spliceOut(p.pipe, dst.fd());
    if (w.status == IoStatus::kOk) {
      if (w.bytes < before) p.writeBlocked = true;  // the socket buffer is full
      moved = moved || w.bytes > 0;
    } else if (w.status == IoStatus::kWouldBlock) {
      p.writeBlocked = true;
    } else {
      return Spliced::kDestinationFailed;
    }
  }
  if (p.pipe.fill > 0 || body.done()) return Spliced::kGoing;
  if (!p.pipe.open()) p.pipe = pipes_->acquire();
  if (!p.pipe.open()) {
    noPipe_ = true;  // the next round reads and writes
    moved = true;
    return Spliced::kGoing;
  }
  // No further than the body's end: what follows is not this body's.
  const std::size_t max =
      body.framing() == http::Framing::kLength
          ? static_cast<std::size_t>(std::min<std::uint64_t>(body.remaining(), p.pipe.capacity))
          : p.pipe.capacity;
  const IoResult r = spliceIn(p.pipe, src.fd(), max);
  if (r.status == IoStatus::kOk) {
    body.skip(r.bytes);
    counter += r.bytes;
    moved = true;
  } else if (r.status == IoStatus::kEof || r.status == IoStatus::kError) {
    moved = true;
    return Spliced::kSourceEnded;
  }
  return Spliced::kGoing;
}

// Takes what it can of `data` (the server's unparsed bytes), moving the
// view past it.
bool HttpExchange::parseResponse(Stream& client, std::string_view& data, Outcome& outcome) {
  bool progress = false;
  while (!responseHead_) {
    const auto end = http::findHeadEnd(data);
    if (!end) {
      if (data.size() > kMaxResponseHead) {
        fail(502, reason::kBadResponse, "the server's response head is too large");
        outcome = Outcome::kRefuse;
        return true;
      }
      if (serverEof_) {
        if (sentThisRequest_) {
          closeReason_ = "server-closed";
          outcome = Outcome::kClose;
        } else if (!serverFailure_.empty()) {
          // TLS 1.3 servers refuse a client certificate after the handshake.
          fail(502, reason::kOriginTlsFailed, "TLS to the server failed", serverFailure_);
          outcome = Outcome::kRefuse;
        } else {
          fail(502, reason::kBadResponse, "the server closed the connection without a response");
          outcome = Outcome::kRefuse;
        }
        return true;
      }
      return progress;
    }
    const std::string_view raw = data.substr(0, *end);
    auto head = http::parseResponseHead(raw, request_.method);
    if (!head) {
      fail(502, reason::kBadResponse, "the server's response is malformed", head.error().message);
      outcome = Outcome::kRefuse;
      return true;
    }
    status_ = head->status;
    if (head->status == 101 && !request_.upgrade) {
      // Switching to a protocol the request did not ask for: whatever
      // followed would pass unjudged.
      fail(502, reason::kBadResponse, "the server switched protocols without being asked",
           "101 to a request without an allowed Upgrade");
      outcome = Outcome::kRefuse;
      return true;
    }
    if (head->status == 101 && request_.plainWebSocket && head->webSocketExtensions) {
      fail(502, reason::kBadResponse,
           "the server negotiated a WebSocket extension the proxy did not offer",
           "a 101 with Sec-WebSocket-Extensions on a socket whose frames are judged");
      outcome = Outcome::kRefuse;
      return true;
    }
    if (head->status == 101) {
      // An upgrade the judged request asked for: relayed as it is, then the
      // rest is a tunnel (takeUpgradeBytes() hands over what is queued).
      toClient(client, head_);  // an interim response before it
      toClient_.append(raw);
      bytesDown_ += raw.size();
      data.remove_prefix(*end);
      sentThisRequest_ = true;
      requestDone_ = true;
      responseDone_ = true;
      outcome = Outcome::kUpgrade;
      return true;
    }
    const bool interim = head->status < 200;
    if (interim && !http::forwardInterim(head->status, request_.http10)) {
      data.remove_prefix(*end);  // read and dropped: an HTTP/1.0 client cannot read it
      progress = true;
      continue;
    }
    if (!interim) {
      responseHead_ = true;
      serverClose_ = head->close;
      // The client connection outlives this response only when its end can
      // be told: a length, no body, or chunks to an HTTP/1.1 client.
      const bool delimited = head->framing == http::Framing::kLength ||
                             head->framing == http::Framing::kNone ||
                             (head->framing == http::Framing::kChunked && !request_.http10);
      closeClientAfter_ = closeClientAfter_ || !delimited;
      if (request_.http10 && head->framing == http::Framing::kChunked) {
        // An HTTP/1.0 client cannot read chunks (and an HTTP/1.0 request
        // must not get them, RFC 9112 section 6.1).
        fail(502, reason::kBadResponse,
             "the server answered an HTTP/1.0 request with a chunked body");
        outcome = Outcome::kRefuse;
        return true;
      }
      responseBody_ = http::BodyTracker(head->framing, head->contentLength);
      responseDone_ = responseBody_.done();
    }
    // Held back a moment: the body's first bytes go in the same write.
    toClient(client, head_);
    head_ = http::forwardResponseHead(raw, *head, !closeClientAfter_, request_.http10);
    data.remove_prefix(*end);
    sentThisRequest_ = true;
    progress = true;
  }
  if (!responseDone_ && !data.empty()) {
    auto n = responseBody_.feed(data);
    if (!n) {
      closeReason_ = "bad-response-body";
      outcome = Outcome::kClose;
      return true;
    }
    toClient(client, head_, data.substr(0, *n));
    data.remove_prefix(*n);
    progress = progress || *n > 0;
    responseDone_ = responseBody_.done();
  }
  toClient(client, head_);
  if (!responseDone_ && serverEof_ && data.empty()) {
    if (responseBody_.framing() == http::Framing::kUntilClose) {
      responseDone_ = true;
      closeClientAfter_ = true;
      progress = true;
    } else {
      // Truncated: the client must not take what it got for the whole.
      closeReason_ = "server-closed";
      outcome = Outcome::kClose;
      return true;
    }
  }
  if (responseDone_ && !data.empty()) {
    // Bytes after the response: the server cannot be trusted with another request.
    data = {};
    serverClose_ = true;
  }
  return progress;
}

// Bytes for the client (`head`, emptied, then `body`): written at once
// when nothing waits before them, in one write when they are small (one
// packet for a small response), queued otherwise.
void HttpExchange::toClient(Stream& client, std::string& head, std::string_view body) {
  bytesDown_ += head.size() + body.size();
  if (head.empty() && body.empty()) return;
  if (!head.empty() && !body.empty() && head.size() + body.size() <= kJoined) {
    char joined[kJoined];
    head.copy(joined, head.size());
    body.copy(joined + head.size(), body.size());
    writeThrough(client, std::string_view(joined, head.size() + body.size()));
  } else {
    writeThrough(client, head);
    writeThrough(client, body);
  }
  head.clear();
}

void HttpExchange::writeThrough(Stream& client, std::string_view bytes) {
  if (toClient_.empty() && !clientFailed_ && !bytes.empty()) {
    const IoResult w = client.write(bytes.data(), bytes.size());
    if (w.status == IoStatus::kOk) {
      bytes.remove_prefix(w.bytes);
    } else if (w.status != IoStatus::kWouldBlock) {
      clientFailed_ = true;
      return;
    }
  }
  toClient_.append(bytes);
}

void HttpExchange::takeUpgradeBytes(std::string& toServer, std::string& toClient,
                                    std::string& afterUpgrade) {
  toServer.assign(toServer_.data(), toServer_.size());
  toClient.assign(toClient_.data(), toClient_.size());
  afterUpgrade = std::move(fromServer_);
  toServer_.clear();
  toClient_.clear();
  fromServer_.clear();
}

void HttpExchange::interest(const Stream& server, std::uint32_t& clientEvents,
                            std::uint32_t& serverEvents) const {
  // A spliced body is read once its pipe went on (a full pipe leaves the
  // socket readable: level-triggered epoll would spin).
  if (!requestDone_ && toServer_.size() < kBufferLimit && requestPipe_.pipe.fill == 0)
    clientEvents |= EPOLLIN;
  if (!toClient_.empty() || responsePipe_.pipe.fill > 0) clientEvents |= EPOLLOUT;
  if (!responseDone_ && !serverEof_ && toClient_.size() < kBufferLimit &&
      responsePipe_.pipe.fill == 0)
    serverEvents |= EPOLLIN;
  if (!toServer_.empty() || requestPipe_.pipe.fill > 0 || server.blockedOnWrite())
    serverEvents |= EPOLLOUT;
  if (server.blockedOnRead()) serverEvents |= EPOLLIN;
}

}  // namespace lens::proxy
