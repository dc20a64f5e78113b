#include "libcommon/app/sign.h"

#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string_view>

#include "libcommon/decision/engine.h"
#include "libcommon/http/raw_request.h"
#include "libcommon/log/logging.h"
#include "libcommon/net/host_port.h"
#include "libcommon/policy/policy_parser.h"
#include "libcommon/sign/aws_chunked.h"
#include "libcommon/sign/boundary.h"
#include "libcommon/sign/context_file.h"
#include "libcommon/sign/inject.h"
#include "libcommon/sign/resign.h"
#include "libcommon/sign/sigv4.h"
#include "libcommon/util/exit_code.h"
#include "libcommon/util/file.h"

namespace lens::app::sign {

namespace {

using lens::sign::SignatureLocation;
using lens::sign::SigningContext;

constexpr std::size_t kReadBlock = 64 * 1024;
constexpr std::size_t kMaxContextFileBytes = 1024 * 1024;
constexpr std::size_t kMaxSecretFileBytes = 64 * 1024;
constexpr std::string_view kStdin = "request on standard input: ";

// An error with what it concerns in front: "--context ctx.json: ...".
Error about(std::string_view what, const Error& error) {
  return Error{error.code, std::string(what) + error.message};
}

// The request on standard input: the head first (bounded), then the body,
// whole (bounded) or streamed.
class RequestReader {
 public:
  explicit RequestReader(std::istream& in) : in_(in) {}

  // Reads up to the empty line ending the head, or the end of the input.
  // Reads past the head limit only by one block: the parser then refuses it.
  std::string_view readHead(std::size_t maxHeadBytes) {
    while (true) {
      if (auto end = http::findHeadEnd(buffer_)) {
        headEnd_ = *end;
        break;
      }
      if (buffer_.size() > maxHeadBytes || !readMore()) {
        headEnd_ = buffer_.size();
        break;
      }
    }
    return std::string_view(buffer_).substr(0, headEnd_);
  }

  // The rest of the input, at most maxBytes.
  Result<std::string> readBody(std::size_t maxBytes) {
    while (buffer_.size() - headEnd_ <= maxBytes && readMore()) {
    }
    if (buffer_.size() - headEnd_ > maxBytes) {
      return makeError(ErrorCode::kLimit, "the body is larger than the limit of " +
                                              std::to_string(maxBytes) + " bytes (--max-body)");
    }
    return buffer_.substr(headEnd_);
  }

  // Hands the rest of the input to `sink` in pieces; returns its size.
  Result<std::uint64_t> streamBody(const std::function<Status(std::string_view)>& sink) {
    std::uint64_t total = buffer_.size() - headEnd_;
    if (total != 0) {
      if (auto ok = sink(std::string_view(buffer_).substr(headEnd_)); !ok) return ok.error();
    }
    buffer_.clear();
    headEnd_ = 0;
    while (readMore()) {
      total += buffer_.size();
      if (auto ok = sink(buffer_); !ok) return ok.error();
      buffer_.clear();
    }
    if (in_.bad()) return makeError(ErrorCode::kIo, "read error on standard input");
    return total;
  }

 private:
  bool readMore() {
    if (!in_) return false;
    const std::size_t before = buffer_.size();
    buffer_.resize(before + kReadBlock);
    in_.read(buffer_.data() + before, static_cast<std::streamsize>(kReadBlock));
    buffer_.resize(before + static_cast<std::size_t>(in_.gcount()));
    return buffer_.size() > before;
  }

