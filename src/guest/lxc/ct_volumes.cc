#include "guest/lxc/ct_volumes.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <chrono>
#include <fstream>
#include <thread>

#include "base/error.h"
#include "base/process.h"
#include "base/unique_fd.h"
#include "storage/storage_service.h"

namespace pvx::guest::lxc {

namespace fs = std::filesystem;

namespace {

// Binds a free loop device to `file` (autoclear: it frees itself when the last mount goes).
// LOOP_CONFIGURE sets file, flags and direct I/O in one call; GET_FREE races with other
// processes, so a device taken meanwhile (EBUSY) is retried. Returns the device and sets
// `held` to its open descriptor: it must stay open until the mount holds the device, or
// autoclear detaches it at once.
std::string attach_loop(const std::string& file, bool ro, UniqueFd& held) {
  UniqueFd backing(::open(file.c_str(), (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (backing.fd < 0) throw Error("cannot open image '" + file + "': " + std::strerror(errno), 500);
  UniqueFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (control.fd < 0) throw Error(std::string("cannot open /dev/loop-control: ") + std::strerror(errno), 500);
  for (int attempt = 0; attempt < 20; ++attempt) {
    int n = ::ioctl(control.fd, LOOP_CTL_GET_FREE);
    if (n < 0) throw Error(std::string("no free loop device: ") + std::strerror(errno), 500);
    std::string dev = "/dev/loop" + std::to_string(n);
    UniqueFd loop(::open(dev.c_str(), (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (loop.fd < 0) continue;
    loop_config cfg{};
    cfg.fd = static_cast<__u32>(backing.fd);
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (ro ? LO_FLAGS_READ_ONLY : 0);
    std::strncpy(reinterpret_cast<char*>(cfg.info.lo_file_name), file.c_str(), LO_NAME_SIZE - 1);
    if (::ioctl(loop.fd, LOOP_CONFIGURE, &cfg) == 0) {
      held.reset();
      held.fd = loop.release();
      return dev;
    }
    if (errno != EBUSY) throw Error("cannot set up " + dev + " for '" + file + "': " + std::strerror(errno), 500);
  }
  throw Error("no free loop device for '" + file + "'", 500);
}

// A filesystem still held by the mount namespace of a container that just stopped (its monitor
// tears it down a moment after the stop) cannot be mounted again yet: retried for a while.
void mount_filesystem(const std::string& source, const fs::path& target, bool ro, const std::string& what) {
  fs::create_directories(target);
  const unsigned long flags = ro ? MS_RDONLY : 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    std::string last;
    int last_errno = 0;
    for (const char* type : {"ext4", "xfs", "btrfs"}) {
      if (::mount(source.c_str(), target.c_str(), type, flags, nullptr) == 0) return;
      last_errno = errno;
      last = std::strerror(errno);
    }
    const bool busy = last_errno == EINVAL || last_errno == EBUSY;
    if (!busy || std::chrono::steady_clock::now() > deadline) throw Error("cannot mount " + what + ": " + last, 500);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

bool is_mounted(const fs::path& dir) {
  struct stat self {}, parent {};
  if (::lstat(dir.c_str(), &self) != 0 || !S_ISDIR(self.st_mode)) return false;
  if (::lstat((dir / "..").c_str(), &parent) != 0) return false;
  if (self.st_dev != parent.st_dev) return true;
  // Bind mounts of the same filesystem keep st_dev: ask the kernel's mount table.
  std::ifstream in("/proc/self/mountinfo");
  const std::string want = fs::weakly_canonical(dir).string();
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint ...
    std::size_t pos = 0;
    for (int field = 0; field < 4 && pos != std::string::npos; ++field) pos = line.find(' ', pos + 1);
    if (pos == std::string::npos) continue;
    std::size_t end = line.find(' ', pos + 1);
    if (line.substr(pos + 1, end - pos - 1) == want) return true;
  }
  return false;
}

void make_ct_filesystem(const std::string& path, uid_t root_uid, gid_t root_gid) {
  run_command({"mkfs.ext4", "-q", "-F", "-O", "mmp", "-E",
               "root_owner=" + std::to_string(root_uid) + ":" + std::to_string(root_gid), path});
}

std::string alloc_ct_volume(storage::StorageService& storage, const std::string& param, const std::string& sid,
                            std::int64_t vmid, double gib, uid_t root_uid, gid_t root_gid) {
  auto def = storage.get(sid);
  if (!def.content().count("rootdir")) {
    throw Error::param(param, "storage '" + sid + "' does not support container directories");
  }
  storage.activate(def);
  const auto& plugin = storage.plugin(def);
  const auto& formats = plugin.info().formats;
  const bool has_subvol = std::find(formats.begin(), formats.end(), "subvol") != formats.end();
  const bool has_raw = std::find(formats.begin(), formats.end(), "raw") != formats.end();
  const std::int64_t kib = static_cast<std::int64_t>(std::llround(gib * 1024 * 1024));
  // zfs holds container volumes as subvolumes even with a size (a quota there), btrfs only with
  // quotas enabled; plain directories only when no size is asked for.
  const bool native_subvol = def.type == "zfspool" || (def.type == "btrfs" && def.flag("quotas"));
  if (has_subvol && (kib == 0 || native_subvol)) {
    std::string volname = plugin.alloc_image(def, vmid, "subvol", "", kib);
    std::string path = plugin.path(def, volname);
    if (::chown(path.c_str(), root_uid, root_gid) != 0) {
      plugin.free_image(def, volname);
      throw Error("cannot set the owner of '" + path + "': " + std::strerror(errno), 500);
    }
    return sid + ":" + volname;
  }
  if (kib == 0) throw Error::param(param, "storage '" + sid + "' cannot hold a volume of size 0 (a directory)");
  if (!has_raw) throw Error::param(param, "storage '" + sid + "' has no raw volumes for a container");
  std::string volname = plugin.alloc_image(def, vmid, "raw", "", kib);
  try {
    plugin.activate_volume(def, volname);
    make_ct_filesystem(plugin.path(def, volname), root_uid, root_gid);
  } catch (...) {
    plugin.free_image(def, volname);
    throw;
  }
  return sid + ":" + volname;
}

MountedVolume attach_ct_volume(storage::StorageService& storage, const MountPoint& mp, const fs::path& mount_dir) {
  MountedVolume out;
  if (mp.kind == MountKind::Bind) {
    struct stat st {};
    if (::stat(mp.volume.c_str(), &st) != 0) {
      throw Error(mp.key + ": bind mount source '" + mp.volume + "' does not exist", 500);
    }
    out.dir = mp.volume;
    out.is_file = !S_ISDIR(st.st_mode);
    return out;
  }
  if (mp.kind == MountKind::Device) {
    mount_filesystem(mp.volume, mount_dir, mp.ro, mp.key + " (" + mp.volume + ")");
    out.dir = mount_dir;
    out.mounted = true;
    return out;
  }
  auto r = storage.resolve(mp.volume, mp.key);
  auto vn = r.plugin->parse_volname(r.def, r.volname);
  storage.activate(r.def);
  std::string path = r.plugin->path(r.def, r.volname);
  if (vn.format == "subvol") {
    if (!fs::is_directory(path)) throw Error(mp.key + ": volume '" + mp.volume + "' does not exist", 500);
    out.dir = path;
    return out;
  }
  r.plugin->activate_volume(r.def, r.volname);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error(mp.key + ": volume '" + mp.volume + "' does not exist", 500);
  if (S_ISBLK(st.st_mode)) {
    mount_filesystem(path, mount_dir, mp.ro, mp.key + " (" + mp.volume + ")");
  } else {
    UniqueFd held;
    std::string dev = attach_loop(path, mp.ro, held);
    mount_filesystem(dev, mount_dir, mp.ro, mp.key + " (" + mp.volume + ")");  // on failure, closing `held` frees it
  }
  out.dir = mount_dir;
  out.mounted = true;
  return out;
}

void unmount_ct_volume(const fs::path& dir) {
  for (int i = 0; i < 8 && is_mounted(dir); ++i) {
    if (::umount2(dir.c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
      throw Error("cannot unmount '" + dir.string() + "': " + std::strerror(errno), 500);
    }
  }
}

}  // namespace pvx::guest::lxc
