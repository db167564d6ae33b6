#pragma once
// proxmox-backup-client invocations and JSON parsing for the `pbs` type, as pure functions.
// A backup is the volume "backup/<type>/<id>/<time>" (type vm, ct or host; time in UTC,
// "2024-01-31T12:00:00Z"), which is also the client's snapshot path.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/storage_plugin.h"

namespace pvx::storage::pbs {

inline constexpr std::string_view kClient = "proxmox-backup-client";

struct Remote {
  std::string server;
  int port = 0;                // 0 = the default 8007
  std::string datastore;
  std::string username = "root@pam";
  std::string ns;              // namespace, "" = root
  std::string fingerprint;
  std::string password;        // or API token secret
};
Remote remote_of(const StorageDef& def);

// "<user>@<server>[:<port>]:<datastore>", IPv6 addresses in brackets.
std::string repository(const Remote& r);
// proxmox-backup-client <cmd...> [--output-format=json] --repository <repo> [--ns <ns>]
std::vector<std::string> client_argv(const Remote& r, const std::vector<std::string>& cmd, bool json);
// The secret and the pinned certificate go through the environment, never argv.
std::vector<std::string> client_env(const Remote& r);

struct Snapshot {
  std::string type, id;        // "vm"/"ct"/"host", backup id
  std::int64_t time = 0;
};
// Throws Error 400 naming "volume" when `volname` is not "backup/<type>/<id>/<time>".
Snapshot parse_volname(std::string_view volname);
std::string format_time(std::int64_t epoch);   // "%FT%TZ" in UTC
std::string snapshot_path(const Snapshot& s);  // "<type>/<id>/<time>"

// `snapshot list --output-format=json`: VM and CT backups as volumes of `storage`.
std::vector<VolumeInfo> parse_snapshot_list(std::string_view json, const std::string& storage, std::int64_t vmid);
// `status --output-format=json`: {"total":..,"used":..,"avail":..}.
StorageStatus parse_status(std::string_view json);
// `snapshot files --output-format=json`: sum of the file sizes.
std::int64_t parse_files_size(std::string_view json);
// `snapshot notes show --output-format=json`: the notes text (plain text output accepted too).
std::string parse_notes(std::string_view output);

}  // namespace pvx::storage::pbs