  std::istream& in_;
  std::string buffer_;
  std::size_t headEnd_ = 0;
};

struct InputRequest {
  http::RawRequest request;
  http::LineEnding lineEnding = http::LineEnding::kLf;
};

http::RawRequestLimits limitsFor(const Options& o) {
  http::RawRequestLimits limits;
  limits.maxBodyBytes = o.maxBody;
  return limits;
}

// The whole request, body included.
Result<InputRequest> readRequest(RequestReader& reader, const Options& o) {
  const std::string head(reader.readHead(limitsFor(o).maxHeadBytes));
  auto body = reader.readBody(o.maxBody);
  if (!body) return about(kStdin, body.error());
  auto request = http::parseRawRequest(head + *body, limitsFor(o));
  if (!request) return about(kStdin, request.error());
  return InputRequest{std::move(request).value(), http::detectLineEnding(head)};
}

Result<std::chrono::sys_seconds> timeOption(const std::string& text) {
  auto time = lens::sign::parseTimestamp(text);
  if (!time) return about("--time: ", time.error());
  return *time;
}

std::chrono::sys_seconds now() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

// A secret from a file: the whole file but one trailing line break.
Result<std::string> readSecretFile(const std::string& option, const std::string& path) {
  auto text = util::readFile(path, kMaxSecretFileBytes);
  if (!text)
    return makeError(ErrorCode::kInvalidArgument,
                     option + " " + path + ": " + text.error().message);
  std::string secret = std::move(text).value();
  if (secret.ends_with('\n')) secret.pop_back();
  if (secret.ends_with('\r')) secret.pop_back();
  if (secret.empty())
    return makeError(ErrorCode::kInvalidArgument, option + " " + path + ": the file is empty");
  return secret;
}

// A secret from its file option, else from its value option (or its
// environment variable); nullopt when neither is given.
Result<std::optional<std::string>> secretOption(const std::string& fileOption,
                                                const std::string& file, const std::string& value) {
  if (!file.empty()) {
    auto secret = readSecretFile(fileOption, file);
    if (!secret) return secret.error();
    return std::optional<std::string>(std::move(secret).value());
  }
  if (!value.empty()) return std::optional<std::string>(value);
  return std::optional<std::string>();
}

Status requireSet(const std::string& value, std::string_view what, std::string_view sources) {
  if (!value.empty()) return Ok{};
  return makeError(ErrorCode::kInvalidArgument,
                   "no " + std::string(what) + ": give " + std::string(sources));
}

// The context file, then the options over it.
Result<SigningContext> signingContext(const Options& o) {
  lens::sign::ContextFile file;
  if (!o.contextFile.empty()) {
    auto text = util::readFile(o.contextFile, kMaxContextFileBytes);
    if (!text)
      return makeError(ErrorCode::kInvalidArgument,
                       "--context " + o.contextFile + ": " + text.error().message);
    auto parsed = lens::sign::parseContextFile(*text);
    if (!parsed) return about("--context " + o.contextFile + ": ", parsed.error());
    file = std::move(parsed).value();
  }
  SigningContext ctx = std::move(file.context);
  if (!o.accessKey.empty()) ctx.accessKeyId = o.accessKey;
  auto secretKey = secretOption("--secret-key-file", o.secretKeyFile, o.secretKey);
  if (!secretKey) return secretKey.error();
  if (*secretKey) ctx.secretAccessKey = std::move(**secretKey);
  auto sessionToken = secretOption("--session-token-file", o.sessionTokenFile, o.sessionToken);
  if (!sessionToken) return sessionToken.error();
  if (*sessionToken) ctx.sessionToken = std::move(*sessionToken).value();
  if (!o.region.empty()) ctx.region = o.region;
  if (!o.service.empty()) ctx.service = o.service;
  if (!o.time.empty()) {
    auto time = timeOption(o.time);
    if (!time) return time.error();
    ctx.timestamp = *time;
  } else {
    ctx.timestamp = file.timestamp.value_or(now());
  }
  ctx.expirationSeconds =
      o.expires.value_or(file.expirationSeconds.value_or(ctx.expirationSeconds));
  ctx.signBody = ctx.signBody || o.signBody;
  if (o.payload == "unsigned") ctx.payloadMode = lens::sign::PayloadMode::kUnsigned;
  if (o.payload == "streaming") ctx.payloadMode = lens::sign::PayloadMode::kStreaming;

  const std::string_view inFile = " or the context file";
  if (auto ok = requireSet(ctx.accessKeyId, "access key id",
                           "--access-key, LENS_AWS_ACCESS_KEY_ID" + std::string(inFile));
      !ok) {
    return ok.error();
  }
  if (auto ok = requireSet(
          ctx.secretAccessKey, "secret access key",
          "--secret-key-file, LENS_AWS_SECRET_ACCESS_KEY, --secret-key" + std::string(inFile));
      !ok) {
    return ok.error();
  }
  if (auto ok = requireSet(ctx.region, "region", "--region" + std::string(inFile)); !ok)
    return ok.error();
  if (auto ok = requireSet(ctx.service, "service", "--service" + std::string(inFile)); !ok)
    return ok.error();
  return ctx;
}

Status write(std::ostream& out, std::string_view text) {
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!out) return makeError(ErrorCode::kIo, "cannot write to standard output");
  return Ok{};
}

Status runAwsSigv4(const Options& o, std::istream& in, std::ostream& out) {
  auto ctx = signingContext(o);
  if (!ctx) return ctx.error();
  RequestReader reader(in);
  auto input = readRequest(reader, o);
  if (!input) return input.error();
  http::RawRequest& request = input->request;
  const bool streaming = ctx->payloadMode == lens::sign::PayloadMode::kStreaming;
  std::string payload;
  if (streaming) {
    payload = std::move(request.body);
    request.body = payload;  // the signer reads the decoded length from it
    if (auto ok = lens::sign::prepareStreamingRequest(request, o.chunkSize); !ok)
      return about(kStdin, ok.error());
  }
  const SignatureLocation location =
      o.presign ? SignatureLocation::kQuery : SignatureLocation::kHeader;
  auto result = lens::sign::sign(request, *ctx, location);
  if (!result)
    return about(result.error().code == ErrorCode::kInvalidInput ? kStdin : "", result.error());

  if (o.stage == "canonical-request") return write(out, result->canonicalRequest.text + "\n");
  if (o.stage == "string-to-sign") return write(out, result->stringToSign + "\n");
  if (o.stage == "signature") return write(out, result->signature + "\n");
  if (streaming) {
    lens::sign::ChunkSigner chunks(*ctx, result->signature);
    result->request.body = lens::sign::encodeAwsChunked(payload, o.chunkSize, chunks);
  }
  return write(out, http::serializeRawRequest(result->request, input->lineEnding));
}

Result<std::shared_ptr<const policy::PolicyDocument>> loadPolicy(const Options& o) {
  std::string file = o.policyFile;
  if (file.empty()) {
    const char* state = std::getenv("LENS_STATE_DIR");
    file = std::string(state != nullptr && *state != '\0' ? state : "/run/lens") + "/policy.json";
  }
  const policy::ParseOutcome outcome = policy::loadInstalledPolicy(file);
  if (outcome.ok()) return outcome.policy;
  std::string message = outcome.errors.front().format();
  if (outcome.errors.size() > 1) {
    message += " (and " + std::to_string(outcome.errors.size() - 1) +
               " more; see lens-schema check " + file + ")";
  }
  return makeError(ErrorCode::kInvalidPolicy, std::move(message));
}

Result<net::HostPort> hostOption(const std::string& text) {
  auto host = net::parseHostPort(text);
  if (!host) return makeError(ErrorCode::kInvalidArgument, "--host: " + host.error().message);
  return host;
}

// Where the request goes, for matching injection domains.
decision::Request destination(const net::HostPort& host, const http::RawRequest& request) {
  decision::Request r;
  r.door = decision::Door::kConnect;
  r.host = host.host;
  r.port = host.port.value_or(0);
  r.method = request.method;
  r.path = std::string(request.path());
  return r;
}

// The body after a re-signed head: passed through, or re-signed chunk by
// chunk (the stage's filter), then checked against the Content-Length.
Status streamBody(RequestReader& reader, const http::RawRequestHead& head, http::BodyFilter* filter,
                  std::ostream& out) {
  std::string piece;
  auto total = reader.streamBody([&](std::string_view input) -> Status {
    if (!filter) return write(out, input);
    piece.clear();
    if (auto ok = filter->feed(input, piece); !ok) return ok;
    return write(out, piece);
  });
  if (!total) return about(kStdin, total.error());
  if (filter) {
    if (auto ok = filter->finish(); !ok) return about(kStdin, ok.error());
  }
  if (head.contentLength && *total != *head.contentLength) {
    return makeError(ErrorCode::kInvalidInput,
                     std::string(kStdin) + "the body is " + std::to_string(*total) +
                         " bytes but Content-Length is " + std::to_string(*head.contentLength));
  }
  return Ok{};
}

// A refusal of the credentials stage as lens-sign's error.
Error refused(const lens::sign::BoundaryRefusal& r) {
  return makeError(
      r.code, (r.code == ErrorCode::kInvalidInput ? std::string(kStdin) : std::string()) + r.text);
}

// The credentials stage of the proxies (libcommon/sign/boundary.h) on the
// request on standard input: injections, re-signing, the guard.
Status runResign(const Options& o, std::istream& in, std::ostream& out) {
  auto policy = loadPolicy(o);
  if (!policy) return policy.error();
  std::optional<std::chrono::sys_seconds> time;
  if (!o.time.empty()) {
    auto parsed = timeOption(o.time);
    if (!parsed) return parsed.error();
    time = *parsed;
  }
  RequestReader reader(in);
  const std::string headText(reader.readHead(limitsFor(o).maxHeadBytes));
  auto head = http::parseRawRequestHead(headText, limitsFor(o));
  if (!head) return about(kStdin, head.error());

  net::HostPort host;
  if (!o.host.empty()) {
    auto parsed = hostOption(o.host);
    if (!parsed) return parsed.error();
    host = std::move(parsed).value();
  } else {
    const http::HeaderField* field = head->request.findHeader("host");
    if (field == nullptr)
      return makeError(ErrorCode::kInvalidInput,
                       std::string(kStdin) + "the request has no Host header");
    auto parsed = net::parseHostPort(field->value());
    if (!parsed)
      return makeError(ErrorCode::kInvalidInput,
                       std::string(kStdin) + "Host header: " + parsed.error().message);
    host = std::move(parsed).value();
  }
  const decision::Engine engine(*policy);
  lens::sign::BoundaryRequest stage(engine, destination(host, head->request), {o.maxBody});
  http::RawRequest request = head->request;
  if (!stage.begin(request)) return refused(stage.refusal());
  std::string body;
  if (stage.needsBody()) {
    auto read = reader.readBody(o.maxBody);
    if (!read) return about(kStdin, read.error());
    body = std::move(read).value();
    if (body.size() != stage.bodyLength()) {
      return makeError(ErrorCode::kInvalidInput,
                       std::string(kStdin) + "the body is " + std::to_string(body.size()) +
                           " bytes but Content-Length is " + std::to_string(stage.bodyLength()));
    }
  }
  if (!stage.finish(request, body, time.value_or(now()))) return refused(stage.refusal());
  const lens::sign::BoundaryReport& report = stage.report();
  if (stage.answer()) {
    return makeError(ErrorCode::kDenied,
                     "the request is an OAuth token request of credential " +
                         report.tokenCredentialId +
                         ", which the proxies answer themselves: nothing to re-sign");
  }
  if (report.awsCredentialId.empty()) {
    return makeError(ErrorCode::kDenied,
                     "no awsSigv4 injection of the policy re-signs this request for " + host.host);
  }
  log::get("sign")->debug("re-signed with credential {} for {}", report.awsCredentialId,
                          report.service);
  const std::string text = http::serializeRawRequest(request, http::detectLineEnding(headText));
  if (auto ok = write(out, text); !ok) return ok;
  if (stage.needsBody()) return write(out, body);
  const std::unique_ptr<http::BodyFilter> filter = stage.bodyFilter();
  return streamBody(reader, *head, filter.get(), out);
}

Status runInject(const Options& o, std::istream& in, std::ostream& out) {
  auto policy = loadPolicy(o);
  if (!policy) return policy.error();
  auto host = hostOption(o.host);
  if (!host) return host.error();
  RequestReader reader(in);
  auto input = readRequest(reader, o);
  if (!input) return input.error();

  const decision::Engine engine(*policy);
  const std::vector<decision::CredentialRef> refs =
      engine.injectionsFor(destination(*host, input->request));
  auto injected = lens::sign::applyInjections(input->request, **policy, refs);
  if (!injected) return about(kStdin, injected.error());
  const auto logger = log::get("sign");
  for (const auto& unarmed : injected->unarmed) {
    logger->warn(
        "credential {}: the {} injection for {} is unarmed (empty value); nothing substituted",
        unarmed.credentialId, policy::toString(unarmed.type), unarmed.where);
  }
  if (injected->applied.empty()) {
    logger->warn(
        "no header or uriPlaceholder injection of the policy applies to this request for {}",
        host->host);
  }
  for (const auto& applied : injected->applied) {
    logger->debug("credential {}: {} injected into {}", applied.credentialId,
                  policy::toString(applied.type), applied.where);
  }
  return write(out, http::serializeRawRequest(injected->request, input->lineEnding));
}

void addMaxBody(CLI::App* command, Options& o) {
  command->add_option("--max-body", o.maxBody, "Largest body read whole into memory, in bytes")
      ->type_name("BYTES")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 32))
      ->capture_default_str();
}

}  // namespace

