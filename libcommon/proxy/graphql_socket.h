#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "libcommon/graphql/ws_policer.h"
#include "libcommon/proxy/tunnel_relay.h"

namespace lens::proxy {

// A GraphQL subscription socket a rule let through (Decision::graphqlFrames,
// original-behaviour 5.8), as its relay polices it: each client frame goes
// through a graphql::WsPolicer whose judge decides the operations; the
// server's frames are relayed unread, their boundaries followed so that
// the close frame of a refusal goes between two of them.
class GraphqlSocket final : public RelayPolicer {
 public:
  explicit GraphqlSocket(graphql::WsJudge judge, graphql::WsLimits limits = {})
      : policer_(std::move(judge), std::move(limits)) {}

  bool fromClient(std::string_view bytes, std::string& forward) override;
  void fromServer(std::string_view bytes) override;

  // After a refusal: why.
  [[nodiscard]] const Error& refusal() const;
  // After a refusal: the last bytes for the client, from `unsent` (what the
  // relay read from the server and did not write): its whole frames, then
  // the close frame of the refusal. When a frame was partly written
  // already, nothing can follow it: `unsent` goes as it is, without the
  // close frame (the connection's close ends it).
  [[nodiscard]] std::string lastWords(std::string unsent) const;

 private:
  graphql::WsPolicer policer_;
  graphql::WsFrameBoundary serverFrames_;
  std::optional<graphql::WsRefusal> refusal_;
};

}  // namespace lens::proxy
