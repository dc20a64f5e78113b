#pragma once

#include <string_view>

namespace lens::policy {

// schemas/examples/default.json, compiled in: deny everything.
std::string_view embeddedDefaultPolicy();

}  // namespace lens::policy
