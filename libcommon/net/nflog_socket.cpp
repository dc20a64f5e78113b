#include "libcommon/net/nflog_socket.h"
#include "libcommon/util/system_error.h"

#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace lens::net::nflog {

namespace {

constexpr std::size_t kMaxDatagram = 65536;
constexpr int kAckTimeoutMs = 2000;

}  // namespace

Result<Socket> Socket::open(const Config& config, int receiveBuffer) {
  util::UniqueFd owned(
      ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER));
  if (!owned) {
    const int e = errno;
    return makeError(
        e == EPROTONOSUPPORT || e == EAFNOSUPPORT ? ErrorCode::kPermission : ErrorCode::kIo,
        std::string("socket(AF_NETLINK, NETLINK_NETFILTER): ") + std::strerror(e) +
            (e == EPROTONOSUPPORT ? " (a kernel without nfnetlink)" : ""));
  }
  Socket socket(std::move(owned), config.group);
  const int fd = socket.fd();
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) < 0) {
    return util::systemError("bind(NETLINK_NETFILTER)", errno);
  }
  // A large buffer, forced past rmem_max when we may (root): a burst of
  // refusals must not overrun it. Failing that, the default stays.
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receiveBuffer, sizeof receiveBuffer) < 0) {
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
  }
  const std::uint32_t seq = ++socket.seq_;
  auto result = socket.transact(bindRequest(config, seq), seq);
  if (!result) return result.error();
  const int error = *result;
  const std::string group = "NFLOG group " + std::to_string(config.group);
  if (error == EPERM || error == EBUSY) {
    // With CAP_NET_ADMIN (the caller checks), EPERM means another socket
    // holds the group: the kernel hands each group to one socket.
    return makeError(
        ErrorCode::kIo,
        group + " is already bound by another process in this network namespace (" +
            std::strerror(error) +
            "): only one process can receive a group; stop the other watcher (lens-lockdown watch, "
            "ulogd) or use another --log-group with a cage applied for it");
  }
  if (error == ENOENT || error == EOPNOTSUPP || error == EAFNOSUPPORT) {
    return makeError(ErrorCode::kPermission, "binding " + group + ": " + std::strerror(error) +
                                                 " (a kernel without nfnetlink_log)");
  }
  if (error != 0)
    return makeError(ErrorCode::kIo, "binding " + group + ": " + std::strerror(error));
  socket.bound_ = true;
  return socket;
}

Socket::Socket(Socket&& other) noexcept
    : fd_(std::move(other.fd_)),
      group_(other.group_),
      seq_(other.seq_),
      bound_(other.bound_),
      pending_(std::move(other.pending_)) {}

Socket::~Socket() {
  if (!fd_) return;
  // Unbinding frees the group at once (closing the socket would too, a
  // little later); the answer does not matter any more. fd_ closes after.
  if (bound_) {
    const auto request = unbindRequest(group_, ++seq_);
    (void)::send(fd_.get(), request.data(), request.size(), MSG_DONTWAIT);
  }
}

Result<int> Socket::transact(std::vector<std::uint8_t> request, std::uint32_t seq) {
  if (::send(fd_.get(), request.data(), request.size(), 0) < 0)
    return util::systemError("send to nfnetlink", errno);
  std::vector<std::uint8_t> buffer;
  for (;;) {
    pollfd p{fd_.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, kAckTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return util::systemError("poll(nfnetlink)", errno);
    if (ready == 0)
      return makeError(ErrorCode::kTimeout, "nfnetlink did not answer the NFLOG configuration");
    buffer.resize(kMaxDatagram);
    sockaddr_nl from{};
    socklen_t fromLength = sizeof from;
    const ssize_t n = ::recvfrom(fd_.get(), buffer.data(), buffer.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &fromLength);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) continue;
      return util::systemError("recv from nfnetlink", errno);
    }
    if (from.nl_pid != 0) continue;
    buffer.resize(static_cast<std::size_t>(n));
    const Datagram d = parseDatagram(buffer);
    if (!d.packets.empty()) pending_.push_back(buffer);
    for (const Ack& ack : d.acks) {
      if (ack.seq == seq) return ack.error;
    }
  }
}

Result<Socket::Received> Socket::receive(std::vector<std::uint8_t>& buffer) {
  if (!pending_.empty()) {
    buffer = std::move(pending_.front());
    pending_.pop_front();
    return Received{buffer.size(), false};
  }
  for (;;) {
    buffer.resize(kMaxDatagram);
    sockaddr_nl from{};
    socklen_t fromLength = sizeof from;
    const ssize_t n = ::recvfrom(fd_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&from), &fromLength);
    if (n < 0) {
      buffer.clear();
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Received{};
      if (errno == ENOBUFS) return Received{0, true};
      return util::systemError("recv from nfnetlink", errno);
    }
    if (from.nl_pid != 0) continue;  // only the kernel speaks here
    buffer.resize(static_cast<std::size_t>(n));
    return Received{buffer.size(), false};
  }
}

}  // namespace lens::net::nflog
