#include "libcommon/proxy/graphql_socket.h"

#include "libcommon/util/invariant.h"

namespace lens::proxy {

bool GraphqlSocket::fromClient(std::string_view bytes, std::string& forward) {
  graphql::WsOutput out = policer_.feed(bytes);
  forward += out.forward;
  if (out.refusal) refusal_ = std::move(out.refusal);
  return !refusal_;
}

void GraphqlSocket::fromServer(std::string_view bytes) { serverFrames_.feed(bytes); }

const Error& GraphqlSocket::refusal() const {
  LENS_INVARIANT(refusal_.has_value(), "a refusal is asked for after the socket refused");
  return refusal_->reason;
}

std::string GraphqlSocket::lastWords(std::string unsent) const {
  LENS_INVARIANT(refusal_.has_value(), "last words follow a refusal");
  const std::uint64_t partial = serverFrames_.sinceBoundary();
  if (partial > unsent.size()) return unsent;
  unsent.resize(unsent.size() - static_cast<std::size_t>(partial));
  return unsent + refusal_->closeFrame;
}

}  // namespace lens::proxy
