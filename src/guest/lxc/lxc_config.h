#pragma once
// A container's PVE config -> the LXC config liblxc starts it with: a pure function with golden
// tests (tests/golden/lxc_config). Everything host-specific (where the root filesystem is
// mounted, where mount point volumes are, the cgroup version) comes in the input, so the output
// depends on nothing else.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "guest/guest_config.h"
#include "guest/lxc/ct_config.h"

namespace pvx::guest::lxc {

struct LxcHostFacts {
  int cgroup_version = 1;            // 1: per-controller hierarchies, 2: unified
  bool swap_accounting = true;       // v1: memory.memsw.* exists
  bool apparmor = false;             // the kernel enforces AppArmor
  std::filesystem::path share_dir = "/usr/share/lxc/config";  // common.conf, userns.conf, nesting.conf
  int host_cpus = 1;
};

// A mount point other than rootfs, with the host path bind-mounted into the container: the
// directory of a subvol volume, the mounted filesystem of an image volume, or a bind source.
struct ResolvedMount {
  MountPoint mp;
  std::string host_path;
  bool is_file = false;              // a bind-mounted file, not a directory
};

struct LxcRenderInput {
  std::int64_t vmid = 0;
  const ConfigSection* conf = nullptr;   // pending changes not applied
  std::string ostype;                    // resolved (config or detected)
  std::filesystem::path rootfs;          // the root filesystem's directory on the host
  std::vector<ResolvedMount> mounts;     // in mount order (parents before children)
  std::filesystem::path log_file;        // liblxc's log of this container
  LxcHostFacts host;
};

// PVE's unprivileged id map: container ids 0..65535 are host ids 100000..165535.
inline constexpr std::uint32_t kUnprivilegedIdBase = 100000;
inline constexpr std::uint32_t kUnprivilegedIdCount = 65536;

// Throws Error 500 for configs that cannot start (an unknown net type, dev passthrough).
std::string render_lxc_config(const LxcRenderInput& input);

}  // namespace pvx::guest::lxc
