#include "libcommon/net/policy_routing.h"

#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "libcommon/util/system_error.h"
#include "libcommon/util/unique_fd.h"

// The netlink access macros (NLMSG_DATA, RTA_NEXT, ...) are C and cast the old way.
#pragma GCC diagnostic ignored "-Wold-style-cast"

namespace lens::net {

namespace {

// One rtnetlink request: header, family header, attributes.
class Message {
 public:
  Message(std::uint16_t type, std::uint16_t flags, const void* family, std::size_t familyLength) {
    buffer_.resize(NLMSG_LENGTH(familyLength));
    auto* header = reinterpret_cast<nlmsghdr*>(buffer_.data());
    header->nlmsg_type = type;
    header->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
    std::memcpy(NLMSG_DATA(header), family, familyLength);
  }

  void addU32(std::uint16_t type, std::uint32_t value) {
    const std::size_t offset = NLMSG_ALIGN(buffer_.size());
    buffer_.resize(offset + RTA_SPACE(sizeof value));
    auto* attr = reinterpret_cast<rtattr*>(buffer_.data() + offset);
    attr->rta_type = type;
    attr->rta_len = static_cast<unsigned short>(RTA_LENGTH(sizeof value));
    std::memcpy(RTA_DATA(attr), &value, sizeof value);
  }

  [[nodiscard]] std::vector<char>& finish(std::uint32_t seq) {
    auto* header = reinterpret_cast<nlmsghdr*>(buffer_.data());
    header->nlmsg_len = static_cast<std::uint32_t>(buffer_.size());
    header->nlmsg_seq = seq;
    return buffer_;
  }

 private:
  std::vector<char> buffer_;
};

class Socket {
 public:
  Socket() : fd_(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) {}

  // Sends a request with NLM_F_ACK and returns the kernel's errno (0 = ok).
  Result<int> transact(Message& message) {
    if (!fd_) return util::systemError("socket(AF_NETLINK)");
    std::vector<char>& bytes = message.finish(++seq_);
    if (::send(fd_.get(), bytes.data(), bytes.size(), 0) < 0)
      return util::systemError("send to rtnetlink");
    char reply[8192];
    for (;;) {
      const ssize_t n = ::recv(fd_.get(), reply, sizeof reply, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return util::systemError("recv from rtnetlink");
      }
      int length = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(reply); NLMSG_OK(h, length);
           h = NLMSG_NEXT(h, length)) {
        if (h->nlmsg_seq != seq_ || h->nlmsg_type != NLMSG_ERROR) continue;
        const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        return -err->error;
      }
    }
  }

  // Dumps the rules of one family and calls visit(fib_rule_hdr, attributes...).
  template <class Visit>
  Status dumpRules(unsigned char family, Visit visit) {
    if (!fd_) return util::systemError("socket(AF_NETLINK)");
    fib_rule_hdr hdr{};
    hdr.family = family;
    Message message(RTM_GETRULE, NLM_F_DUMP, &hdr, sizeof hdr);
    std::vector<char>& bytes = message.finish(++seq_);
    if (::send(fd_.get(), bytes.data(), bytes.size(), 0) < 0)
      return util::systemError("send to rtnetlink");
    std::vector<char> reply(32768);
    for (;;) {
      const ssize_t n = ::recv(fd_.get(), reply.data(), reply.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return util::systemError("recv from rtnetlink");
      }
      int length = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(reply.data()); NLMSG_OK(h, length);
           h = NLMSG_NEXT(h, length)) {
        if (h->nlmsg_seq != seq_) continue;
        if (h->nlmsg_type == NLMSG_DONE) return Ok{};
        if (h->nlmsg_type == NLMSG_ERROR) {
          const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
          return makeError(ErrorCode::kIo,
                           std::string("rtnetlink rule dump: ") + std::strerror(-err->error));
        }
        const auto* rule = static_cast<const fib_rule_hdr*>(NLMSG_DATA(h));
        int attrLength = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *rule));
        std::uint32_t mark = 0, table = rule->table, priority = 0;
        for (auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(NLMSG_DATA(h)) +
                                                 NLMSG_ALIGN(sizeof *rule));
             RTA_OK(a, attrLength); a = RTA_NEXT(a, attrLength)) {
          std::uint32_t value = 0;
          if (RTA_PAYLOAD(a) >= sizeof value) std::memcpy(&value, RTA_DATA(a), sizeof value);
          if (a->rta_type == FRA_FWMARK) mark = value;
          if (a->rta_type == FRA_TABLE) table = value;
          if (a->rta_type == FRA_PRIORITY) priority = value;
        }
        visit(mark, table, priority);
      }
    }
  }

 private:
  util::UniqueFd fd_;
  std::uint32_t seq_ = 0;
};

