#include "libcommon/proxy/caller_identifier.h"

#include <memory>
#include <utility>

namespace lens::proxy {

void CallerIdentifier::identify(const net::SocketAddress& client,
                                const net::SocketAddress& destination, Done done) {
  worker_.post([this, client, destination, done = std::move(done)]() mutable {
    auto owner = std::make_shared<Result<net::SocketOwner>>(finder_.find(client, destination));
    return util::OffLoop::Finish([done = std::move(done), owner] { done(std::move(*owner)); });
  });
}

}  // namespace lens::proxy
