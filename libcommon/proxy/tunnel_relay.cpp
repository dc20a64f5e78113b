#include "libcommon/proxy/tunnel_relay.h"

#include <fcntl.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>

namespace lens::proxy {

namespace {

constexpr std::size_t kChunk = 64 * 1024;  // one read from a socket
constexpr std::size_t kBufferLimit =
    256 * 1024;                                // bytes buffered per direction before reading stops
constexpr std::size_t kSmallRead = 16 * 1024;  // a splice below this drained the socket

}  // namespace

TunnelRelay::~TunnelRelay() { releasePipes(); }

void TunnelRelay::releasePipes() {
  pipes_.release(up_.pipe);
  pipes_.release(down_.pipe);
}

void TunnelRelay::reset() {
  releasePipes();
  up_ = Flow{};
  down_ = Flow{};
  policer_ = nullptr;
  refused_ = false;
  bytesUp_ = bytesDown_ = 0;
}

void TunnelRelay::start(std::string_view toServer, std::string_view toClient, bool clientBuffered,
                        bool serverBuffered, RelayPolicer* policer) {
  reset();
  policer_ = policer;
  if (policer_) {
    std::string forward;
    refused_ = !policer_->fromClient(toServer, forward);
    up_.buffer.append(forward);
  } else {
    up_.buffer.append(toServer);
  }
  down_.buffer.append(toClient);
  // Level-triggered epoll reports what is already waiting in the sockets;
  // a TLS stream may hold decrypted bytes epoll cannot see.
  up_.readable = clientBuffered;
  down_.readable = serverBuffered;
}

// A TLS source may need its socket writable to read on: any event makes
// both directions of that side worth another try.
void TunnelRelay::onClient(std::uint32_t events) {
  if (events != 0) up_.readable = true;
  if ((events & EPOLLOUT) != 0) down_.writeBlocked = false;
}

void TunnelRelay::onServer(std::uint32_t events) {
  if (events != 0) down_.readable = true;
  if ((events & EPOLLOUT) != 0) up_.writeBlocked = false;
}

std::string TunnelRelay::takeUnsentToClient() {
  std::string out(down_.buffer.data(), down_.buffer.size());
  down_.buffer.clear();
  return out;
}

TunnelRelay::Outcome TunnelRelay::pump(Stream& client, Stream& server, bool& progress) {
  if (refused_) return Outcome::kRefused;
  if (!pumpFlow(down_, up_, server, client, bytesDown_, progress) ||
      !pumpFlow(up_, down_, client, server, bytesUp_, progress)) {
    return Outcome::kReset;
  }
  if (refused_) return Outcome::kRefused;
  return up_.dstShut && down_.dstShut ? Outcome::kDone : Outcome::kGoing;
}

void TunnelRelay::interest(const Stream& server, std::uint32_t& clientEvents,
                           std::uint32_t& serverEvents) const {
  const bool upRoom = up_.buffer.size() < kBufferLimit &&
                      up_.pipe.fill < std::max<std::size_t>(up_.pipe.capacity, 1);
  const bool downRoom = down_.buffer.size() < kBufferLimit &&
                        down_.pipe.fill < std::max<std::size_t>(down_.pipe.capacity, 1);
  if (!up_.srcEof && upRoom) clientEvents |= EPOLLIN;
  if (!down_.srcEof && downRoom) serverEvents |= EPOLLIN;
  if (down_.writeBlocked) clientEvents |= EPOLLOUT;
  if (up_.writeBlocked) serverEvents |= EPOLLOUT;
  if (server.blockedOnWrite()) serverEvents |= EPOLLOUT;
  if (server.blockedOnRead()) serverEvents |= EPOLLIN;
}

bool TunnelRelay::pumpFlow(Flow& f, const Flow& other, Stream& src, Stream& dst,
                           std::uint64_t& counter, bool& progress) {
  const bool splicing = src.plain() && dst.plain() && !policer_;
  for (;;) {
    bool moved = false;
    // 1. Buffered bytes first (a head's leftovers, or a TLS side).
    while (!f.buffer.empty() && !f.writeBlocked) {
      const IoResult w = dst.write(f.buffer.data(), f.buffer.size());
      if (w.status == IoStatus::kWouldBlock) {
        f.writeBlocked = true;
        break;
      }
      if (w.status != IoStatus::kOk) return false;
      f.buffer.consume(w.bytes);
      counter += w.bytes;
      moved = true;
    }
    // 2. The pipe into the destination.
    if (f.buffer.empty() && f.pipe.fill > 0 && !f.writeBlocked) {
      const std::size_t before = f.pipe.fill;
      const IoResult w = spliceOut(f.pipe, dst.fd());
      if (w.status == IoStatus::kOk) {
        if (w.bytes < before) f.writeBlocked = true;  // the socket buffer is full
        counter += w.bytes;
        moved = true;
      } else if (w.status == IoStatus::kWouldBlock) {
        f.writeBlocked = true;
      } else {
        return false;
      }
    }
    // 3. The source into the pipe (or the buffer).
    if (!f.srcEof && f.readable) {
      if (splicing && f.buffer.empty()) {
        if (!f.pipe.open()) f.pipe = pipes_.acquire();
        if (!f.pipe.open()) return false;
        if (f.pipe.fill < f.pipe.capacity) {
          const IoResult r = spliceIn(f.pipe, src.fd(), f.pipe.capacity);
          if (r.status == IoStatus::kOk) {
            // A small read is all there was (a request, an answer): epoll
            // says when more comes, no need to ask again for EAGAIN. A
            // large one may have stopped at the pipe's page slots: go on.
            if (r.bytes < kSmallRead) f.readable = false;
            moved = true;
          } else if (r.status == IoStatus::kEof) {
            f.srcEof = true;
            moved = true;
          } else if (r.status == IoStatus::kWouldBlock) {
            f.readable = false;
          } else {
            return false;
          }
        }
      } else if (!splicing && f.buffer.size() < kBufferLimit) {
        char chunk[kChunk];
        const IoResult r = src.read(chunk, sizeof chunk);
        if (r.status == IoStatus::kOk) {
          const std::string_view read(chunk, r.bytes);
          moved = true;
          if (!policer_) {
            f.buffer.append(read);
          } else if (&f == &down_) {
            policer_->fromServer(read);
            f.buffer.append(read);
          } else {
            std::string forward;
            refused_ = !policer_->fromClient(read, forward);
            f.buffer.append(forward);
            if (refused_) break;
          }
        } else if (r.status == IoStatus::kEof) {
          f.srcEof = true;
          moved = true;
        } else if (r.status == IoStatus::kWouldBlock) {
          f.readable = false;
        } else {
          return false;
        }
      }
    }
    // 4. The end of the source, once everything is through.
    if (f.srcEof && f.buffer.empty() && f.pipe.fill == 0 && !f.dstShut) {
      // The last direction to end needs no shutdown: the close that follows sends the FIN.
      if (!other.dstShut || !dst.plain()) dst.shutdownWrite();
      f.dstShut = true;
      moved = true;
    }
    if (!moved) break;
    progress = true;
  }
  // An idle direction gives its (empty) pipe back.
  if (f.pipe.open() && f.pipe.fill == 0 && !f.readable) pipes_.release(f.pipe);
  return true;
}

}  // namespace lens::proxy
