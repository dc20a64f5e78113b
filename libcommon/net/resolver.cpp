#include "libcommon/net/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "libcommon/log/logging.h"
#include "libcommon/net/ip_address.h"
#include "libcommon/net/socket_mark.h"
#include "libcommon/util/strings.h"

namespace lens::net {

namespace {

std::once_flag gLibraryInit;

struct Pending {
  Resolver* owner;
  Resolver::Callback callback;
};

struct PendingLookup {
  Resolver* owner;
  Resolver::AddressCallback callback;
};

std::string_view aresErrorName(int status) {
  switch (status) {
    case ARES_ETIMEOUT:
      return "timed out";
    case ARES_ECONNREFUSED:
      return "connection refused";
    case ARES_ESERVFAIL:
      return "server failure";
    case ARES_EREFUSED:
      return "refused";
    case ARES_ENOTIMP:
      return "not implemented";
    case ARES_EBADRESP:
      return "malformed response";
    case ARES_EDESTRUCTION:
      return "shutting down";
    default:
      return ares_strerror(status);
  }
}

}  // namespace

Result<std::string> normalizeServer(std::string_view text) {
  std::string_view host = text;
  std::uint16_t port = 53;
  auto badPort = [&] {
    return makeError(ErrorCode::kInvalidArgument,
                     "invalid upstream \"" + std::string(text) + "\": bad port");
  };
  if (host.starts_with('[')) {
    const auto close = host.find(']');
    if (close == std::string_view::npos) {
      return makeError(ErrorCode::kInvalidArgument,
                       "invalid upstream \"" + std::string(text) + "\": missing ']'");
    }
    std::string_view rest = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return badPort();
      auto p = util::parseDecimal(rest.substr(1), 65535);
      if (!p || *p == 0) return badPort();
      port = static_cast<std::uint16_t>(*p);
    }
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    const auto colon = host.find(':');
    auto p = util::parseDecimal(host.substr(colon + 1), 65535);
    if (!p || *p == 0) return badPort();
    port = static_cast<std::uint16_t>(*p);
    host = host.substr(0, colon);
  }
  auto address = net::IpAddress::parse(host);
  if (!address) {
    return makeError(ErrorCode::kInvalidArgument,
                     "invalid upstream \"" + std::string(text) +
                         "\": give an IP address, optionally with :PORT");
  }
  const std::string addr = address->toString();
  return address->isV6() ? "[" + addr + "]:" + std::to_string(port)
                         : addr + ":" + std::to_string(port);
}

Result<std::unique_ptr<Resolver>> Resolver::create(const Options& options, WatchFn watch) {
  std::call_once(gLibraryInit, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  std::unique_ptr<Resolver> self(new Resolver());
  self->watch_ = std::move(watch);
  self->mark_ = options.mark;

  ares_options opts{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
  opts.sock_state_cb = &Resolver::onSocketState;
  opts.sock_state_cb_data = self.get();
  opts.timeout = static_cast<int>(options.timeout.count());
  opts.tries = options.tries;
  opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
  const int rc = ares_init_options(&self->channel_, &opts, mask);
  if (rc != ARES_SUCCESS) {
    return makeError(ErrorCode::kIo,
                     std::string("c-ares: cannot initialise: ") + ares_strerror(rc));
  }
  ares_set_socket_callback(self->channel_, &Resolver::onSocketCreated, self.get());

  if (!options.servers.empty()) {
    std::string csv;
    for (const std::string& server : options.servers) {
      auto normal = normalizeServer(server);
      if (!normal) return normal.error();
      if (!csv.empty()) csv += ',';
      csv += *normal;
    }
    const int set = ares_set_servers_ports_csv(self->channel_, csv.c_str());
    if (set != ARES_SUCCESS) {
      return makeError(ErrorCode::kInvalidArgument,
                       "c-ares rejected the upstream list " + csv + ": " + ares_strerror(set));
    }
  }
  if (self->describeServers().empty()) {
    return makeError(
        ErrorCode::kInvalidArgument,
        "no upstream resolver: give --upstream or a nameserver line in /etc/resolv.conf");
  }
  return self;
}

Resolver::~Resolver() {
  if (channel_) ares_destroy(channel_);  // answers every pending query with ARES_EDESTRUCTION
}

void Resolver::onSocketState(void* self, int fd, int readable, int writable) {
  auto* up = static_cast<Resolver*>(self);
  if (up->watch_) up->watch_(fd, readable != 0, writable != 0);
}

int Resolver::onSocketCreated(int fd, int type, void* self) {
  auto* up = static_cast<Resolver*>(self);
  if (type == SOCK_DGRAM) {
    // Every answer of a burst arrives on this one socket: room for thousands
    // (beyond net.core.rmem_max when privileged), not the default ~200.
    // A send that fails with EAGAIN makes c-ares drop the socket and the
    // answers on their way to it, so the send side gets the same room.
    net::growSocketBuffers(fd);
  }
  if (up->mark_ == 0) return 0;
  auto marked = net::markSocket(fd, up->mark_);
  if (!marked || *marked != net::MarkResult::kMarked) {
    if (!up->markFailed_) {
      log::get("dns")->warn(
          "cannot mark upstream sockets ({}): inside a cage, upstream queries would loop back",
          marked ? "not permitted" : marked.error().message);
    }
    up->markFailed_ = true;
  }
  return 0;
}

void Resolver::send(std::span<const std::uint8_t> query, Callback callback) {
  ++pending_;
  auto* pending = new Pending{this, std::move(callback)};
  ares_send(channel_, query.data(), static_cast<int>(query.size()), &Resolver::onAnswer, pending);
}

void Resolver::onAnswer(void* arg, int status, int /*timeouts*/, unsigned char* answer,
                        int length) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(arg));
  --pending->owner->pending_;
  try {
    if (status == ARES_SUCCESS && answer && length > 0) {
      pending->callback(std::span<const std::uint8_t>(answer, static_cast<std::size_t>(length)));
    } else {
      pending->callback(
          makeError(ErrorCode::kIo, "upstream " + std::string(aresErrorName(status))));
    }
  } catch (const std::exception& e) {
    // Never let an exception cross c-ares's C frames.
    log::get("dns")->error("upstream answer handler failed: {}", e.what());
  }
}

