#pragma once
// Container volumes on the host: allocating one the way pve-container does (a directory
// "subvol" where the storage can hold one and no size is asked for or the storage has native
// subvolumes; otherwise a raw image formatted ext4), and making a mount point's filesystem
// reachable as a host directory for liblxc (directories as they are, images loop-mounted).
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "guest/lxc/ct_config.h"

namespace pvx::storage { class StorageService; }

namespace pvx::guest::lxc {

// "local:8" -> a new volume of 8 GiB for `vmid` on storage `sid`; returns the volid. The new
// filesystem's root directory belongs to `root_uid`/`root_gid` (the container's root). Error 400
// naming `param` when the storage does not hold container volumes ("rootdir" content).
std::string alloc_ct_volume(storage::StorageService& storage, const std::string& param, const std::string& sid,
                            std::int64_t vmid, double gib, uid_t root_uid, gid_t root_gid);

// Where a mount point's files are on the host. `mount_dir` is used for images (loop-mounted
// there; the caller unmounts with unmount_ct_volume). Bind sources are checked to exist (Error
// 500 naming the key otherwise). Device mount points are mounted at `mount_dir` too.
struct MountedVolume {
  std::filesystem::path dir;    // the filesystem's root directory on the host
  bool mounted = false;         // a mount we made (loop image or device)
  bool is_file = false;         // a bind-mounted file
};
MountedVolume attach_ct_volume(storage::StorageService& storage, const MountPoint& mp,
                               const std::filesystem::path& mount_dir);
// Lazily unmounts `dir` if something is mounted there (loop devices free themselves).
void unmount_ct_volume(const std::filesystem::path& dir);
// Whether `dir` is a mount point.
bool is_mounted(const std::filesystem::path& dir);

// Formats a raw image or device as ext4 with its root directory owned by uid:gid.
void make_ct_filesystem(const std::string& path, uid_t root_uid, gid_t root_gid);

}  // namespace pvx::guest::lxc
