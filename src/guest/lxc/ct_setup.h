#pragma once
// What pvx does inside a container's root filesystem before it starts and once after it is
// created, as PVE's container "Setup" does: the distribution is detected from its files, then
// hostname, /etc/hosts, network configuration in the distribution's own format and
// /etc/resolv.conf are written; at create also root's password and SSH keys.
//
// The rootfs is hostile: every file is reached through RootFs (openat2 RESOLVE_IN_ROOT), so a
// symlink in the container can never make pvxd read or write a host file. Blocking file I/O:
// call from a task thread with the rootfs mounted and the container not yet running.
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace pvx::guest::lxc {

// One `netN` of the container config, as far as setup needs it.
struct SetupNet {
  unsigned index = 0;  // N of netN: net0 supplies the host address of /etc/hosts
  std::string name;    // interface name inside the container, e.g. "eth0"
  std::string ip;      // IPv4 CIDR, "dhcp", "manual" or "" (none)
  std::string gw;      // IPv4 gateway or ""
  std::string ip6;     // IPv6 CIDR, "dhcp", "auto", "manual" or ""
  std::string gw6;     // IPv6 gateway or ""
};

struct SetupParams {
  // PVE ostype: debian devuan ubuntu centos fedora opensuse archlinux alpine gentoo nixos
  // unmanaged. "unmanaged" skips all setup; otherwise the detected distribution decides, and
  // this value is only the fallback when detection fails.
  std::string ostype;
  std::string hostname;                  // config `hostname`, or "CT<vmid>"
  std::string searchdomain;              // config `searchdomain`; empty: the host's `search`
  std::vector<std::string> nameservers;  // config `nameserver` split; empty: the host's servers
  std::vector<SetupNet> nets;
  uid_t root_uid = 0;  // host uid of the container's root (100000 when unprivileged)
  gid_t root_gid = 0;
  // Where the host's DNS settings come from when the config has none.
  std::filesystem::path host_resolv_conf = "/etc/resolv.conf";
  std::function<void(const std::string&)> log;  // warnings for the task log; may be empty
};

// The PVE ostype of the distribution in `rootfs`: os-release ID (and PVE's aliases), then the
// distributions' marker files, then a known family named in os-release ID_LIKE. A rootfs with
// /etc but no os-release and no marker is "unmanaged", as in PVE. Throws Error 500 when
// os-release names nothing known ("unable to detect OS distribution", with a hint to set
// `ostype`) or when /etc is missing.
std::string detect_ostype(const std::filesystem::path& rootfs);

// PVE's pre-start setup: hostname, /etc/hosts, network configuration, resolv.conf.
void setup_at_start(const std::filesystem::path& rootfs, const SetupParams& params);

// PVE's post-create setup: root's password (plain text is stored as a SHA-512 crypt hash; a
// value that already is a crypt hash is stored as is; nullopt locks the password as PVE does),
// `ssh_public_keys` (may be empty) into root's authorized_keys, machine-id reset, then
// setup_at_start.
void setup_at_create(const std::filesystem::path& rootfs, const SetupParams& params,
                     const std::optional<std::string>& password, const std::string& ssh_public_keys);

}  // namespace pvx::guest::lxc