std::unique_ptr<CLI::App> makeCli(Options& o) {
  auto app = cli::makeApp(
      "lens-sign", "AWS SigV4 signing and re-signing, credential placeholder exchange.", o.common);
  app->require_subcommand(1);

  CLI::App* sig = app->add_subcommand(
      "aws-sigv4", "Sign the request on standard input with AWS Signature Version 4");
  sig->add_option("--context", o.contextFile,
                  "Signing context as JSON, in the layout of the AWS SigV4 test suite")
      ->type_name("FILE");
  sig->add_option("--access-key", o.accessKey, "Access key id")
      ->envname("LENS_AWS_ACCESS_KEY_ID")
      ->type_name("ID");
  sig->add_option("--secret-key", o.secretKey,
                  "Secret access key; visible to other users on the command line, prefer "
                  "--secret-key-file or "
                  "the environment variable")
      ->envname("LENS_AWS_SECRET_ACCESS_KEY")
      ->type_name("KEY");
  sig->add_option("--secret-key-file", o.secretKeyFile,
                  "Read the secret access key from FILE (wins over --secret-key)")
      ->type_name("FILE");
  sig->add_option("--session-token", o.sessionToken, "Session token of temporary credentials")
      ->envname("LENS_AWS_SESSION_TOKEN")
      ->type_name("TOKEN");
  sig->add_option("--session-token-file", o.sessionTokenFile,
                  "Read the session token from FILE (wins over --session-token)")
      ->type_name("FILE");
  sig->add_option("--region", o.region, "Region of the credential scope (us-east-1)");
  sig->add_option("--service", o.service,
                  "Service of the credential scope (s3, sqs, execute-api, ...)");
  sig->add_option("--time", o.time,
                  "Signing time, 2015-08-30T12:36:00Z or 20150830T123600Z (default: now)")
      ->type_name("TIME");
  sig->add_flag("--presign", o.presign,
                "Sign in the query string (presigned URL) instead of the Authorization header");
  sig->add_option("--expires", o.expires,
                  "Validity of a presigned request in seconds (default 3600)")
      ->type_name("SECONDS")
      ->check(CLI::Range(1U, lens::sign::kMaxExpirationSeconds));
  sig->add_flag("--sign-body", o.signBody,
                "Add x-amz-content-sha256 with the payload hash, and sign it");
  sig->add_option("--payload", o.payload,
                  "Payload hash: sha256 of the body, unsigned, or streaming (aws-chunked)")
      ->check(CLI::IsMember({"sha256", "unsigned", "streaming"}));
  sig->add_option("--chunk-size", o.chunkSize, "Chunk size in bytes of a streaming payload")
      ->type_name("BYTES")
      ->check(CLI::Range(std::size_t{1}, std::size_t{16} * 1024 * 1024))
      ->capture_default_str();
  sig->add_option("--stage", o.stage, "What to print")
      ->check(CLI::IsMember({"canonical-request", "string-to-sign", "signature", "request"}))
      ->capture_default_str();
  addMaxBody(sig, o);
  sig->callback([&o] { o.command = "aws-sigv4"; });

  CLI::App* resign = app->add_subcommand("resign",
                                         "Sign the request on standard input, made with a LENSFAKE "
                                         "access key id, again with the policy's real credentials");
  resign->add_option("--policy", o.policyFile, "Policy file (default $LENS_STATE_DIR/policy.json)")
      ->type_name("FILE");
  resign
      ->add_option(
          "--host", o.host,
          "Destination HOST[:PORT] matched against injection domains (default: the Host header)")
      ->type_name("HOST");
  resign
      ->add_option("--time", o.time,
                   "Signing time, 2015-08-30T12:36:00Z or 20150830T123600Z (default: now)")
      ->type_name("TIME");
  addMaxBody(resign, o);
  resign->callback([&o] { o.command = "resign"; });

  CLI::App* inject = app->add_subcommand(
      "inject",
      "Apply the policy's header and uriPlaceholder injections for a host to the request on "
      "standard input");
  inject->add_option("--policy", o.policyFile, "Policy file (default $LENS_STATE_DIR/policy.json)")
      ->type_name("FILE");
  inject->add_option("--host", o.host, "Destination HOST[:PORT] matched against injection domains")
      ->type_name("HOST")
      ->required();
  addMaxBody(inject, o);
  inject->callback([&o] { o.command = "inject"; });
  return app;
}

int run(const Options& o, std::istream& in, std::ostream& out, std::ostream& err) {
  Status status =
      makeError(ErrorCode::kInvalidArgument, "no command (aws-sigv4, resign or inject)");
  if (o.command == "aws-sigv4") status = runAwsSigv4(o, in, out);
  if (o.command == "resign") status = runResign(o, in, out);
  if (o.command == "inject") status = runInject(o, in, out);
  out.flush();
  if (status) return toInt(ExitCode::kOk);
  err << "lens-sign: " << status.error().message << '\n';
  return toInt(exitCodeFor(status.error().code));
}

int run(const Options& o) {
  std::ios::sync_with_stdio(false);
  return run(o, std::cin, std::cout, std::cerr);
}

}  // namespace lens::app::sign
