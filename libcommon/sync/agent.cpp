#include "libcommon/sync/agent.h"

#include <fstream>
#include <sstream>

#include "libcommon/json/json_writer.h"
#include "libcommon/log/logging.h"
#include "libcommon/sync/policy_installer.h"
#include "libcommon/sync/protocol.h"
#include "libcommon/util/file.h"

namespace lens::sync {

namespace {

std::string shortVersion(std::string_view version) { return std::string(version.substr(0, 12)); }

std::string ruleSummary(const policy::PolicyDocument& doc) {
  if (!doc.network) return "no network section: everything allowed";
  const auto& net = *doc.network;
  return std::to_string(net.http.size()) + " http, " + std::to_string(net.tcp.size()) + " tcp, " +
         std::to_string(net.udp.size()) + " udp rules, default " +
         std::string(policy::toString(net.defaultVerdict));
}

}  // namespace

void ActivityLog::add(std::string line) {
  std::lock_guard lock(mutex_);
  lines_.push_back(audit::formatTimestamp(std::chrono::system_clock::now()) + " " +
                   std::move(line));
  while (lines_.size() > kMaxLines) lines_.pop_front();
}

std::vector<std::string> ActivityLog::lines() const {
  std::lock_guard lock(mutex_);
  return {lines_.begin(), lines_.end()};
}

Agent::Agent(Options options) : options_(std::move(options)) {}

void Agent::loadInstalled() {
  std::ifstream in(options_.policyPath, std::ios::binary);
  if (!in) return;
  std::ostringstream text;
  text << in.rdbuf();
  const PolicyFrameCheck check = checkPolicyFrame(text.str(), options_.limits, options_.policyPath);
  if (check.policy) {
    std::lock_guard lock(mutex_);
    installedVersion_ = check.version;
  } else {
    log::get("sync")->warn(
        "the installed policy {} is not valid; it is replaced by the next policy frame",
        options_.policyPath);
  }
}

std::string Agent::installedVersion() const {
  std::lock_guard lock(mutex_);
  return installedVersion_;
}

InstallResult Agent::install(std::string_view text, std::string_view origin) {
  auto logger = log::get("sync");
  InstallResult result;
  const PolicyFrameCheck check = checkPolicyFrame(text, options_.limits, origin);
  result.version = check.version;
  for (const std::string& w : check.warnings) logger->warn("{}", w);
  if (!check.ok()) {
    result.status = check.protocolTooOld ? InstallResult::Status::kProtocolTooOld
                                         : InstallResult::Status::kRejected;
    result.errors = check.errors;
    for (const std::string& e : check.errors) logger->error("{}", e);
    ++counters_.policiesRejected;
    activity_.add(
        "policy " + shortVersion(check.version) + " rejected (" +
        std::to_string(check.errors.size()) + " errors); keeping " +
        (installedVersion().empty() ? std::string("no policy") : shortVersion(installedVersion())));
    emitPolicyEvent(false, check.version, check.errors);
    return result;
  }
  result.summary = ruleSummary(*check.policy);
  if (installedVersion() == check.version) {
    result.status = InstallResult::Status::kUnchanged;
    logger->info("policy {} is already installed", shortVersion(check.version));
    if (options_.onInstalled) options_.onInstalled(check.version);
    return result;
  }
  if (Status s = util::writeFileAtomically(options_.policyPath, text); !s) {
    result.status = InstallResult::Status::kIoError;
    result.errors.push_back(options_.policyPath + ": " + s.error().message);
    logger->error("cannot install policy {}: {}", shortVersion(check.version), s.error().message);
    ++counters_.policiesRejected;
    emitPolicyEvent(false, check.version, result.errors);
    return result;
  }
  {
    std::lock_guard lock(mutex_);
    installedVersion_ = check.version;
  }
  result.status = InstallResult::Status::kApplied;
  ++counters_.policiesApplied;
  logger->info("policy {} installed in {} ({})", shortVersion(check.version), options_.policyPath,
               result.summary);
  activity_.add("policy " + shortVersion(check.version) + " applied (" + result.summary + ")");
  for (const std::string& problem : notifyPidfiles(options_.notifyPidfiles)) {
    logger->warn("--notify-pidfile {}", problem);
  }
  emitPolicyEvent(true, check.version, {});
  if (options_.onInstalled) options_.onInstalled(check.version);
  return result;
}

void Agent::emitPolicyEvent(bool applied, const std::string& version,
                            const std::vector<std::string>& errors) {
  if (!options_.emit) return;
  audit::Event event(options_.source, "POLICY " + options_.policyPath);
  event.outcome(applied ? audit::Outcome::kSuccess : audit::Outcome::kFailure)
      .meta("reason", applied ? "policy-applied" : "policy-rejected")
      .meta("policy_version", version);
  if (!errors.empty()) {
    std::string list = "[";
    for (std::size_t i = 0; i < errors.size(); ++i) list += (i ? "," : "") + json::quote(errors[i]);
    event.metaRaw("errors", list + "]");
  }
  options_.emit(event);
}

Agent::Reply Agent::onText(std::string_view text) {
  auto logger = log::get("sync");
  ++counters_.framesReceived;
  Reply reply;
  auto frame = parseFrame(text, options_.limits);
  if (!frame) {
    ++counters_.refusedMalformed;
    logger->warn("refused a frame: {} ({} refused as malformed so far)", frame.error().message,
                 counters_.refusedMalformed.load());
    activity_.add("refused a frame: " + frame.error().message);
    return reply;
  }
  switch (frame->type) {
    case FrameType::kPolicy: {
      const InstallResult r = install(text, "policy frame");
      switch (r.status) {
        case InstallResult::Status::kApplied:
        case InstallResult::Status::kUnchanged:
          reply.frames.push_back(policyAppliedFrame(r.version));
          break;
        case InstallResult::Status::kProtocolTooOld:
          reply.recycle = true;
          [[fallthrough]];
        case InstallResult::Status::kRejected:
        case InstallResult::Status::kIoError:
          reply.frames.push_back(policyRejectedFrame(r.version, r.errors));
          break;
      }
      break;
    }
    case FrameType::kWatch:
      reply.watch = Watch{frame->id, std::chrono::steady_clock::now() + frame->waitMs};
      break;
    case FrameType::kRequestDecision:
    case FrameType::kCredentialDecision:
      forwardDecision(frame->typeName, frame->id, frame->decision);
      break;
    case FrameType::kUnknown:
      ++counters_.unknownTypes;
      logger->info("ignoring a frame of unknown type \"{}\"", frame->typeName);
      activity_.add("ignored a frame of unknown type \"" + frame->typeName + "\"");
      break;
  }
  return reply;
}

void Agent::onBinary(std::size_t size) {
  ++counters_.framesReceived;
  ++counters_.refusedBinary;
  log::get("sync")->warn("refused a binary frame of {} bytes ({} binary frames refused so far)",
                         size, counters_.refusedBinary.load());
  activity_.add("refused a binary frame of " + std::to_string(size) + " bytes");
}

void Agent::onOversized(std::size_t size, std::size_t limit) {
  ++counters_.framesReceived;
  ++counters_.refusedOversized;
  log::get("sync")->warn(
      "refused a frame of {} bytes over --max-frame {} ({} oversized frames refused so far)", size,
      limit, counters_.refusedOversized.load());
  activity_.add("refused a frame of " + std::to_string(size) + " bytes (over --max-frame)");
}

void Agent::forwardDecision(std::string_view type, const std::string& id,
                            const std::string& decision) {
  auto logger = log::get("sync");
  const auto kind =
      type == "credential_decision" ? approval::Kind::kCredential : approval::Kind::kRequest;
  std::string problem = "no approval broker runs";
  if (options_.broker && options_.broker->decide(kind, id, decision, problem)) {
    ++counters_.decisionsForwarded;
    activity_.add(std::string(type) + " " + id + " (" + decision + ") answered an approval");
    return;
  }
  ++counters_.decisionsLogged;
  logger->info("{} {} ({}) answers nothing: {}", type, id, decision, problem);
  activity_.add(std::string(type) + " " + id + " (" + decision + ") answers nothing: " + problem);
}

std::vector<std::pair<std::string, std::uint64_t>> Agent::counterSnapshot() const {
  std::vector<std::pair<std::string, std::uint64_t>> out = {
      {"connections", counters_.connections.load()},
      {"frames_received", counters_.framesReceived.load()},
      {"frames_refused_malformed", counters_.refusedMalformed.load()},
      {"frames_refused_binary", counters_.refusedBinary.load()},
      {"frames_refused_oversized", counters_.refusedOversized.load()},
      {"frames_unknown_type", counters_.unknownTypes.load()},
      {"policies_applied", counters_.policiesApplied.load()},
      {"policies_rejected", counters_.policiesRejected.load()},
      {"decisions_forwarded", counters_.decisionsForwarded.load()},
      {"decisions_logged", counters_.decisionsLogged.load()},
      {"events_sent", counters_.eventsSent.load()},
  };
  if (extra_) {
    for (auto& kv : extra_()) out.push_back(std::move(kv));
  }
  return out;
}

std::string Agent::watchResult(const std::string& id) const {
  return watchResultFrame(id, activity_.lines(), counterSnapshot());
}

}  // namespace lens::sync
