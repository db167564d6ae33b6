#pragma once
// Text output that PVE's tools print in their own layout (scripts parse it), chosen by name from
// a CliAlias (`printer`). Other commands use the generic table of format.h.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace pvx::cli {

// nullopt when no printer has this name.
std::optional<std::string> print_named(const std::string& printer, const nlohmann::json& data);

}  // namespace pvx::cli
