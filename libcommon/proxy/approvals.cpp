#include "libcommon/proxy/approvals.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "libcommon/log/logging.h"
#include "libcommon/net/unix_socket.h"

namespace lens::proxy {

namespace {

approval::Reply noApprover(std::string detail) {
  approval::Reply r;
  r.answer = approval::Answer::kNoApprover;
  r.detail = std::move(detail);
  return r;
}

}  // namespace

Approvals::Approvals(Reactor& reactor, std::string path)
    : reactor_(reactor), path_(std::move(path)) {}

Approvals::~Approvals() { reactor_.remove(watch_); }

bool Approvals::connect(std::string& why) {
  if (fd_) return true;
  auto fd = net::connectUnix(path_, SOCK_SEQPACKET);
  if (!fd) {
    why = "no approval broker: " + fd.error().message;
    return false;
  }
  fd_ = std::move(*fd);
  watch_.fd = fd_.get();
  if (auto ok = reactor_.set(watch_, EPOLLIN); !ok) {
    why = "cannot watch the approval socket: " + ok.error().message;
    reactor_.forget(watch_);
    fd_.reset();
    watch_.fd = -1;
    return false;
  }
  log::get("proxy")->info("connected to the approval broker at {}", path_);
  return true;
}

std::variant<std::uint64_t, approval::Reply> Approvals::ask(const approval::Item& item, Done done) {
  std::string why;
  if (!connect(why)) return noApprover(why);
  const std::uint64_t ref = nextRef_++;
  const std::string text = approval::encodeAsk(ref, item);
  if (::send(fd_.get(), text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
    const int err = errno;
    if (err == EAGAIN) return noApprover("the approval broker is not keeping up");
    lost(std::string("the approval socket failed: ") + std::strerror(err));
    return noApprover(std::string("the approval socket failed: ") + std::strerror(err));
  }
  waiting_.emplace(ref, std::move(done));
  return ref;
}

void Approvals::cancel(std::uint64_t ref) {
  if (waiting_.erase(ref) == 0 || !fd_) return;
  const std::string text = approval::encodeCancel(ref);
  (void)::send(fd_.get(), text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

void Approvals::onIo(int /*fd*/, std::uint32_t events) {
  while (fd_) {
    char buf[approval::kMaxMessage + 1];
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    if (n <= 0) {
      lost(n == 0 ? "the approval broker closed its socket"
                  : std::string("the approval socket failed: ") + std::strerror(errno));
      return;
    }
    if (static_cast<std::size_t>(n) > approval::kMaxMessage) {
      lost("the approval broker sent an oversized message");
      return;
    }
    auto reply = approval::parseReply(std::string_view(buf, static_cast<std::size_t>(n)));
    if (!reply) {
      lost("the approval broker sent a bad message: " + reply.error().message);
      return;
    }
    auto it = waiting_.find(reply->ref);
    if (it == waiting_.end()) continue;  // cancelled meanwhile
    Done done = std::move(it->second);
    waiting_.erase(it);
    done(*reply);
  }
  if ((events & (EPOLLHUP | EPOLLERR)) != 0 && fd_) lost("the approval broker went away");
}

void Approvals::lost(const std::string& why) {
  log::get("proxy")->warn("approvals: {}; asks waiting are refused ({})", why,
                          approval::word(approval::Answer::kNoApprover));
  reactor_.remove(watch_);
  fd_.reset();
  watch_.fd = -1;
  auto waiting = std::exchange(waiting_, {});
  for (auto& [ref, done] : waiting) {
    approval::Reply r = noApprover(why);
    r.ref = ref;
    done(r);
  }
}

}  // namespace lens::proxy
