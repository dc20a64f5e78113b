#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lens::json {

// JSON paths as used in every diagnostic: `network.egress.tcp[2].match`.
// Keys that are not plain identifiers are quoted: `env["A.B"]`.
std::string childPath(std::string_view parent, std::string_view key);
std::string indexPath(std::string_view parent, std::size_t index);

// One step of a path: an object key or an array index.
using PathStep = std::variant<std::string, std::size_t>;

// The steps of a path built by childPath and indexPath, or nullopt when the
// text is not such a path.
std::optional<std::vector<PathStep>> splitPath(std::string_view path);

}  // namespace lens::json
