#include "libcommon/sign/aws_chunked.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "libcommon/http/raw_request.h"
#include "libcommon/sign/sigv4.h"
#include "tests/unit/sign/sign_support.h"

using lens::ErrorCode;
using lens::Status;
using lens::http::parseRawRequest;
using lens::http::RawRequest;
using lens::sign::AwsChunk;
using lens::sign::AwsChunkedDecoder;
using lens::sign::AwsChunkedLimits;
using lens::sign::AwsChunkedResigner;
using lens::sign::ChunkSigner;
using lens::sign::PayloadMode;
using lens::sign::SignatureLocation;
using lens::sign::SigningContext;

namespace {

// "Signature Calculations for the Authorization Header: Transferring Payload
// in Multiple Chunks (Chunked Upload)", Amazon S3 API Reference, section
// "Example: PUT Object".
constexpr std::string_view kSeedSignature =
    "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
constexpr std::string_view kChunk1Signature =
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
constexpr std::string_view kChunk2Signature =
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
constexpr std::string_view kFinalSignature =
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

SigningContext exampleContext() {
  SigningContext ctx = lens::test::s3DocumentationContext();
  ctx.payloadMode = PayloadMode::kStreaming;
  return ctx;
}

RawRequest exampleRequest() {
  return lens::test::parseRequest(
      "PUT /examplebucket/chunkObject.txt HTTP/1.1\n"
      "Host: s3.amazonaws.com\n"
      "x-amz-storage-class: REDUCED_REDUNDANCY\n"
      "\n" +
      std::string(66560, 'a'));
}

std::vector<std::string> decodeSignatures(std::string_view body,
                                          const AwsChunkedLimits& limits = {}) {
  std::vector<std::string> signatures;
  AwsChunkedDecoder decoder(limits, [&](const AwsChunk& chunk) -> Status {
    signatures.emplace_back(chunk.signature);
    return lens::Ok{};
  });
  auto fed = decoder.feed(body);
  INFO((fed ? std::string() : fed.error().message));
  REQUIRE(fed.ok());
  REQUIRE(decoder.finish().ok());
  return signatures;
}

// Every chunk of `body` carries the signature chained from `seed` under `ctx`.
bool verifies(std::string_view body, const SigningContext& ctx, std::string seed) {
  ChunkSigner expected(ctx, std::move(seed));
  bool all = true;
  std::size_t chunks = 0;
  AwsChunkedDecoder decoder({}, [&](const AwsChunk& chunk) -> Status {
    all = all && chunk.signature == expected.next(chunk.data);
    ++chunks;
    return lens::Ok{};
  });
  return decoder.feed(body).ok() && decoder.finish().ok() && all && chunks > 0;
}

std::string decoderError(std::string_view body, const AwsChunkedLimits& limits = {}) {
  AwsChunkedDecoder decoder(limits, [](const AwsChunk&) -> Status { return lens::Ok{}; });
  auto fed = decoder.feed(body);
  if (!fed) return fed.error().message;
  auto finished = decoder.finish();
  return finished ? std::string("no error") : finished.error().message;
}

const std::string kSig(64, 'a');

}  // namespace

