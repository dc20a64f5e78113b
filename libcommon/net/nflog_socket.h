#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "libcommon/net/nflog_message.h"
#include "libcommon/util/result.h"
#include "libcommon/util/unique_fd.h"

namespace lens::net::nflog {

// A NETLINK_NETFILTER socket bound to one NFLOG group of the current network
// namespace. Only one socket can hold a group: binding a group another socket
// holds fails with a message that says so. The destructor unbinds the group.
class Socket {
 public:
  // Opens, binds and configures the group. Errors:
  //   kPermission  no CAP_NET_ADMIN, or a kernel without nfnetlink_log
  //   kIo          the group is bound by another socket (the message names
  //                the group), or a system call failed
  [[nodiscard]] static Result<Socket> open(const Config& config, int receiveBuffer = 4 << 20);

  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) = delete;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();

  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] std::uint16_t group() const { return group_; }

  struct Received {
    std::size_t bytes = 0;  // 0: nothing to read now
    bool overrun = false;   // ENOBUFS: the kernel dropped messages for this socket
  };
  // Reads one datagram into `buffer` (resized to what was read) without
  // blocking. Datagrams from anything but the kernel are discarded.
  [[nodiscard]] Result<Received> receive(std::vector<std::uint8_t>& buffer);

 private:
  Socket(util::UniqueFd fd, std::uint16_t group) : fd_(std::move(fd)), group_(group) {}
  Result<int> transact(std::vector<std::uint8_t> request, std::uint32_t seq);

  util::UniqueFd fd_;
  std::uint16_t group_ = 0;
  std::uint32_t seq_ = 0;
  bool bound_ = false;
  // Datagrams with packets that arrived while waiting for an acknowledgement.
  std::deque<std::vector<std::uint8_t>> pending_;
};

}  // namespace lens::net::nflog
