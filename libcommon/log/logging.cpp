#include "libcommon/log/logging.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>

namespace lens::log {

namespace {
std::mutex gMutex;
spdlog::sink_ptr stderrSink() {
  static spdlog::sink_ptr sink = [] {
    auto s = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    s->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %n %l: %v");
    return s;
  }();
  return sink;
}
spdlog::level::level_enum gLevel = spdlog::level::info;
}  // namespace

void setup(std::string_view level) {
  std::lock_guard lock(gMutex);
  gLevel = spdlog::level::from_str(std::string(level));
  spdlog::set_level(gLevel);
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->set_level(gLevel); });
}

std::shared_ptr<spdlog::logger> get(const std::string& area) {
  std::lock_guard lock(gMutex);
  if (auto existing = spdlog::get(area)) return existing;
  auto logger = std::make_shared<spdlog::logger>(area, stderrSink());
  logger->set_level(gLevel);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace lens::log