TEST_CASE("the S3 documentation's chunked PUT Object example is reproduced exactly",
          "[sign][chunked]") {
  const SigningContext ctx = exampleContext();
  RawRequest request = exampleRequest();
  const std::string payload = request.body;
  REQUIRE(lens::sign::prepareStreamingRequest(request, 64 * 1024).ok());

  auto seed = lens::sign::sign(request, ctx, SignatureLocation::kHeader);
  REQUIRE(seed.ok());
  CHECK(
      seed->canonicalRequest.text ==
      "PUT\n/examplebucket/chunkObject.txt\n\n"
      "content-encoding:aws-chunked\n"
      "content-length:66824\n"
      "host:s3.amazonaws.com\n"
      "x-amz-content-sha256:STREAMING-AWS4-HMAC-SHA256-PAYLOAD\n"
      "x-amz-date:20130524T000000Z\n"
      "x-amz-decoded-content-length:66560\n"
      "x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
      "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-"
      "length;x-amz-storage-class\n"
      "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
  CHECK(seed->signature == kSeedSignature);

  // The first chunk's string to sign, as printed in the documentation.
  CHECK(lens::sign::chunkStringToSign(ctx, kSeedSignature, std::string(65536, 'a')) ==
        "AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        "bf718b6f653bebc184e1479f1935b8da974d701b893afcf49e701f3e2f9f9c5a");

  ChunkSigner signer(ctx, seed->signature);
  const std::string body = lens::sign::encodeAwsChunked(payload, 64 * 1024, signer);
  CHECK(body.size() == 66824);
  const std::string expected = "10000;chunk-signature=" + std::string(kChunk1Signature) + "\r\n" +
                               std::string(65536, 'a') + "\r\n" +
                               "400;chunk-signature=" + std::string(kChunk2Signature) + "\r\n" +
                               std::string(1024, 'a') + "\r\n" +
                               "0;chunk-signature=" + std::string(kFinalSignature) + "\r\n\r\n";
  CHECK(body == expected);
  CHECK(decodeSignatures(body) == std::vector<std::string>{std::string(kChunk1Signature),
                                                           std::string(kChunk2Signature),
                                                           std::string(kFinalSignature)});
}

TEST_CASE("awsChunkedLength is the length encodeAwsChunked writes", "[sign][chunked]") {
  const SigningContext ctx = exampleContext();
  for (const std::size_t size : {0UL, 1UL, 15UL, 16UL, 17UL, 8192UL, 8193UL}) {
    CAPTURE(size);
    ChunkSigner signer(ctx, std::string(kSeedSignature));
    const std::string body = lens::sign::encodeAwsChunked(std::string(size, 'x'), 16, signer);
    CHECK(body.size() == lens::sign::awsChunkedLength(size, 16));
    CHECK(decodeSignatures(body).size() == (size + 15) / 16 + 1);
  }
}

TEST_CASE("prepareStreamingRequest sets the aws-chunked framing headers", "[sign][chunked]") {
  auto request =
      parseRawRequest("PUT /k HTTP/1.1\nHost: h\nContent-Encoding: gzip\nContent-Length: 3\n\nabc");
  REQUIRE(request.ok());
  REQUIRE(lens::sign::prepareStreamingRequest(*request, 2).ok());
  CHECK(request->findHeader("content-encoding")->value() == "aws-chunked,gzip");
  CHECK(request->findHeader("x-amz-decoded-content-length")->value() == "3");
  CHECK(request->findHeader("content-length")->value() ==
        std::to_string(lens::sign::awsChunkedLength(3, 2)));
  CHECK(request->countHeader("content-length") == 1);

  auto chunked = parseRawRequest("PUT /k HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n");
  REQUIRE(chunked.ok());
  auto refused = lens::sign::prepareStreamingRequest(*chunked, 2);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message ==
        "an aws-chunked body needs a Content-Length, but the request has Transfer-Encoding");
  CHECK_FALSE(lens::sign::prepareStreamingRequest(*request, 0).ok());
}

TEST_CASE("the decoder gives the same chunks whatever pieces the body arrives in",
          "[sign][chunked]") {
  const SigningContext ctx = exampleContext();
  ChunkSigner signer(ctx, std::string(kSeedSignature));
  std::string payload;
  for (int i = 0; i < 1000; ++i) payload.push_back(static_cast<char>('a' + i % 26));
  const std::string body = lens::sign::encodeAwsChunked(payload, 100, signer);

  const std::size_t piece = GENERATE(1UL, 2UL, 7UL, 99UL, 100UL, 101UL, 4096UL);
  CAPTURE(piece);
  std::string decoded;
  std::vector<std::uint64_t> indexes;
  AwsChunkedDecoder decoder({}, [&](const AwsChunk& chunk) -> Status {
    decoded.append(chunk.data);
    indexes.push_back(chunk.index);
    return lens::Ok{};
  });
  for (std::size_t pos = 0; pos < body.size(); pos += piece) {
    REQUIRE(decoder.feed(std::string_view(body).substr(pos, piece)).ok());
  }
  REQUIRE(decoder.finish().ok());
  CHECK(decoder.complete());
  CHECK(decoded == payload);
  CHECK(decoder.decodedBytes() == payload.size());
  CHECK(indexes == std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
}

TEST_CASE("the decoder refuses malformed chunk framing precisely", "[sign][chunked]") {
  const std::string sig = kSig;
  struct Case {
    std::string body;
    std::string message;
  };
  const auto [body, message] = GENERATE_COPY(values<Case>({
      {"3;chunk-signature=" + sig + "\nabc\r\n",
       "aws-chunked body, chunk 1 (body byte 83): chunk-size line ends with a bare LF (CRLF "
       "required)"},
      {"3\r\nabc\r\n",
       "aws-chunked body, chunk 1 (body byte 3): chunk size not followed by ;chunk-signature="},
      {"x3;chunk-signature=" + sig + "\r\n",
       "aws-chunked body, chunk 1 (body byte 85): chunk size is not 1 to 16 hex digits"},
      {";chunk-signature=" + sig + "\r\n",
       "aws-chunked body, chunk 1 (body byte 83): chunk size is not 1 to 16 hex digits"},
      {"00000000000000003;chunk-signature=\r\n",
       "aws-chunked body, chunk 1 (body byte 36): chunk size is not 1 to 16 hex digits"},
      {"3;name=value\r\n",
       "aws-chunked body, chunk 1 (body byte 14): the chunk extension is not chunk-signature= (the "
       "only "
       "one aws-chunked has)"},
      {"3;chunk-signature=" + std::string(64, 'A') + "\r\n",
       "aws-chunked body, chunk 1 (body byte 84): chunk-signature is not 64 lower-case hex digits"},
      {"3;chunk-signature=" + sig + "0\r\n",
       "aws-chunked body, chunk 1 (body byte 85): chunk-signature is not 64 lower-case hex digits"},
      {"3;chunk-signature=" + sig + "\r\r\n",
       "aws-chunked body, chunk 1 (body byte 85): carriage return inside the chunk-size line"},
      {std::string(200, '1'),
       "aws-chunked body, chunk 1 (body byte 98): chunk-size line longer than 98 bytes"},
      {"3;chunk-signature=" + sig + "\r\nabcd\r\n",
       "aws-chunked body, chunk 1 (body byte 87): chunk data not followed by CRLF (the chunk is "
       "longer "
       "than its size says)"},
      {"0;chunk-signature=" + sig + "\r\nx",
       "aws-chunked body, chunk 1 (body byte 84): the final chunk is not followed by CRLF"},
      {"0;chunk-signature=" + sig + "\r\n\r\nextra",
       "aws-chunked body, chunk 1 (body byte 86): data after the final chunk"},
      {"3;chunk-signature=" + sig + "\r\nab",
       "aws-chunked body ends inside chunk 1 (after 86 bytes), before the final chunk"},
      {"3;chunk-signature=" + sig + "\r\nabc\r\n",
       "aws-chunked body ends inside chunk 2 (after 89 bytes), before the final chunk"},
      {"", "aws-chunked body ends inside chunk 1 (after 0 bytes), before the final chunk"},
  }));
  CAPTURE(body.substr(0, 120));
  CHECK(decoderError(body) == message);
}

TEST_CASE("the decoder enforces its limits", "[sign][chunked]") {
  AwsChunkedLimits limits;
  limits.maxChunkBytes = 16;
  CHECK(
      decoderError("11;chunk-signature=" + kSig + "\r\n", limits) ==
      "aws-chunked body, chunk 1 (body byte 85): chunk of 17 bytes exceeds the limit of 16 bytes");
  limits = {};
  limits.decodedLength = 2;
  const std::string three = "3;chunk-signature=" + kSig + "\r\nabc\r\n";
  CHECK(decoderError(three, limits) ==
        "aws-chunked body, chunk 1 (body byte 84): the chunks hold more than the 2 bytes of "
        "x-amz-decoded-content-length");
  limits.decodedLength = 4;
  CHECK(decoderError(three + "0;chunk-signature=" + kSig + "\r\n\r\n", limits) ==
        "aws-chunked body, chunk 2 (body byte 175): the chunks hold 3 bytes but "
        "x-amz-decoded-content-length is 4");
  limits.decodedLength = 3;
  CHECK(decoderError(three + "0;chunk-signature=" + kSig + "\r\n\r\n", limits) == "no error");
}

TEST_CASE("a handler error stops the decoder", "[sign][chunked]") {
  int calls = 0;
  AwsChunkedDecoder decoder({}, [&](const AwsChunk&) -> Status {
    ++calls;
    return lens::makeError(ErrorCode::kDenied, "stop");
  });
  auto fed = decoder.feed("1;chunk-signature=" + kSig + "\r\na\r\n1;chunk-signature=" + kSig +
                          "\r\nb\r\n");
  REQUIRE_FALSE(fed.ok());
  CHECK(fed.error().message == "stop");
  CHECK(calls == 1);
  CHECK_FALSE(decoder.feed("x").ok());
  CHECK_FALSE(decoder.finish().ok());
}

TEST_CASE("the re-signer chains every chunk to a new seed and keeps the body's length",
          "[sign][chunked]") {
  SigningContext fake = exampleContext();
  fake.accessKeyId = "LENSFAKE00AABB0000CC";
  fake.secretAccessKey = "placeholder-secret";
  SigningContext real = exampleContext();
  real.accessKeyId = "ASIAREALKEY";
  real.secretAccessKey = "real/secret+key";

  // A client body with upper-case size digits, which must be kept.
  std::string clientBody;
  {
    ChunkSigner client(fake, std::string(64, '1'));
    const std::string a(0x1A, 'a');
    const std::string b(5, 'b');
    lens::sign::appendChunk(clientBody, "1A", client.next(a), a);
    lens::sign::appendChunk(clientBody, "5", client.next(b), b);
    lens::sign::appendChunk(clientBody, "0", client.next({}), {});
  }
  REQUIRE(verifies(clientBody, fake, std::string(64, '1')));
  REQUIRE_FALSE(verifies(clientBody, real, std::string(64, '2')));

  const std::string newSeed(64, '2');
  AwsChunkedResigner resigner(ChunkSigner(real, newSeed), {});
  std::string out;
  for (char c : clientBody) REQUIRE(resigner.feed(std::string_view(&c, 1), out).ok());
  REQUIRE(resigner.finish().ok());
  CHECK(resigner.complete());
  CHECK(out.size() == clientBody.size());
  CHECK(out.starts_with("1A;chunk-signature="));
  CHECK(verifies(out, real, newSeed));
  CHECK_FALSE(verifies(out, fake, std::string(64, '1')));

  // Malformed input is refused by the re-signer as by the decoder.
  AwsChunkedResigner broken(ChunkSigner(real, newSeed), {});
  std::string ignored;
  auto fed = broken.feed("zz;chunk-signature=" + kSig + "\r\n", ignored);
  REQUIRE_FALSE(fed.ok());
  CHECK(fed.error().message ==
        "aws-chunked body, chunk 1 (body byte 85): chunk size is not 1 to 16 hex digits");
}
