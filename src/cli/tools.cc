// qm, pct, pvesm, pveum, pvecm, vzdump, ha-manager: subcommands declared as CLI aliases beside
// their API methods.
#include <iostream>

#include "api/router.h"
#include "base/error.h"
#include "base/strings.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "cli/output.h"
#include "cli/printers.h"
#include "schema/describe.h"

namespace pvx::cli {
namespace {

struct AliasRef {
  const api::ApiMethod* method;
  const api::CliAlias* alias;
};

std::vector<AliasRef> aliases_of(const api::Router& router, const std::string& tool) {
  std::vector<AliasRef> out;
  for (const api::ApiMethod* m : router.all()) {
    for (const auto& a : m->cli) {
      if (a.tool == tool) out.push_back({m, &a});
    }
  }
  std::sort(out.begin(), out.end(), [](const AliasRef& x, const AliasRef& y) {
    return x.alias->command < y.alias->command;
  });
  return out;
}

// The alias whose command words are the longest prefix of args.
// A command is its words ("user token add") plus optional "--flag" words that select a variant
// ("prune-backups --dry-run") and may appear anywhere among the arguments. The most specific
// match wins; `args` loses the matched words.
std::optional<AliasRef> find_alias(const std::vector<AliasRef>& aliases, Args& args) {
  std::optional<AliasRef> best;
  size_t best_score = 0;
  for (const auto& a : aliases) {
    std::vector<std::string> words, flags;
    for (auto& w : split_any(a.alias->command, " ")) (w.starts_with("--") ? flags : words).push_back(w);
    if (words.size() > args.size() || !std::equal(words.begin(), words.end(), args.begin())) continue;
    bool flags_present = std::all_of(flags.begin(), flags.end(), [&](const std::string& f) {
      return std::find(args.begin() + static_cast<long>(words.size()), args.end(), f) != args.end();
    });
    size_t score = words.size() * 16 + flags.size();
    if (flags_present && score > best_score) {
      best = a;
      best_score = score;
    }
  }
  if (!best) return best;
  std::vector<std::string> words, flags;
  for (auto& w : split_any(best->alias->command, " ")) (w.starts_with("--") ? flags : words).push_back(w);
  args.erase(args.begin(), args.begin() + static_cast<long>(words.size()));
  for (const auto& f : flags) args.erase(std::find(args.begin(), args.end(), f));
  return best;
}


std::string fill_path(const std::string& tmpl, nlohmann::json& params) {
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] == '{') {
      auto end = tmpl.find('}', i);
      std::string name = tmpl.substr(i + 1, end - i - 1);
      if (!params.contains(name)) throw Error::param(name, "property is missing and it is not optional");
      const auto& v = params[name];
      out += url_encode(v.is_string() ? v.get<std::string>() : v.dump());
      params.erase(name);
      i = end + 1;
    } else {
      out.push_back(tmpl[i++]);
    }
  }
  return out;
}

std::string command_usage(const std::string& tool, const AliasRef& a) {
  std::string out = tool + " " + a.alias->command;
  for (const auto& p : a.alias->positional) out += " <" + p + ">";
  std::string opts;
  if (a.method->parameters) {
    for (const auto& [name, s] : a.method->parameters->properties) {
      bool fixed = std::any_of(a.alias->fixed.begin(), a.alias->fixed.end(),
                               [&](const auto& f) { return f.first == name; });
      if (name == "node" || fixed ||
          std::find(a.alias->positional.begin(), a.alias->positional.end(), name) != a.alias->positional.end()) {
        continue;
      }
      opts += "\n      --" + name + " " + schema::type_text(*s) + (s->optional ? "" : " (required)");
    }
  }
  return out + (opts.empty() ? "" : " [OPTIONS]" + opts) + "\n";
}

}  // namespace

