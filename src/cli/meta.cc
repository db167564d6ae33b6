// pvx's own commands: schema documents, bash completion and man pages, all derived from the
// method table.
#include <ctime>
#include <set>
#include <iostream>

#include "api/router.h"
#include "api/schema_export.h"
#include "base/error.h"
#include "base/strings.h"
#include "cli/commands.h"
#include "schema/describe.h"

namespace pvx::cli {
namespace {

constexpr const char* kCompletionScript = R"(# bash completion for pvx and its tools
_pvx_complete() {
    local cur words
    cur="${COMP_WORDS[COMP_CWORD]}"
    words=$(pvx __complete "${COMP_WORDS[@]:0:COMP_CWORD}" 2>/dev/null)
    COMPREPLY=( $(compgen -W "${words}" -- "${cur}") )
}
complete -o default -F _pvx_complete pvx qm pct pvesm pveum pvecm pvesh vzdump ha-manager
)";

std::string roff_escape(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out.push_back(c);
  }
  if (!out.empty() && (out.front() == '.' || out.front() == '\'')) out = "\\&" + out;
  return out;
}

}  // namespace

int run_schema(const api::Router& router, const Args& args) {
  std::string what = args.empty() ? "" : args[0];
  if (what == "dump") {
    std::cout << api::schema_dump(router).dump(1) << "\n";
  } else if (what == "openapi") {
    std::cout << api::openapi_document(router).dump(1) << "\n";
  } else {
    std::cerr << "USAGE: pvx schema <dump|openapi>\n";
    return 255;
  }
  return 0;
}

int run_completion(const Args& args) {
  if (args.empty() || args[0] != "bash") {
    std::cerr << "USAGE: pvx completion bash\n";
    return 255;
  }
  std::cout << kCompletionScript;
  return 0;
}

// Completion words for a command line typed so far (words[0] is the program).
int run_complete_words(const api::Router& router, const Args& words) {
  if (words.empty()) return 0;
  std::string prog = words[0].substr(words[0].rfind('/') + 1);
  Args rest(words.begin() + 1, words.end());
  if (prog == "pvx") {
    if (rest.empty()) {
      for (const auto& t : tool_names()) std::cout << t << "\n";
      std::cout << "schema\ncompletion\nman\nhelp\n";
      return 0;
    }
    prog = rest[0];
    rest.erase(rest.begin());
  }
  if (prog == "pvesh") {
    if (rest.empty()) {
      std::cout << "get\nset\ncreate\ndelete\nls\nusage\n";
      return 0;
    }
    // Paths: declared literal children of the typed path.
    std::string typed = rest.size() >= 2 ? rest[1] : "/";
    std::string dir = typed.substr(0, typed.rfind('/') + 1);
    if (dir.empty()) dir = "/";
    for (const auto& c : router.children(dir)) std::cout << dir << c << "\n";
    return 0;
  }
  std::set<std::string> out;
  for (const api::ApiMethod* m : router.all()) {
    for (const auto& a : m->cli) {
      if (a.tool != prog) continue;
      auto cmd = split_any(a.command, " ");
      size_t k = 0;
      while (k < cmd.size() && k < rest.size() && cmd[k] == rest[k]) ++k;
      if (k < cmd.size() && k == rest.size()) {
        out.insert(cmd[k]);
      } else if (k == cmd.size() && m->parameters) {
        for (const auto& [name, s] : m->parameters->properties) out.insert("--" + name);
      }
    }
  }
  // pvesm's local commands (pvesm_local.cc) complete too.
  if (prog == "pvesm" && rest.empty()) {
    for (const char* c : {"apiinfo", "export", "import", "path", "prune-backups"}) out.insert(c);
  }
  for (const auto& w : out) std::cout << w << "\n";
  return 0;
}

int run_man(const api::Router& router, const Args& args) {
  if (args.empty()) {
    std::cerr << "USAGE: pvx man <tool>\n";
    return 255;
  }
  const std::string& tool = args[0];
  std::cout << ".TH " << to_lower(tool) << " 1 \"\" \"pvx\" \"pvx manual\"\n"
            << ".SH NAME\n" << roff_escape(tool) << " \\- pvx command line tool\n"
            << ".SH SYNOPSIS\n.nf\n" << roff_escape(tool_usage(router, tool)) << ".fi\n";
  if (tool == "pvesh") {
    std::cout << ".SH API PATHS\n";
    for (const api::ApiMethod* m : router.all()) {
      std::cout << ".TP\n.B " << api::verb_name(m->verb) << " " << roff_escape(m->path) << "\n"
                << roff_escape(m->description) << "\n";
    }
  }
  std::cout << ".SH SEE ALSO\n.BR pvesh (1), " << "pvx completion bash\n";
  return 0;
}

}  // namespace pvx::cli
