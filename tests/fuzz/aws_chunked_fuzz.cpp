// libFuzzer target: the aws-chunked decoder and re-signer, which read
// request bodies from the sandbox chunk by chunk.
//
// The first input byte picks the piece size the body is fed in (1 to 256),
// the rest is the body. Besides crashes and sanitizer reports, the target
// aborts when an invariant breaks:
//   - the outcome (chunks, error message) does not depend on how the body is
//     cut into pieces;
//   - errors are kInvalidInput or kLimit and name the aws-chunked body;
//   - a body that decodes is exactly its chunks written again (the grammar
//     keeps nothing aside), holds no more than the chunk limit per chunk;
//   - the re-signer accepts exactly what the decoder accepts, and its output
//     has the input's length and decodes to the same data.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "libcommon/sign/aws_chunked.h"

namespace {

using lens::Status;
using lens::sign::AwsChunk;
using lens::sign::AwsChunkedDecoder;
using lens::sign::AwsChunkedLimits;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "aws_chunked_fuzz: invariant broken: %s\n", what.c_str());
  std::abort();
}

struct Outcome {
  bool ok = false;
  std::string error;
  std::string rewritten;  // the chunks written again with appendChunk
  std::string data;       // the decoded payload
};

AwsChunkedLimits limits() {
  AwsChunkedLimits l;
  l.maxChunkBytes = 4096;
  return l;
}

Outcome decode(std::string_view body, std::size_t piece) {
  Outcome out;
  AwsChunkedDecoder decoder(limits(), [&](const AwsChunk& chunk) -> Status {
    if (chunk.data.size() > limits().maxChunkBytes) fail("a chunk over the limit was accepted");
    lens::sign::appendChunk(out.rewritten, chunk.sizeText, chunk.signature, chunk.data);
    out.data.append(chunk.data);
    return lens::Ok{};
  });
  Status status = lens::Ok{};
  for (std::size_t pos = 0; pos < body.size() && status.ok(); pos += piece) {
    status = decoder.feed(body.substr(pos, piece));
  }
  if (status.ok()) status = decoder.finish();
  out.ok = status.ok();
  if (!out.ok) {
    const lens::Error& e = status.error();
    if (e.code != lens::ErrorCode::kInvalidInput && e.code != lens::ErrorCode::kLimit)
      fail("unexpected error code");
    if (e.message.rfind("aws-chunked body", 0) != 0)
      fail("an error that does not name the body: " + e.message);
    out.error = e.message;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = static_cast<std::size_t>(data[0]) + 1;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);

  const Outcome whole = decode(body, body.size() + 1);
  const Outcome pieces = decode(body, piece);
  if (whole.ok != pieces.ok || whole.error != pieces.error || whole.rewritten != pieces.rewritten) {
    fail("the outcome depends on the piece size " + std::to_string(piece));
  }
  if (whole.ok && whole.rewritten != body) fail("a decoded body is not its chunks written again");

  lens::sign::SigningContext ctx;
  ctx.accessKeyId = "ASIAREAL";
  ctx.secretAccessKey = "secret";
  ctx.region = "us-east-1";
  ctx.service = "s3";
  ctx.timestamp = std::chrono::sys_days{std::chrono::year{2013} / 5 / 24};
  lens::sign::AwsChunkedResigner resigner(lens::sign::ChunkSigner(ctx, std::string(64, '0')),
                                          limits());
  std::string out;
  Status status = lens::Ok{};
  for (std::size_t pos = 0; pos < body.size() && status.ok(); pos += piece) {
    status = resigner.feed(body.substr(pos, piece), out);
  }
  if (status.ok()) status = resigner.finish();
  if (status.ok() != whole.ok) fail("the re-signer and the decoder disagree");
  if (whole.ok) {
    if (out.size() != body.size()) fail("re-signing changed the body's length");
    if (decode(out, out.size() + 1).data != whole.data) fail("re-signing changed the data");
  }
  return 0;
}
