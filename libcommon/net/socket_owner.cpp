#include "libcommon/net/socket_owner.h"
#include "libcommon/util/system_error.h"
#include "libcommon/util/unique_fd.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

// The netlink access macros (NLMSG_DATA, NLMSG_NEXT, ...) are C and cast the old way.
#pragma GCC diagnostic ignored "-Wold-style-cast"

namespace lens::net {

namespace {

constexpr std::string_view kDeleted = " (deleted)";

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using Dir = std::unique_ptr<DIR, DirCloser>;

// ::ffff:a.b.c.d
bool isMapped(const IpAddress& a) {
  if (!a.isV6()) return false;
  const auto& b = a.bytes();
  return std::all_of(b.begin(), b.begin() + 10, [](std::uint8_t x) { return x == 0; }) &&
         b[10] == 0xff && b[11] == 0xff;
}

// The IPv4 address of a v4 or mapped address.
IpAddress asV4(const IpAddress& a) {
  if (a.isV4()) return a;
  const auto& b = a.bytes();
  return IpAddress::fromV4((std::uint32_t{b[12]} << 24) | (std::uint32_t{b[13]} << 16) |
                           (std::uint32_t{b[14]} << 8) | std::uint32_t{b[15]});
}

void copyAddress(const IpAddress& a, __be32 (&out)[4]) {
  std::memcpy(out, a.bytes().data(), a.isV4() ? 4 : 16);
}

std::optional<std::string> readLink(const std::string& path) {
  std::array<char, 4096> buffer{};
  const ssize_t n = ::readlink(path.c_str(), buffer.data(), buffer.size());
  if (n <= 0 || static_cast<std::size_t>(n) >= buffer.size()) return std::nullopt;
  return std::string(buffer.data(), static_cast<std::size_t>(n));
}

std::optional<std::string> readSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return out.str();
}

std::optional<int> parsePid(std::string_view text) {
  int value = 0;
  const auto* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || p != end || value <= 0) return std::nullopt;
  return value;
}

bool holds(const std::string& procRoot, int pid, std::string_view link) {
  const std::string fdDir = procRoot + "/" + std::to_string(pid) + "/fd";
  Dir dir(::opendir(fdDir.c_str()));
  if (!dir) return false;  // gone, or not ours to read
  std::array<char, 64> target{};
  while (const dirent* entry = ::readdir(dir.get())) {
    if (entry->d_name[0] == '.') continue;
    const ssize_t n = ::readlinkat(::dirfd(dir.get()), entry->d_name, target.data(), target.size());
    if (n <= 0 || static_cast<std::size_t>(n) >= target.size()) continue;
    if (std::string_view(target.data(), static_cast<std::size_t>(n)) == link) return true;
  }
  return false;
}

}  // namespace

std::string stripDeleted(std::string_view exe) {
  if (exe.size() > kDeleted.size() && exe.substr(exe.size() - kDeleted.size()) == kDeleted) {
    exe.remove_suffix(kDeleted.size());
  }
  return std::string(exe);
}

std::optional<ProcStat> parseProcStat(std::string_view text) {
  const std::size_t open = text.find(" (");
  const std::size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open + 2) {
    return std::nullopt;
  }
  ProcStat stat;
  const auto pid = parsePid(text.substr(0, open));
  if (!pid) return std::nullopt;
  stat.pid = *pid;
  stat.comm = std::string(text.substr(open + 2, close - open - 2));
  // ") S 123 ..."
  std::string_view rest = text.substr(close + 1);
  if (rest.size() < 4 || rest[0] != ' ' || rest[2] != ' ') return std::nullopt;
  stat.state = rest[1];
  rest.remove_prefix(3);
  const std::size_t space = rest.find(' ');
  const std::string_view ppid = rest.substr(0, space);
  int value = -1;
  auto [p, ec] = std::from_chars(ppid.data(), ppid.data() + ppid.size(), value);
  if (ec != std::errc() || p != ppid.data() + ppid.size() || value < 0) return std::nullopt;
  stat.ppid = value;
  return stat;
}

