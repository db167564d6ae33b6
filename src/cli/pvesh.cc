// pvesh: the API as a shell. get/set/create/delete call a method, ls lists a directory, usage
// prints a method's parameters.
#include <cstdio>
#include <iostream>

#include "api/router.h"
#include "base/error.h"
#include "base/strings.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "cli/output.h"
#include "schema/describe.h"

namespace pvx::cli {
namespace {

std::optional<api::Verb> verb_of(const std::string& cmd) {
  if (cmd == "get") return api::Verb::Get;
  if (cmd == "set") return api::Verb::Put;
  if (cmd == "create") return api::Verb::Post;
  if (cmd == "delete") return api::Verb::Delete;
  return std::nullopt;
}

std::string normalize(std::string path) {
  if (path.empty() || path.front() != '/') path = "/" + path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::string method_usage(const api::ApiMethod& m, const std::string& cmd, const std::string& path) {
  std::string out = "USAGE: pvesh " + cmd + " " + path;
  std::string opts;
  if (m.parameters) {
    for (const auto& [name, s] : m.parameters->properties) {
      if (m.path.find("{" + name + "}") != std::string::npos) continue;
      opts += "\n  --" + name + " " + schema::type_text(*s) + (s->optional ? "" : " (required)");
      if (!s->description.empty()) opts += "\n        " + s->description;
    }
  }
  out += opts.empty() ? "\n" : " [OPTIONS]\n" + opts + "\n";
  return out;
}

int usage(const api::Router& router, const std::string& path, const ParsedArgs& args) {
  std::string only = args.options.value("command", "");
  bool any = false;
  for (auto [cmd, verb] : {std::pair{"get", api::Verb::Get}, std::pair{"set", api::Verb::Put},
                           std::pair{"create", api::Verb::Post}, std::pair{"delete", api::Verb::Delete}}) {
    if (!only.empty() && only != cmd) continue;
    if (auto m = router.find(verb, path)) {
      std::cout << method_usage(*m->method, cmd, path);
      any = true;
    }
  }
  if (!any) throw Error("no such resource '" + path + "'", 400);
  return 0;
}

int list_directory(const api::Router& router, const Client& client, const std::string& path) {
  auto match = router.find(api::Verb::Get, path);
  if (!match) throw Error("no such resource '" + path + "'", 400);
  ApiReply reply = client.call("GET", path, nlohmann::json::object());
  check_reply(reply);
  const auto* returns = match->method->returns.get();
  std::string key;
  if (returns && !returns->child_link.empty()) key = returns->child_link.substr(1, returns->child_link.size() - 2);
  std::vector<std::string> names;
  const auto& data = reply.body["data"];
  if (data.is_array()) {
    for (const auto& e : data) {
      if (e.is_object() && !key.empty() && e.contains(key)) {
        names.push_back(e[key].is_string() ? e[key].get<std::string>() : e[key].dump());
      }
    }
  }
  for (const auto& name : names) {
    std::string child = (path == "/" ? "" : path) + "/" + name;
    auto verbs = router.verbs_at(child);
    auto has = [&](api::Verb v) { return std::find(verbs.begin(), verbs.end(), v) != verbs.end(); };
    bool dir = false;
    if (auto m = router.find(api::Verb::Get, child)) dir = m->method->returns && !m->method->returns->child_link.empty();
    std::printf("%c%c%c%c%c        %s\n", dir ? 'D' : '-', has(api::Verb::Get) ? 'r' : '-',
                has(api::Verb::Put) ? 'w' : '-', has(api::Verb::Post) ? 'c' : '-',
                has(api::Verb::Delete) ? 'd' : '-', name.c_str());
  }
  return 0;
}

}  // namespace

int run_pvesh(const api::Router& router, Args args, const GlobalOptions& global) {
  if (args.empty() || args[0] == "help" || args[0] == "--help") {
    std::cout << "USAGE: pvesh <get|set|create|delete|ls|usage> <api_path> [OPTIONS] "
                 "[--output-format text|json|json-pretty|yaml]\n";
    return args.empty() ? 255 : 0;
  }
  std::string cmd = args[0];
  if (args.size() < 2) throw Error::param("api_path", "property is missing and it is not optional");
  std::string path = normalize(url_decode(args[1], false));
  Args rest(args.begin() + 2, args.end());
  Client client(socket_path(global.data_dir));
  auto format = parse_output_format(global.output_format);

  if (cmd == "ls") return list_directory(router, client, path);
  if (cmd == "usage") return usage(router, path, parse_args(rest, nullptr));
  auto verb = verb_of(cmd);
  if (!verb) throw Error("unknown command 'pvesh " + cmd + "'", 400);
  auto match = router.find(*verb, path);
  if (!match) {
    throw Error(std::string("Method '") + api::verb_name(*verb) + " " + path + "' not implemented", 501);
  }
  ParsedArgs parsed = parse_args(rest, match->method->parameters.get());
  if (!parsed.positional.empty()) throw Error("unexpected argument '" + parsed.positional[0] + "'", 400);
  ApiReply reply = client.call(api::verb_name(*verb), path, parsed.options);
  check_reply(reply);
  std::cout << render(reply.body["data"], match->method->returns.get(), format);
  return 0;
}

}  // namespace pvx::cli
