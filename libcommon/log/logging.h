#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>

namespace lens::log {

// Sets up diagnostics on stderr at `level` (trace ... off). Idempotent.
void setup(std::string_view level);

// A named logger for an area ("policy", "dns", "proxy", ...), sharing the
// stderr sink and level.
std::shared_ptr<spdlog::logger> get(const std::string& area);

}  // namespace lens::log