std::string tool_usage(const api::Router& router, const std::string& tool) {
  auto aliases = aliases_of(router, tool);
  std::string out = "USAGE: " + tool + " <COMMAND> [ARGS] [OPTIONS]\n";
  if (aliases.empty()) return out + "\n  (no commands are available in this version)\n";
  for (const auto& a : aliases) out += "\n  " + command_usage(tool, a);
  if (tool == "pvesm") out += pvesm_local_usage();
  if (tool == "qm") out += qm_local_usage();
  if (tool == "pct") out += pct_local_usage();
  if (tool == "pveam") out += pveam_local_usage();
  if (tool == "pveum") out += pveum_local_usage();
  return out;
}

int run_tool(const api::Router& router, const std::string& tool, Args args, const GlobalOptions& global) {
  auto aliases = aliases_of(router, tool);
  // `qm help start` and `qm start --help` print that command's usage only.
  if (args.size() > 1 && args[0] == "help") {
    Args rest(args.begin() + 1, args.end());
    if (auto a = find_alias(aliases, rest)) {
      std::cout << "USAGE: " << command_usage(tool, *a);
      return 0;
    }
  }
  if (args.empty() || args[0] == "help" || args[0] == "--help") {
    std::cout << tool_usage(router, tool);
    return args.empty() ? 255 : 0;
  }
  auto alias = find_alias(aliases, args);
  if (!alias) {
    std::cerr << "ERROR: unknown command '" << tool << " " << args[0] << "'\n" << tool_usage(router, tool);
    return 255;
  }
  if (std::find(args.begin(), args.end(), "--help") != args.end()) {
    std::cout << "USAGE: " << command_usage(tool, *alias);
    return 0;
  }
  const api::ApiMethod& m = *alias->method;
  ParsedArgs parsed = parse_args(args, m.parameters.get());
  const auto& pos = alias->alias->positional;
  if (parsed.positional.size() > pos.size()) {
    throw Error("too many arguments\n" + command_usage(tool, *alias), 400);
  }
  for (size_t i = 0; i < parsed.positional.size(); ++i) parsed.options[pos[i]] = parsed.positional[i];
  for (const auto& [name, value] : alias->alias->fixed) parsed.options[name] = value;
  for (size_t i = parsed.positional.size(); i < pos.size(); ++i) {
    if (!m.parameters->property(pos[i]) || !m.parameters->property(pos[i])->optional) {
      throw Error::param(pos[i], "property is missing and it is not optional");
    }
  }
  Client client(socket_path(global.data_dir));
  if (m.path.find("{node}") != std::string::npos && !parsed.options.contains("node")) {
    parsed.options["node"] = local_node(client);
  }
  // `pvesm free local:iso/x.iso`: a volume id names its storage, as in PVE's CLI.
  if (m.path.find("{storage}") != std::string::npos && !parsed.options.contains("storage") &&
      parsed.options.contains("volume") && parsed.options["volume"].is_string()) {
    auto volid = parsed.options["volume"].get<std::string>();
    if (auto colon = volid.find(':'); colon != std::string::npos) parsed.options["storage"] = volid.substr(0, colon);
  }
  std::string path = fill_path(m.path, parsed.options);
  ApiReply reply = client.call(api::verb_name(m.verb), path, parsed.options);
  check_reply(reply);
  const auto& data = reply.body["data"];
  if (data.is_string() && data.get<std::string>().starts_with("UPID:")) return follow_task(client, data);
  if (!alias->alias->field.empty()) {
    // Commands that print one value of the answer (`pvesm path` prints the path).
    const auto v = data.is_object() && data.contains(alias->alias->field) ? data[alias->alias->field] : nlohmann::json();
    std::cout << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
    return 0;
  }
  const auto format = parse_output_format(global.output_format);
  if (format == OutputFormat::Text && !alias->alias->printer.empty()) {
    if (auto text = print_named(alias->alias->printer, data)) {
      std::cout << *text;
      return 0;
    }
  }
  std::cout << render(data, m.returns.get(), format);
  return 0;
}

}  // namespace pvx::cli
