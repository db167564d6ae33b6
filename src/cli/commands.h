#pragma once
// The CLI's commands. Each returns the process exit code; errors are thrown as pvx::Error and
// printed by main.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "schema/schema.h"

namespace pvx::api { class Router; }

namespace pvx::cli {

using Args = std::vector<std::string>;

// Options shared by every command, taken out of the arguments first.
struct GlobalOptions {
  std::string data_dir;
  std::string output_format = "text";
};

// Positional arguments and --name value options; a boolean option may stand alone (--force).
struct ParsedArgs {
  std::vector<std::string> positional;
  nlohmann::json options = nlohmann::json::object();
};
ParsedArgs parse_args(const Args& args, const schema::Schema* parameters);
GlobalOptions take_global_options(Args& args);

// The tools whose names the pvx binary answers to.
const std::vector<std::string>& tool_names();

int run_pvesh(const api::Router& router, Args args, const GlobalOptions& global);
int run_tool(const api::Router& router, const std::string& tool, Args args, const GlobalOptions& global);
// pvesm apiinfo, export and import run here rather than in pvxd; nullopt for other commands.
std::optional<int> run_pvesm_local(const Args& args, const GlobalOptions& global);
std::string pvesm_local_usage();
// qm terminal, monitor, guest exec, wait, rescan and disk import run here; nullopt for other commands.
std::optional<int> run_qm_local(const Args& args, const GlobalOptions& global);
std::string qm_local_usage();
// `qm importovf`: a VM from an OVF descriptor and its disk images.
// pct exec, enter, console, push, pull and unlock run here; nullopt for other commands.
std::optional<int> run_pct_local(const Args& args, const GlobalOptions& global);
std::string pct_local_usage();
// pveam update, list, remove and build run here; nullopt for other commands.
std::optional<int> run_pveam_local(const Args& args, const GlobalOptions& global);
std::string pveam_local_usage();
// pveum user permissions, user token permissions, user tfa delete and passwd; nullopt for others.
std::optional<int> run_pveum_local(const Args& args, const GlobalOptions& global);
std::string pveum_local_usage();
int qm_importovf(const Args& args, const GlobalOptions& global);
int run_schema(const api::Router& router, const Args& args);
int run_completion(const Args& args);
int run_complete_words(const api::Router& router, const Args& words);
int run_man(const api::Router& router, const Args& args);

// Usage text of one tool (its subcommands and their parameters), shared by help and man pages.
std::string tool_usage(const api::Router& router, const std::string& tool);

}  // namespace pvx::cli
