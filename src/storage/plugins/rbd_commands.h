#pragma once
// Ceph RBD tool invocations and JSON parsing for the `rbd` type, as pure functions. Every rbd
// call names the pool, namespace and cluster connection explicitly (external clusters via
// `monhost` with a keyring file; otherwise the host's /etc/ceph/ceph.conf and client.admin).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pvx::storage::rbd {

struct Connection {
  std::string pool = "rbd";
  std::string ns;              // RBD namespace, "" = none
  std::string data_pool;       // erasure-coded data pool, "" = none
  std::vector<std::string> mons;  // external cluster monitors, empty = the host's ceph.conf
  std::string user = "admin";
  std::string keyring;         // path of the keyring file, "" = none
  std::string conf;            // ceph.conf to use, "" = the default

  std::string auth() const { return keyring.empty() ? "none" : "cephx"; }
};

// "10.0.0.1 10.0.0.2;[fd00::1]:6789,host" -> one entry each.
std::vector<std::string> split_monhost(std::string_view monhost);

// rbd -p <pool> [--namespace <ns>] [-c conf] [-m mons] [--auth_supported x] [-n client.<user>]
//     [--keyring file] <op> <args...>
std::vector<std::string> rbd_argv(const Connection& c, const std::vector<std::string>& op_and_args);
// Same connection options for the ceph CLI (pool usage).
std::vector<std::string> ceph_argv(const Connection& c, const std::vector<std::string>& args);
// "<pool>[/<ns>]/<image>" as rbd takes image specs.
std::string image_spec(const Connection& c, const std::string& image);

// What QEMU opens: "rbd:<pool>[/<ns>]/<image>[@snap][:conf=..][:mon_host=..:auth_supported=..][:id=..:keyring=..]".
std::string qemu_path(const Connection& c, const std::string& image, const std::string& snap);
// Where the kernel client's udev rules put a mapped image.
std::string krbd_path(const Connection& c, const std::string& image, const std::string& snap);

struct Image {
  std::string name;
  std::int64_t size = 0;
  std::string parent;   // "<image>@<snap>" of a clone, or ""
  std::int64_t vmid = 0;
};
// `rbd ls -l --format json`: images named (vm|base)-<vmid>-..., snapshots skipped.
std::vector<Image> parse_ls(std::string_view json);

struct Snapshot {
  std::string name;
  bool is_protected = false;
};
std::vector<Snapshot> parse_snap_ls(std::string_view json);

struct Info {
  std::int64_t size = 0;
  std::string parent;
  int format = 0;
  bool is_protected = false;
};
Info parse_info(std::string_view json);
// `rbd du --format json <image>`: used bytes of the image itself (not its snapshots).
std::optional<std::int64_t> parse_du(std::string_view json, std::string_view image);

// `ceph df --format json`: usage of `pool`.
struct PoolUsage {
  std::int64_t used = 0, avail = 0;
};
std::optional<PoolUsage> parse_ceph_df(std::string_view json, std::string_view pool);

}  // namespace pvx::storage::rbd