void Resolver::resolve(const std::string& name, AddressCallback callback) {
  ++pending_;
  auto* pending = new PendingLookup{this, std::move(callback)};
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  ares_getaddrinfo(channel_, name.c_str(), nullptr, &hints, &Resolver::onAddresses, pending);
}

void Resolver::onAddresses(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
  std::unique_ptr<PendingLookup> pending(static_cast<PendingLookup*>(arg));
  std::unique_ptr<ares_addrinfo, void (*)(ares_addrinfo*)> owned(result, ares_freeaddrinfo);
  --pending->owner->pending_;
  std::vector<net::IpAddress> addresses;
  for (const ares_addrinfo_node* node = result ? result->nodes : nullptr; node;
       node = node->ai_next) {
    std::optional<net::IpAddress> ip;
    if (node->ai_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(node->ai_addr);
      ip = net::IpAddress::fromV4(ntohl(sin->sin_addr.s_addr));
    } else if (node->ai_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(node->ai_addr);
      std::array<std::uint8_t, 16> bytes{};
      std::memcpy(bytes.data(), &sin6->sin6_addr, bytes.size());
      ip = net::IpAddress::fromV6(bytes);
    }
    if (ip && std::find(addresses.begin(), addresses.end(), *ip) == addresses.end())
      addresses.push_back(*ip);
  }
  try {
    if (status == ARES_SUCCESS && !addresses.empty()) {
      pending->callback(std::move(addresses));
    } else {
      const std::string why = status == ARES_ENOTFOUND || status == ARES_SUCCESS
                                  ? "no such name or no address"
                                  : std::string(aresErrorName(status));
      pending->callback(
          makeError(status == ARES_ETIMEOUT ? ErrorCode::kTimeout : ErrorCode::kNotFound, why));
    }
  } catch (const std::exception& e) {
    log::get("dns")->error("address lookup handler failed: {}", e.what());
  }
}

void Resolver::process(int fd, bool readable, bool writable) {
  ares_process_fd(channel_, readable ? fd : ARES_SOCKET_BAD, writable ? fd : ARES_SOCKET_BAD);
}

void Resolver::processTimeouts() { ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD); }

int Resolver::timeoutMs() const {
  if (pending_ == 0) return -1;
  timeval tv{};
  timeval* left = ares_timeout(channel_, nullptr, &tv);
  if (!left) return -1;
  return static_cast<int>(left->tv_sec * 1000 + (left->tv_usec + 999) / 1000);
}

std::string Resolver::describeServers() const {
  ares_addr_port_node* servers = nullptr;
  if (ares_get_servers_ports(channel_, &servers) != ARES_SUCCESS) return {};
  std::string out;
  for (auto* s = servers; s; s = s->next) {
    char text[64] = {};
    ares_inet_ntop(s->family, &s->addr, text, sizeof text);
    const int port = s->udp_port ? s->udp_port : 53;
    if (!out.empty()) out += ", ";
    out += s->family == AF_INET6 ? "[" + std::string(text) + "]:" + std::to_string(port)
                                 : std::string(text) + ":" + std::to_string(port);
  }
  ares_free_data(servers);
  return out;
}

}  // namespace lens::net
