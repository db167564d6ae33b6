// pvesm commands that move volume data through this process rather than the API: export and
// import stream a volume to or from a file or a pipe (`pvesm export ... - | ssh other pvesm
// import ...`), as PVE's CLI does. The storage's configuration comes from pvxd over the local
// socket; the plugin then runs here, as root.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <iostream>

#include "base/error.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/local_args.h"
#include "cli/output.h"
#include "storage/plugin_registry.h"
#include "storage/volume_id.h"

namespace pvx::cli {
namespace {

// The version of pvx's storage plugin interface (not PVE's Perl plugin API).
constexpr int kApiVersion = 1;
constexpr int kApiAge = 0;

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

// `pvesm path <volume>`: computed, not checked, as in PVE (scripts ask for paths of volumes
// they are about to create).
int volume_path(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {});
  if (a.positional.size() != 1) throw Error("usage: pvesm path <volume>", 400);
  Target t;
  load_target(global, a.positional[0], t);
  const auto& plugin = storage::plugin_for(t.def.type);
  std::cout << plugin.path(t.def, t.volname) << "\n";
  return 0;
}

// `pvesm prune-backups <storage> [--dry-run] [--keep-last N ...] [--type T] [--vmid N]`: PVE's
// options folded into the API's prune-backups property string.
int prune_backups(const Args& args, const GlobalOptions& global) {
  static const std::vector<std::string> keeps = {"keep-all", "keep-last", "keep-hourly", "keep-daily",
                                                 "keep-weekly", "keep-monthly", "keep-yearly"};
  std::set<std::string> known = {"dry-run", "type", "vmid", "prune-backups", "node"};
  known.insert(keeps.begin(), keeps.end());
  auto a = parse_local(args, known);
  if (a.positional.size() != 1) {
    throw Error("usage: pvesm prune-backups <storage> [--dry-run 0|1] [--keep-last N] [--keep-hourly N] "
                "[--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--keep-all 0|1] "
                "[--type qemu|lxc] [--vmid N]",
                400);
  }
  nlohmann::json params = nlohmann::json::object();
  std::string retention;
  for (const auto& k : keeps) {
    if (auto it = a.options.find(k); it != a.options.end()) retention += (retention.empty() ? "" : ",") + k + "=" + it->second;
  }
  if (!retention.empty()) params["prune-backups"] = retention;
  else if (a.options.count("prune-backups")) params["prune-backups"] = a.options["prune-backups"];
  for (const char* k : {"type", "vmid"}) {
    if (a.options.count(k)) params[k] = a.options[k];
  }
  Client client(socket_path(global.data_dir));
  std::string node = a.options.count("node") ? a.options["node"] : local_node(client);
  const std::string path = "/nodes/" + node + "/storage/" + a.positional[0] + "/prunebackups";
  const bool dry = a.options.count("dry-run") && truthy(a.options["dry-run"]);
  ApiReply reply = client.call(dry ? "GET" : "DELETE", path, params);
  check_reply(reply);
  const auto& data = reply.body["data"];
  if (!dry) return data.is_string() ? follow_task(client, data.get<std::string>()) : 0;
  if (global.output_format != "text") {
    std::cout << data.dump(global.output_format == "json-pretty" ? 2 : -1) << "\n";
    return 0;
  }
  std::size_t w = 9;
  for (const auto& e : data) w = std::max(w, e.value("volid", std::string()).size());
  std::printf("%-*s %-19s %-6s %s\n", static_cast<int>(w), "Backup-ID", "Created", "Type", "Mark");
  for (const auto& e : data) {
    std::time_t t = e.value("ctime", std::int64_t{0});
    std::tm tm{};
    localtime_r(&t, &tm);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    std::printf("%-*s %-19s %-6s %s\n", static_cast<int>(w), e.value("volid", std::string()).c_str(), when,
                e.value("type", std::string()).c_str(), e.value("mark", std::string()).c_str());
  }
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
  if (cmd == "path") return volume_path(rest, global);
  if (cmd == "prune-backups") return prune_backups(rest, global);
  if (cmd == "import") return import_volume(rest, global);
  return std::nullopt;
}

std::string pvesm_local_usage() {
  return "\n  pvesm apiinfo\n"
         "\n  pvesm path <volume>\n"
         "\n  pvesm prune-backups <storage> [--dry-run 0|1] [--keep-last N] [--keep-hourly N] [--keep-daily N]\n"
         "      [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--keep-all 0|1] [--type qemu|lxc] [--vmid N]\n"
         "\n  pvesm export <volume> <format> <filename|-> [--snapshot NAME] [--base NAME] [--with-snapshots 0|1]\n"
         "\n  pvesm import <volume> <format> <filename|-> [--allow-rename 0|1] [--with-snapshots 0|1]\n";
}

}  // namespace pvx::cli
