#pragma once
// Argument parsing of the commands that run in the CLI process itself (pvesm export/import,
// qm terminal/monitor/guest exec, ...) rather than as one API call.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace pvx::cli {

struct LocalArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
  std::vector<std::string> rest;  // everything after a lone "--"
};

// `--name value`, `--name=value` and a lone `--flag` (= "1"); unknown names are a 400 naming them.
LocalArgs parse_local(const Args& args, const std::set<std::string>& known);
bool truthy(const std::string& v);

}  // namespace pvx::cli
