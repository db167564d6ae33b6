// The multi-call CLI: `qm`, `pct`, `pvesm`, `pveum`, `pvecm`, `pvesh`, `vzdump` and
// `ha-manager` are links to this binary (chosen by argv[0]); `pvx TOOL ...` works as well.
#include <cstdio>
#include <iostream>

#include "api/method_table.h"
#include "api/router.h"
#include "base/error.h"
#include "cli/commands.h"

namespace pvx::cli {
namespace {

int usage() {
  std::cerr << "USAGE: pvx <tool> [ARGS]   tools: qm pct pvesm pveum pvecm pvesh vzdump ha-manager\n"
               "       pvx schema <dump|openapi>\n"
               "       pvx completion bash\n"
               "       pvx man <tool>\n";
  return 255;
}

int run(std::string prog, Args args) {
  api::Router router;
  api::register_all_methods(router);
  if (prog == "pvx") {
    if (args.empty() || args[0] == "help" || args[0] == "--help") return usage();
    prog = args[0];
    args.erase(args.begin());
    if (prog == "schema") return run_schema(router, args);
    if (prog == "completion") return run_completion(args);
    if (prog == "__complete") return run_complete_words(router, args);
    if (prog == "man") return run_man(router, args);
  }
  const auto& tools = tool_names();
  if (std::find(tools.begin(), tools.end(), prog) == tools.end()) {
    std::cerr << "pvx: unknown tool '" << prog << "'\n";
    return usage();
  }
  GlobalOptions global = take_global_options(args);
  if (prog == "pvesh") return run_pvesh(router, std::move(args), global);
  if (prog == "pvesm") {
    if (auto rc = run_pvesm_local(args, global)) return *rc;
  }
  if (prog == "qm") {
    if (auto rc = run_qm_local(args, global)) return *rc;
  }
  if (prog == "pveam") {
    if (auto rc = run_pveam_local(args, global)) return *rc;
  }
  if (prog == "pveum") {
    if (auto rc = run_pveum_local(args, global)) return *rc;
  }
  if (prog == "pct") {
    if (auto rc = run_pct_local(args, global)) return *rc;
  }
  return run_tool(router, prog, std::move(args), global);
}

}  // namespace
}  // namespace pvx::cli

int main(int argc, char** argv) {
  std::string prog = argv[0];
  prog = prog.substr(prog.rfind('/') + 1);
  pvx::cli::Args args(argv + 1, argv + argc);
  try {
    return pvx::cli::run(prog, std::move(args));
  } catch (const pvx::Error& e) {
    std::string msg = e.what();
    std::fprintf(stderr, "%s%s\n", msg.c_str(), e.status() != 500 ? (" (" + std::to_string(e.status()) + ")").c_str() : "");
    for (const auto& [k, v] : e.params()) std::fprintf(stderr, "%s: %s\n", k.c_str(), v.c_str());
    return 255;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 255;
  }
}
