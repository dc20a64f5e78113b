// Body rules (original-behaviour 5.8, 5.9), as a Connection runs them:
// when the decision says GraphQL or MCP rules judge the body, the body is
// read whole before anything goes on, classified, and the request judged
// again with it (the same Engine::decide, DESIGN.md 5a).
#include "libcommon/proxy/connection.h"
#include "libcommon/util/invariant.h"
#include "libcommon/util/strings.h"

namespace lens::proxy {

namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// Every value of the headers MCP mirrors into the head (a repeated one is
// seen, and refused by the check).
decision::BodyHeaders mirroredHeaders(const http::RawRequest& head) {
  decision::BodyHeaders out;
  for (const http::HeaderField& f : head.headers) {
    if (util::iequals(f.name, "mcp-method")) out.mcpMethod.push_back(f.value());
    if (util::iequals(f.name, "mcp-name")) out.mcpName.push_back(f.value());
  }
  return out;
}

}  // namespace

void Connection::startBody() {
  const decision::BodyKind kind = decision_.body;
  auto reader = http::BodyReader::start(request_->head, request_->body, request_->contentLength,
                                        ctx_.options.bodyLimits.of(kind));
  if (!reader) {
    bodyJudged(decision::unreadableBody(kind, reader.error()), false);
    return;
  }
  bodyReader_.emplace(std::move(reader).value());
  // A client that waits for 100 (Continue) gets it from the proxy: the
  // origin sees the request only once it is judged.
  if (http::expectsContinue(request_->head) && request_->head.version == "HTTP/1.1" &&
      in_.empty() && request_->body != http::Framing::kNone) {
    out_.append(kContinue);
  }
  enter(State::kBody);
  deadline_ = ctx_.now + ctx_.options.headerTimeout;
}

void Connection::readBody() {
  while (!out_.empty()) {
    const IoResult w = client_->write(out_.data(), out_.size());
    if (w.status == IoStatus::kWouldBlock) return;
    if (w.status != IoStatus::kOk) {
      close("client-closed-mid-body", true);
      return;
    }
    out_.consume(w.bytes);
  }
  for (;;) {
    if (!in_.empty() && !bodyReader_->done()) {
      auto used = bodyReader_->feed(in_);
      if (!used) {
        bodyJudged(decision::unreadableBody(decision_.body, used.error()), false);
        return;
      }
      in_.erase(0, *used);
    }
    if (bodyReader_->done()) break;
    const ClientRead r = readClient(16 * 1024);
    if (r == ClientRead::kWait) return;
    if (r == ClientRead::kEnd) {
      close("client-closed-mid-body", true);
      return;
    }
  }
  std::string body = std::move(bodyReader_->body());
  bodyReader_.reset();
  if (request_->body != http::Framing::kNone) {
    // Forwarded as read: whole, with its length (a chunked body de-chunked).
    http::reframe(request_->head, body.size());
    request_->body = http::Framing::kLength;
    request_->contentLength = body.size();
  }
  decision::BodyFacts facts =
      decision::classifyBody(decision_.body, request_->head.method, request_->originTarget, body,
                             mirroredHeaders(request_->head));
  in_.insert(0, body);
  bodyJudged(std::move(facts), true);
}

void Connection::bodyJudged(decision::BodyFacts facts, bool read) {
  bodyReader_.reset();
  bodyFacts_ = std::make_shared<const decision::BodyFacts>(std::move(facts));
  engine_ = ctx_.engine;
  decision_ = engine_->decide(engineRequest());
  LENS_INVARIANT(decision_.body == decision::BodyKind::kNone,
                 "a decision with the body's facts does not ask for the body again");
  if (read && !decision_.allowed() && decision_.verdict != policy::Verdict::kAsk &&
      request_->body == http::Framing::kLength) {
    // Refused: the body read is dropped, and the connection may carry the
    // next request.
    in_.erase(0, request_->contentLength);
    request_->body = http::Framing::kNone;
    request_->contentLength = 0;
  }
  act();
}

// The status of a refusal by the decision: body rules answer what was
// wrong with the body; every other refusal is 403.
int Connection::refusalStatus() const {
  if (decision_.reason == decision::reason::kBodyTooLarge) return 413;
  if (decision_.reason == decision::reason::kBodyMalformed) {
    const bool encoded =
        bodyFacts_ && bodyFacts_->problem && bodyFacts_->problem->code == ErrorCode::kDenied;
    return encoded ? 415 : 400;
  }
  return 403;
}

}  // namespace lens::proxy
