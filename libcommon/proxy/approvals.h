#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <variant>

#include "libcommon/approval/protocol.h"
#include "libcommon/proxy/reactor.h"
#include "libcommon/util/unique_fd.h"

namespace lens::proxy {

// The proxies' side of approvals (DESIGN.md 5b): asks the broker in
// lens-policy-sync over its socket, on the event loop, without waiting.
// The socket is opened at the first ask and again after it was lost; a
// broker that cannot be reached answers at once (no-approver), and one
// that goes away answers every ask still waiting the same.
class Approvals final : public IoHandler {
 public:
  using Done = std::function<void(const approval::Reply&)>;  // on the loop, once

  Approvals(Reactor& reactor, std::string path);
  ~Approvals() override;
  Approvals(const Approvals&) = delete;
  Approvals& operator=(const Approvals&) = delete;

  // The ask's ref (its answer goes to `done` later), or the answer now
  // (`done` is not called).
  [[nodiscard]] std::variant<std::uint64_t, approval::Reply> ask(const approval::Item& item,
                                                                 Done done);
  // The asker went: its answer is not wanted any more.
  void cancel(std::uint64_t ref);
  void onIo(int fd, std::uint32_t events) override;
  [[nodiscard]] std::size_t waiting() const { return waiting_.size(); }

 private:
  bool connect(std::string& why);
  void lost(const std::string& why);

  Reactor& reactor_;
  std::string path_;
  util::UniqueFd fd_;
  Watch watch_{this, -1};
  std::unordered_map<std::uint64_t, Done> waiting_;
  std::uint64_t nextRef_ = 1;
};

}  // namespace lens::proxy
