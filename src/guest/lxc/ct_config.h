#pragma once
// What a container config's structured keys mean: mount points (rootfs, mpN), NICs (netN) and
// `features`, parsed with the declared formats (ct_schema) plus pve-container's own rules on top
// (mount point kinds, path checks, new-volume syntax).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guest/guest_config.h"
#include "schema/schema.h"

namespace pvx::guest::lxc {

// PVE's classification of a mount point's `volume`.
enum class MountKind {
  Volume,  // a storage volume ("local:100/vm-100-disk-0.raw", "local:subvol-100-disk-0.subvol")
  Bind,    // an absolute host directory or file
  Device,  // an absolute /dev path (a block device mounted as a filesystem)
};

struct MountPoint {
  std::string key;                 // "rootfs", "mp0"
  std::string volume;
  std::string path;                // in the container: "/" for rootfs
  MountKind kind = MountKind::Volume;
  std::optional<std::int64_t> size;  // bytes, when given
  bool ro = false;
  bool backup = false;             // rootfs is always backed up
  std::optional<bool> acl;
  bool quota = false;
  bool replicate = true;
  bool shared = false;
  std::string mountoptions;        // "noatime;nodev"
  schema::Json props;              // every key as parsed, to print back unchanged

  // "STORAGE:SIZE_GiB" (create and new mount points): allocate a new volume of that size.
  bool is_new_volume() const;
  std::string new_volume_storage() const;   // "local" of "local:8"
  double new_volume_gib() const;            // 8 of "local:8"; 0 means a directory (subvol)
};

bool is_mount_key(std::string_view key);  // rootfs, mp0..255
// Throws Error 400 naming `key` (format, ".." in paths, a relative bind source, ...).
MountPoint parse_mount_point(std::string_view key, std::string_view value);
std::string print_mount_point(const MountPoint& mp);
// rootfs first, then mp0.. by index; unusedN are not mount points.
std::vector<MountPoint> mount_points(const ConfigSection& conf);
// The mount options PVE allows ("noatime", "lazytime", "nodev", "noexec", "nosuid", "discard").
void check_mount_options(const std::string& key, const std::string& options);

struct CtNet {
  std::string key;                 // "net0"
  int index = 0;
  std::string name;                // in the container: "eth0"
  std::string bridge;
  std::string hwaddr;              // upper case; empty = generate
  std::string ip, gw, ip6, gw6;    // ip: CIDR | dhcp | manual; ip6 also auto
  std::optional<int> tag;
  std::string trunks;
  std::optional<double> rate;      // MB/s
  std::optional<int> mtu;
  bool firewall = false;
  bool link_down = false;
  std::string type = "veth";
  schema::Json props;
};

bool is_net_key(std::string_view key);  // net0..31
CtNet parse_ct_net(std::string_view key, std::string_view value);  // Error 400 naming `key`
std::string print_ct_net(const CtNet& net);
std::vector<CtNet> ct_nets(const ConfigSection& conf);
// The host side of a NIC: "veth<vmid>i<index>".
std::string veth_name(std::int64_t vmid, int index);

struct CtFeatures {
  bool nesting = false, keyctl = false, fuse = false, mknod = false, force_rw_sys = false;
  std::vector<std::string> mount;  // filesystem types: "nfs", "cifs"
};
CtFeatures parse_features(const ConfigSection& conf);

// Figures of the config with PVE's defaults.
std::int64_t ct_memory_mib(const ConfigSection& conf);  // default 512
std::int64_t ct_swap_mib(const ConfigSection& conf);    // default 512
std::string ct_hostname(const ConfigSection& conf, std::int64_t vmid);  // "CT<vmid>" when unset
bool ct_unprivileged(const ConfigSection& conf);
std::vector<std::string> ct_nameservers(const ConfigSection& conf);

}  // namespace pvx::guest::lxc
