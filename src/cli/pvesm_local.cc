// pvesm commands that move volume data through this process rather than the API: export and
// import stream a volume to or from a file or a pipe (`pvesm export ... - | ssh other pvesm
// import ...`), as PVE's CLI does. The storage's configuration comes from pvxd over the local
// socket; the plugin then runs here, as root.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <iostream>

#include "base/error.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "storage/plugin_registry.h"
#include "storage/volume_id.h"

namespace pvx::cli {
namespace {

// The version of pvx's storage plugin interface (not PVE's Perl plugin API).
constexpr int kApiVersion = 1;
constexpr int kApiAge = 0;

struct LocalArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
};

LocalArgs parse_local(const Args& args, const std::set<std::string>& known) {
  LocalArgs out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a.starts_with("--") && a.size() > 2) {
      std::string name = a.substr(2), value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (i + 1 < args.size() && !args[i + 1].starts_with("--")) {
        value = args[++i];
      } else {
        value = "1";
      }
      if (!known.count(name)) throw Error::param(name, "unknown option");
      out.options[name] = value;
    } else {
      out.positional.push_back(a);
    }
  }
  return out;
}

bool truthy(const std::string& v) { return v == "1" || v == "yes" || v == "true" || v == "on"; }

struct Target {
  storage::StorageDef def;
  storage::HostEnv host;
  std::string volname;
};

// Loads the storage of `volid` from pvxd.
void load_target(const GlobalOptions& global, const std::string& volid, Target& t) {
  auto id = storage::VolumeId::parse(volid);
  Client client(socket_path(global.data_dir));
  ApiReply reply = client.call("GET", "/storage/" + id.storage, nlohmann::json::object());
  check_reply(reply);
  const auto& data = reply.body["data"];
  t.def.id = id.storage;
  t.def.type = data.value("type", "");
  t.def.props = data;
  t.def.props.erase("storage");
  t.def.props.erase("type");
  t.def.props.erase("digest");
  t.host.node = "localhost";
  t.host.data_dir = global.data_dir.empty() ? "/var/lib/pvx" : global.data_dir;
  t.def.host = &t.host;
  t.volname = id.volname;
}

int export_volume(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"snapshot", "base", "with-snapshots", "snapshot-list"});
  if (a.positional.size() != 3) throw Error("usage: pvesm export <volume> <format> <filename|-> [--snapshot NAME] [--base NAME] [--with-snapshots 0|1]", 400);
  Target t;
  load_target(global, a.positional[0], t);
  const auto& plugin = storage::plugin_for(t.def.type);
  plugin.activate(t.def);
  storage::TransferOptions opts{.snapshot = a.options["snapshot"], .base_snapshot = a.options["base"],
                                .with_snapshots = truthy(a.options["with-snapshots"])};
  int fd = 1;
  if (a.positional[2] != "-") {
    fd = ::open(a.positional[2].c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) throw Error("unable to open '" + a.positional[2] + "': " + std::strerror(errno), 400);
  }
  plugin.volume_export(t.def, t.volname, a.positional[1], fd, opts);
  if (fd != 1) ::close(fd);
  return 0;
}

int import_volume(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"allow-rename", "with-snapshots", "base", "snapshot", "delete-snapshot"});
  if (a.positional.size() != 3) throw Error("usage: pvesm import <volume> <format> <filename|-> [--allow-rename 0|1] [--with-snapshots 0|1]", 400);
  Target t;
  load_target(global, a.positional[0], t);
  const auto& plugin = storage::plugin_for(t.def.type);
  plugin.activate(t.def);
  storage::TransferOptions opts{.snapshot = a.options["snapshot"], .base_snapshot = a.options["base"],
                                .with_snapshots = truthy(a.options["with-snapshots"]),
                                .allow_rename = truthy(a.options["allow-rename"])};
  int fd = 0;
  if (a.positional[2] != "-") {
    fd = ::open(a.positional[2].c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("unable to open '" + a.positional[2] + "': " + std::strerror(errno), 400);
  }
  auto volname = plugin.volume_import(t.def, t.volname, a.positional[1], fd, opts);
  if (fd != 0) ::close(fd);
  std::cout << t.def.id << ":" << volname << "\n";
  return 0;
}

}  // namespace

std::optional<int> run_pvesm_local(const Args& args, const GlobalOptions& global) {
  if (args.empty()) return std::nullopt;
  const std::string& cmd = args[0];
  Args rest(args.begin() + 1, args.end());
  if (cmd == "apiinfo") {
    std::cout << "APIVER " << kApiVersion << "\nAPIAGE " << kApiAge << "\n";
    return 0;
  }
  if (cmd == "export") return export_volume(rest, global);
  if (cmd == "import") return import_volume(rest, global);
  return std::nullopt;
}

std::string pvesm_local_usage() {
  return "\n  pvesm apiinfo\n"
         "\n  pvesm export <volume> <format> <filename|-> [--snapshot NAME] [--base NAME] [--with-snapshots 0|1]\n"
         "\n  pvesm import <volume> <format> <filename|-> [--allow-rename 0|1] [--with-snapshots 0|1]\n";
}

}  // namespace pvx::cli
