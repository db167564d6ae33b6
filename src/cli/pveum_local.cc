// pveum commands that are more than one plain API call: `user permissions` and `user token
// permissions` (GET /access/permissions for a user or a token, printed as PVE's tree), `passwd`
// (asks for the new password on the terminal, as PVE's does), and `user tfa delete` (removes one
// or all of a user's second factors).
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "base/error.h"
#include "base/strings.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "cli/local_args.h"
#include "cli/output.h"

namespace pvx::cli {
namespace {

using Json = nlohmann::json;


// PVE's layout: each path, then its privileges with "(*)" marking the propagated ones.
void print_permissions(const Json& data, const GlobalOptions& global) {
  auto format = parse_output_format(global.output_format);
  if (format != OutputFormat::Text) {
    std::cout << render(data, nullptr, format);
    return;
  }
  for (const auto& [path, privs] : data.items()) {
    std::cout << path << ":\n";
    for (const auto& [priv, propagate] : privs.items()) {
      std::cout << "  " << priv << (propagate == 1 ? " (*)" : "") << "\n";
    }
  }
}

int permissions(const std::string& authid, const LocalArgs& a, const GlobalOptions& global) {
  Client client(socket_path(global.data_dir));
  Json params = Json::object();
  if (!authid.empty()) params["userid"] = authid;
  if (auto it = a.options.find("path"); it != a.options.end()) params["path"] = it->second;
  ApiReply r = client.call("GET", "/access/permissions", params);
  check_reply(r);
  print_permissions(r.body.value("data", Json::object()), global);
  return 0;
}

std::string read_password(const std::string& prompt) {
  std::cerr << prompt;
  termios old{};
  const bool tty = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
  }
  return line;
}

int passwd(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"confirmation-password"});
  if (a.positional.size() != 1) throw Error("usage: pveum passwd <userid> [--confirmation-password <pw>]", 400);
  std::string pw = read_password("Enter new password: ");
  if (::isatty(STDIN_FILENO) && read_password("Retype new password: ") != pw) throw Error("Passwords do not match.", 400);
  Json params = {{"userid", a.positional[0]}, {"password", pw}};
  if (auto it = a.options.find("confirmation-password"); it != a.options.end()) params["confirmation-password"] = it->second;
  Client client(socket_path(global.data_dir));
  check_reply(client.call("PUT", "/access/password", params));
  return 0;
}

// `pveum user tfa delete <userid> [--id <id>]`: one entry, or all of them.
int tfa_delete(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"id"});
  if (a.positional.size() != 1) throw Error("usage: pveum user tfa delete <userid> [--id <id>]", 400);
  const std::string userid = a.positional[0];
  Client client(socket_path(global.data_dir));
  std::vector<std::string> ids;
  if (auto it = a.options.find("id"); it != a.options.end()) {
    ids.push_back(it->second);
  } else {
    ApiReply r = client.call("GET", "/access/tfa/" + url_encode(userid), Json::object());
    check_reply(r);
    for (const auto& e : r.body.value("data", Json::array())) ids.push_back(e.value("id", ""));
  }
  for (const auto& id : ids) check_reply(client.call("DELETE", "/access/tfa/" + url_encode(userid) + "/" + url_encode(id), Json::object()));
  return 0;
}

}  // namespace

std::optional<int> run_pveum_local(const Args& args, const GlobalOptions& global) {
  if (args.empty()) return std::nullopt;
  if (args[0] == "passwd") return passwd(Args(args.begin() + 1, args.end()), global);
  if (args.size() >= 2 && args[0] == "user" && args[1] == "permissions") {
    auto a = parse_local(Args(args.begin() + 2, args.end()), {"path"});
    if (a.positional.size() > 1) throw Error("usage: pveum user permissions [<userid>] [--path <path>]", 400);
    return permissions(a.positional.empty() ? "" : a.positional[0], a, global);
  }
  if (args.size() >= 3 && args[0] == "user" && args[1] == "token" && args[2] == "permissions") {
    auto a = parse_local(Args(args.begin() + 3, args.end()), {"path"});
    if (a.positional.size() != 2) throw Error("usage: pveum user token permissions <userid> <tokenid> [--path <path>]", 400);
    return permissions(a.positional[0] + "!" + a.positional[1], a, global);
  }
  if (args.size() >= 3 && args[0] == "user" && args[1] == "tfa" && args[2] == "delete") {
    return tfa_delete(Args(args.begin() + 3, args.end()), global);
  }
  return std::nullopt;
}

std::string pveum_local_usage() {
  return "  pveum user permissions [<userid>] [--path <path>]\n"
         "  pveum user token permissions <userid> <tokenid> [--path <path>]\n"
         "  pveum user tfa delete <userid> [--id <id>]\n"
         "  pveum passwd <userid> [--confirmation-password <pw>]   (reads the new password from the terminal)\n";
}

}  // namespace pvx::cli