Result<SocketInode> findTcpSocket(const SocketAddress& source, const SocketAddress& destination) {
  IpAddress src = source.address();
  IpAddress dst = destination.address();
  // A dual-stack listener sees an IPv4 client as ::ffff:a.b.c.d; the
  // client's socket is (most likely) AF_INET, and the kernel looks a mapped
  // AF_INET6 request up among the IPv4 sockets anyway.
  if (isMapped(src) && (isMapped(dst) || dst.isV4())) src = asV4(src);
  if (isMapped(dst) && src.isV4()) dst = asV4(dst);
  if (src.isV4() != dst.isV4()) {
    return Error{ErrorCode::kInvalidArgument, "socket lookup: " + source.toString() + " and " +
                                                  destination.toString() +
                                                  " are of different address families"};
  }

  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST;
  message.header.nlmsg_seq = 1;
  message.request.sdiag_family = src.isV4() ? AF_INET : AF_INET6;
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = ~0U;
  message.request.id.idiag_sport = htons(source.port());
  message.request.id.idiag_dport = htons(destination.port());
  copyAddress(src, message.request.id.idiag_src);
  copyAddress(dst, message.request.id.idiag_dst);
  message.request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  message.request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

  const util::UniqueFd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (fd.get() < 0) return util::systemError("socket(NETLINK_SOCK_DIAG)");
  const timeval timeout{1, 0};  // the kernel answers at once; never hang the event loop
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd.get(), &message, sizeof message, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) < 0) {
    return util::systemError("send to sock_diag");
  }
  const std::string what = "TCP socket " + source.toString() + " -> " + destination.toString();
  alignas(nlmsghdr) char reply[8192];
  for (;;) {
    const ssize_t n = ::recv(fd.get(), reply, sizeof reply, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return util::systemError("recv from sock_diag");
    }
    int length = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(reply); NLMSG_OK(h, length);
         h = NLMSG_NEXT(h, length)) {
      if (h->nlmsg_seq != message.header.nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (err->error == 0) continue;
        errno = -err->error;
        if (errno == ENOENT) return Error{ErrorCode::kNotFound, what + ": no such socket"};
        return util::systemError("sock_diag " + what);
      }
      if (h->nlmsg_type == NLMSG_DONE)
        return Error{ErrorCode::kNotFound, what + ": no such socket"};
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
          h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) {
        continue;
      }
      const auto* msg = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (msg->idiag_inode == 0) {
        return Error{ErrorCode::kNotFound, what + ": the socket has no inode (closed)"};
      }
      return SocketInode{msg->idiag_inode, msg->idiag_uid};
    }
  }
}

Result<int> findSocketHolder(std::uint64_t inode, std::optional<std::uint32_t> uid,
                             const std::string& procRoot, const std::vector<int>& first) {
  const std::string link = "socket:[" + std::to_string(inode) + "]";
  for (int pid : first) {
    if (holds(procRoot, pid, link)) return pid;
  }
  Dir proc(::opendir(procRoot.c_str()));
  if (!proc) return util::systemError("opendir " + procRoot);
  // The processes running as the socket's uid first: the creator is almost
  // always one of them, and their descriptors are the ones worth reading.
  std::vector<int> likely;
  std::vector<int> others;
  while (const dirent* entry = ::readdir(proc.get())) {
    const auto pid = parsePid(entry->d_name);
    if (!pid) continue;
    struct stat st {};
    if (::fstatat(::dirfd(proc.get()), entry->d_name, &st, 0) != 0) continue;
    (uid && st.st_uid == *uid ? likely : others).push_back(*pid);
  }
  for (const auto* list : {&likely, &others}) {
    for (int pid : *list) {
      if (holds(procRoot, pid, link)) return pid;
    }
  }
  return Error{ErrorCode::kNotFound, "no process holds " + link};
}

Result<std::vector<std::string>> processChain(int pid, const std::string& procRoot) {
  std::vector<std::string> chain;
  for (int current = pid; current > 1 && chain.size() < kMaxChain;) {
    const std::string dir = procRoot + "/" + std::to_string(current);
    // An ancestor whose exe cannot be read (a kernel thread, another user's
    // process) adds nothing: a missing entry can only make a binaries rule
    // deny, never allow.
    if (auto exe = readLink(dir + "/exe")) {
      chain.push_back(stripDeleted(*exe));
    } else if (current == pid) {
      return Error{ErrorCode::kNotFound,
                   "cannot read the executable of process " + std::to_string(pid)};
    }
    const auto text = readSmallFile(dir + "/stat");
    const auto stat = text ? parseProcStat(*text) : std::nullopt;
    if (!stat) break;  // gone: the chain so far is what there is
    current = stat->ppid;
  }
  return chain;
}

namespace {

Result<SocketOwner> ownerOf(const SocketInode& socket, int pid, const std::string& procRoot) {
  auto chain = processChain(pid, procRoot);
  if (!chain) return chain.error();
  SocketOwner owner;
  owner.inode = socket.inode;
  owner.uid = socket.uid;
  owner.pid = pid;
  owner.chain = std::move(*chain);
  if (const auto text = readSmallFile(procRoot + "/" + std::to_string(pid) + "/stat")) {
    if (const auto stat = parseProcStat(*text)) owner.name = stat->comm;
  }
  return owner;
}

}  // namespace

Result<SocketOwner> findSocketOwner(const SocketAddress& client, const SocketAddress& destination) {
  auto socket = findTcpSocket(client, destination);
  if (!socket) return socket.error();
  auto pid = findSocketHolder(socket->inode, socket->uid);
  if (!pid) return pid.error();
  return ownerOf(*socket, *pid, "/proc");
}

Result<SocketOwner> SocketOwnerFinder::find(const SocketAddress& client,
                                            const SocketAddress& destination) {
  auto socket = findTcpSocket(client, destination);
  if (!socket) return socket.error();
  const std::vector<int> recent = recent_;
  auto pid = findSocketHolder(socket->inode, socket->uid, procRoot_, recent);
  if (!pid) return pid.error();
  if (std::find(recent.begin(), recent.end(), *pid) == recent.end()) ++scans_;
  recent_.erase(std::remove(recent_.begin(), recent_.end(), *pid), recent_.end());
  recent_.insert(recent_.begin(), *pid);
  if (recent_.size() > remember_) recent_.resize(remember_);
  return ownerOf(*socket, *pid, procRoot_);
}

}  // namespace lens::net
