#pragma once
// Output of API results in the CLI: text tables as PVE's tools print them, JSON, pretty JSON and
// YAML.
#include <string>

#include <nlohmann/json.hpp>

#include "schema/schema.h"

namespace pvx::cli {

enum class OutputFormat { Text, Json, JsonPretty, Yaml };
// nullopt-like: throws pvx::Error 400 naming "output-format" for an unknown name.
OutputFormat parse_output_format(const std::string& name);

// `returns` (may be null) orders table columns and tells which values are property lists.
std::string render(const nlohmann::json& data, const schema::Schema* returns, OutputFormat format);

// Text helpers, exposed for tests.
std::string render_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
std::string to_yaml(const nlohmann::json& data);

}  // namespace pvx::cli
