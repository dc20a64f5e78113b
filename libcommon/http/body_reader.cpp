#include "libcommon/http/body_reader.h"

#include <algorithm>

#include "libcommon/util/strings.h"

namespace lens::http {

namespace {

constexpr std::uint64_t kFramingAllowance = 128 * 1024;

Error tooLarge(std::size_t limit) {
  return Error{ErrorCode::kLimit,
               "the body is larger than the " + std::to_string(limit) + " bytes a rule may read"};
}

}  // namespace

Result<BodyReader> BodyReader::start(const RawRequest& head, Framing framing,
                                     std::uint64_t contentLength, std::size_t limit) {
  for (const HeaderField& f : head.headers) {
    if (util::iequals(f.name, "content-encoding")) {
      const std::string coding = util::toLower(f.value());
      if (!coding.empty() && coding != "identity")
        return Error{ErrorCode::kDenied,
                     "a body with Content-Encoding " + coding + " cannot be judged"};
    }
    if (util::iequals(f.name, "content-type") &&
        util::toLower(f.value()).starts_with("multipart/")) {
      return Error{ErrorCode::kDenied, "a multipart body cannot be judged"};
    }
  }
  if (framing == Framing::kUntilClose)
    return Error{ErrorCode::kInvalidInput, "a request body without framing"};
  if (framing == Framing::kLength && contentLength > limit) return tooLarge(limit);
  return BodyReader(framing, framing == Framing::kLength ? contentLength : 0, limit);
}

Result<std::size_t> BodyReader::feed(std::string_view data) {
  if (framing_ == Framing::kLength) {
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size()));
    body_.append(data.substr(0, take));
    remaining_ -= take;
    return take;
  }
  if (framing_ != Framing::kChunked) return std::size_t{0};
  auto used = chunked_.feed(data, &body_);
  if (!used) return used.error();
  framed_ += *used;
  if (body_.size() > limit_ || framed_ > 2 * std::uint64_t{limit_} + kFramingAllowance)
    return tooLarge(limit_);
  return *used;
}

bool BodyReader::done() const {
  switch (framing_) {
    case Framing::kLength:
      return remaining_ == 0;
    case Framing::kChunked:
      return chunked_.done();
    case Framing::kNone:
    case Framing::kUntilClose:
      return true;
  }
  return true;
}

void reframe(RawRequest& head, std::size_t length) {
  head.removeHeaders("transfer-encoding");
  head.removeHeaders("content-length");
  head.removeHeaders("expect");
  head.addHeader("Content-Length", " " + std::to_string(length));
}

bool expectsContinue(const RawRequest& head) {
  const HeaderField* f = head.findHeader("expect");
  return f != nullptr && util::iequals(f->value(), "100-continue");
}

}  // namespace lens::http
