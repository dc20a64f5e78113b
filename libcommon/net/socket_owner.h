#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/net/socket_address.h"
#include "libcommon/util/result.h"

namespace lens::net {

// The program on the other end of a TCP connection that a proxy accepted
// from a client in its own network namespace (a loopback client of
// lens-proxy, a redirected local client of lens-tproxy).
//
// Found in three steps:
//   1. NETLINK_SOCK_DIAG, one exact 4-tuple lookup (inet_diag_req_v2, no
//      dump): the client's socket, whose source is the proxy's peer address
//      and whose destination is where the client connected to (the proxy's
//      own address, or for a redirected connection the original
//      destination), gives its inode and uid;
//   2. a scan of /proc/[pid]/fd for the link "socket:[inode]", processes
//      running as that uid first; the first holder wins (after a fork both
//      hold it; the one with the lower pid in that order is taken, or with
//      SocketOwnerFinder the one that most recently held another socket);
//   3. the chain: the holder's /proc/pid/exe, then each parent's (ppid from
//      /proc/pid/stat), up to but excluding pid 1, at most kMaxChain.
// Anything that vanishes or is unreadable on the way is skipped; no holder,
// or a holder whose exe cannot be read, is an error: the caller is unknown.
struct SocketOwner {
  std::uint64_t inode = 0;
  std::uint32_t uid = 0;
  int pid = 0;
  std::string name;                // the holder's comm (from /proc/pid/stat)
  std::vector<std::string> chain;  // the holder's exe, then its ancestors'; never empty
};

inline constexpr std::size_t kMaxChain = 64;

// The owner of the connection from `client` to `destination`.
// ErrorCode::kNotFound when the socket or its holder is gone, kIo or
// kPermission when netlink or /proc cannot be read.
[[nodiscard]] Result<SocketOwner> findSocketOwner(const SocketAddress& client,
                                                  const SocketAddress& destination);

// Step 1: the inode and uid of the TCP socket from `source` to `destination`.
struct SocketInode {
  std::uint64_t inode = 0;
  std::uint32_t uid = 0;
};
[[nodiscard]] Result<SocketInode> findTcpSocket(const SocketAddress& source,
                                                const SocketAddress& destination);

// Step 2: the first process holding socket:[inode] (preferring `uid`),
// after trying the processes in `first` (their descriptors only).
[[nodiscard]] Result<int> findSocketHolder(std::uint64_t inode, std::optional<std::uint32_t> uid,
                                           const std::string& procRoot = "/proc",
                                           const std::vector<int>& first = {});

// findSocketOwner for many connections: the processes that held the last
// sockets are tried first (a client that opened one connection usually
// opens the next), so the scan of every process's descriptors (about a
// millisecond per hundred processes) is paid once per client process, not
// once per connection. Not thread-safe: one per thread.
class SocketOwnerFinder {
 public:
  explicit SocketOwnerFinder(std::string procRoot = "/proc", std::size_t remember = 16)
      : procRoot_(std::move(procRoot)), remember_(remember) {}
  [[nodiscard]] Result<SocketOwner> find(const SocketAddress& client,
                                         const SocketAddress& destination);
  [[nodiscard]] std::uint64_t scans() const { return scans_; }  // lookups the recent missed

 private:
  std::string procRoot_;
  std::size_t remember_;
  std::vector<int> recent_;  // most recent first
  std::uint64_t scans_ = 0;
};

// Step 3: the exe chain from `pid` up to (excluding) pid 1.
[[nodiscard]] Result<std::vector<std::string>> processChain(int pid,
                                                            const std::string& procRoot = "/proc");

// The contents of /proc/pid/stat, split where a comm containing spaces and
// parentheses cannot fool it (the comm ends at the last ')').
struct ProcStat {
  int pid = 0;
  std::string comm;
  char state = '?';
  int ppid = 0;
};
[[nodiscard]] std::optional<ProcStat> parseProcStat(std::string_view text);

// "/usr/bin/python3.11 (deleted)" -> "/usr/bin/python3.11".
[[nodiscard]] std::string stripDeleted(std::string_view exe);

}  // namespace lens::net
