#include "libcommon/sync/audit_intake.h"

#include "libcommon/net/unix_socket.h"
#include "libcommon/util/random.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <Poco/Dynamic/Var.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <variant>

#include "libcommon/json/json_writer.h"
#include "libcommon/json/source_map.h"
#include "libcommon/log/logging.h"

namespace lens::sync {

namespace {

Error refuse(std::string message) {
  return makeError(ErrorCode::kInvalidInput, std::move(message));
}

bool isJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool nonEmptyString(const Poco::JSON::Object::Ptr& obj, const std::string& key) {
  return obj->has(key) && obj->get(key).isString() && !obj->getValue<std::string>(key).empty();
}

}  // namespace

EventIds::EventIds() : instance_(util::randomHex(8)) {}

std::string EventIds::next() { return instance_ + "-" + std::to_string(++counter_); }

Result<std::string> acceptAuditLine(std::string_view text, std::string_view id) {
  if (text.size() > kMaxAuditLine)
    return refuse("line longer than " + std::to_string(kMaxAuditLine) + " bytes");
  while (!text.empty() && isJsonSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && isJsonSpace(text.back())) text.remove_suffix(1);
  if (text.empty()) return refuse("empty line");

  json::JsonLimits limits;
  limits.maxBytes = kMaxAuditLine;
  limits.maxDepth = 16;
  auto scanned = json::SourceMap::scan(text, limits);
  if (const auto* err = std::get_if<json::SourceMap::ScanError>(&scanned)) {
    return refuse("not JSON: " + std::to_string(err->pos.line) + ":" +
                  std::to_string(err->pos.column) + ": " + err->message);
  }
  Poco::JSON::Object::Ptr obj;
  try {
    Poco::JSON::Parser parser;
    parser.setDepth(static_cast<std::size_t>(limits.maxDepth) + 1);
    const Poco::Dynamic::Var root = parser.parse(std::string(text));
    if (root.type() != typeid(Poco::JSON::Object::Ptr)) return refuse("not a JSON object");
    obj = root.extract<Poco::JSON::Object::Ptr>();
  } catch (const Poco::Exception& e) {
    return refuse("not JSON: " + e.displayText());
  }
  if (!obj->has("type") || !obj->get("type").isString() ||
      obj->getValue<std::string>("type") != "audit_event") {
    return refuse("\"type\" is not \"audit_event\"");
  }
  if (!nonEmptyString(obj, "source")) return refuse("no \"source\"");
  if (!nonEmptyString(obj, "action")) return refuse("no \"action\"");
  if (obj->has("id")) return refuse("\"id\" is assigned by lens-policy-sync, not by the sender");

  // Insert the id first; whitespace between tokens may hold newlines (JSON
  // strings cannot), so flattening them keeps the record on one line.
  std::string record = "{\"id\":" + json::quote(id);
  std::string_view rest = text.substr(1);
  std::size_t i = 0;
  while (i < rest.size() && isJsonSpace(rest[i])) ++i;
  if (i < rest.size() && rest[i] != '}') record += ',';
  for (char c : rest) record += (c == '\n' || c == '\r') ? ' ' : c;
  return record;
}

Result<std::unique_ptr<AuditIntake>> AuditIntake::open(Options options) {
  std::unique_ptr<AuditIntake> intake(new AuditIntake(std::move(options)));
  // srw-rw----: the daemons of the sandbox, not everyone.
  auto fd = net::bindUnix(intake->options_.path, SOCK_DGRAM, 0660, "--audit-socket");
  if (!fd) {
    Error e = fd.error();
    if (e.code == ErrorCode::kInvalidArgument) e.message = "audit " + e.message;
    return e;
  }
  intake->fd_ = std::move(*fd);
  const int rcvbuf = 4 << 20;  // ask for room; the kernel caps it at net.core.rmem_max
  (void)::setsockopt(intake->fd_.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  intake->bound_ = true;
  intake->stopFd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!intake->stopFd_)
    return makeError(ErrorCode::kIo, std::string("eventfd: ") + std::strerror(errno));
  return intake;
}

AuditIntake::~AuditIntake() { stop(); }

void AuditIntake::start() {
  thread_ = std::thread([this] { loop(); });
}

void AuditIntake::stop() {
  if (thread_.joinable()) {
    const std::uint64_t one = 1;
    (void)!::write(stopFd_.get(), &one, sizeof one);
    thread_.join();
  }
  if (bound_) {  // only the socket it made: never a file it refused to replace
    ::unlink(options_.path.c_str());
    bound_ = false;
  }
  fd_.reset();
}

bool AuditIntake::drain() {
  auto logger = log::get("intake");
  std::vector<char> buf(kMaxAuditLine + 2);
  std::vector<std::string> records;
  while (true) {
    const ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      logger->error("receiving on {}: {}", options_.path, std::strerror(errno));
      return false;
    }
    if (static_cast<std::size_t>(n) > buf.size()) {
      ++malformed_;
      logger->warn("dropped an audit datagram of {} bytes (limit {}; {} malformed so far)", n,
                   kMaxAuditLine, malformed_.load());
      continue;
    }
    auto record = acceptAuditLine(std::string_view(buf.data(), static_cast<std::size_t>(n)),
                                  options_.ids->next());
    if (!record) {
      ++malformed_;
      logger->warn("dropped a malformed audit line: {} ({} malformed so far)",
                   record.error().message, malformed_.load());
      continue;
    }
    records.push_back(std::move(*record));
    if (records.size() >= 512) {
      accepted_ += records.size();
      options_.onRecords(std::move(records));
      records.clear();
    }
  }
  if (!records.empty()) {
    accepted_ += records.size();
    options_.onRecords(std::move(records));
  }
  return true;
}

void AuditIntake::loop() {
  while (true) {
    std::array<pollfd, 2> fds{{{fd_.get(), POLLIN, 0}, {stopFd_.get(), POLLIN, 0}}};
    const int n = ::poll(fds.data(), fds.size(), 1000);
    if (n < 0 && errno != EINTR) {
      log::get("intake")->error("poll: {}", std::strerror(errno));
      return;
    }
    if (n > 0 && (fds[0].revents & POLLIN) != 0 && !drain()) return;
    if (options_.onTick) options_.onTick();
    if (n > 0 && fds[1].revents != 0) {
      (void)drain();  // what was queued before the stop
      return;
    }
  }
}

}  // namespace lens::sync