Message ruleMessage(std::uint16_t type, std::uint16_t flags, unsigned char family,
                    const FwmarkRoute& r) {
  fib_rule_hdr hdr{};
  hdr.family = family;
  hdr.action = FR_ACT_TO_TBL;
  hdr.table = r.table < 256 ? static_cast<unsigned char>(r.table)
                            : static_cast<unsigned char>(RT_TABLE_UNSPEC);
  Message m(type, flags, &hdr, sizeof hdr);
  m.addU32(FRA_FWMARK, r.mark);
  m.addU32(FRA_FWMASK, 0xffffffffU);
  m.addU32(FRA_TABLE, r.table);
  m.addU32(FRA_PRIORITY, r.priority);
  return m;
}

Message routeMessage(std::uint16_t type, std::uint16_t flags, unsigned char family,
                     const FwmarkRoute& r) {
  rtmsg hdr{};
  hdr.rtm_family = family;
  hdr.rtm_table = r.table < 256 ? static_cast<unsigned char>(r.table)
                                : static_cast<unsigned char>(RT_TABLE_UNSPEC);
  hdr.rtm_protocol = RTPROT_STATIC;
  hdr.rtm_scope = RT_SCOPE_HOST;
  hdr.rtm_type = RTN_LOCAL;
  Message m(type, flags, &hdr, sizeof hdr);
  m.addU32(RTA_TABLE, r.table);
  m.addU32(RTA_OIF, ::if_nametoindex("lo"));
  return m;
}

const char* familyName(unsigned char family) { return family == AF_INET ? "IPv4" : "IPv6"; }

Status fromErrno(int error, const std::string& what) {
  if (error == 0) return Ok{};
  return makeError(error == EPERM || error == EACCES ? ErrorCode::kPermission : ErrorCode::kIo,
                   what + ": " + std::strerror(error));
}

// Which steps one install made, so a failure can take exactly those back.
struct Step {
  bool rule;
  unsigned char family;
};

Status removeSteps(Socket& socket, const std::vector<Step>& steps, const FwmarkRoute& r) {
  for (const Step& s : steps) {
    Message m = s.rule ? ruleMessage(RTM_DELRULE, NLM_F_ACK, s.family, r)
                       : routeMessage(RTM_DELROUTE, NLM_F_ACK, s.family, r);
    auto result = socket.transact(m);
    if (!result) return result.error();
    const int e = *result;
    if (e != 0 && e != ENOENT && e != ESRCH) {
      return fromErrno(e, std::string("removing the ") + familyName(s.family) +
                              (s.rule ? " fwmark rule" : " local route"));
    }
  }
  return Ok{};
}

}  // namespace

Status installFwmarkRoute(const FwmarkRoute& r) {
  Socket socket;
  std::vector<Step> done;
  for (unsigned char family :
       {static_cast<unsigned char>(AF_INET), static_cast<unsigned char>(AF_INET6)}) {
    for (bool rule : {false, true}) {
      Message m =
          rule ? ruleMessage(RTM_NEWRULE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, family, r)
               : routeMessage(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, family, r);
      auto result = socket.transact(m);
      Status failed = Ok{};
      if (!result) {
        failed = result.error();
      } else if (*result != 0 && *result != EEXIST) {
        failed = fromErrno(*result, std::string("adding the ") + familyName(family) +
                                        (rule ? " fwmark rule" : " local route") + " for TPROXY");
      }
      if (!failed) {
        (void)removeSteps(socket, done, r);
        return failed;
      }
      if (*result == 0) done.push_back({rule, family});
    }
  }
  return Ok{};
}

Status removeFwmarkRoute(const FwmarkRoute& r) {
  Socket socket;
  std::vector<Step> all;
  for (unsigned char family :
       {static_cast<unsigned char>(AF_INET), static_cast<unsigned char>(AF_INET6)}) {
    all.push_back({true, family});
    all.push_back({false, family});
  }
  return removeSteps(socket, all, r);
}

Result<bool> fwmarkRouteInstalled(const FwmarkRoute& r) {
  Socket socket;
  bool found = false;
  auto status = socket.dumpRules(
      AF_INET, [&](std::uint32_t mark, std::uint32_t table, std::uint32_t priority) {
        if (mark == r.mark && table == r.table && priority == r.priority) found = true;
      });
  if (!status) return status.error();
  return found;
}

}  // namespace lens::net
