#include "storage/image_dir_cache.h"

#include <linux/magic.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>

namespace pvx::storage {
namespace {

constexpr std::size_t kMaxDirs = 16384;  // beyond this, listings scan (watches are a kernel resource)
constexpr std::uint32_t kEvents = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY | IN_ATTRIB |
                                  IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

}  // namespace

ImageDirCache& ImageDirCache::instance() {
  static ImageDirCache cache;
  return cache;
}

ImageDirCache::ImageDirCache() { fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC); }

ImageDirCache::~ImageDirCache() {
  if (fd_ >= 0) ::close(fd_);
}

bool ImageDirCache::cacheable(const std::filesystem::path& path) {
  struct statfs st {};
  if (::statfs(path.c_str(), &st) != 0) return false;
  switch (static_cast<unsigned long>(st.f_type)) {
    case EXT4_SUPER_MAGIC:  // also ext2 and ext3
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case TMPFS_MAGIC:
    case F2FS_SUPER_MAGIC:
      return true;
    default:
      return false;
  }
}

void ImageDirCache::drain_events_locked() {
  alignas(inotify_event) char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;  // EAGAIN: nothing pending
    }
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        // Events were lost: trust nothing cached.
        for (auto& [path, e] : by_path_) {
          ++e.generation;
          e.volumes.clear();
        }
        continue;
      }
      auto it = by_wd_.find(ev->wd);
      if (it == by_wd_.end()) continue;
      if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
        // The directory is gone or moved: forget it entirely (a new one gets a new watch).
        if (!(ev->mask & IN_IGNORED)) ::inotify_rm_watch(fd_, ev->wd);
        by_path_.erase(it->second);
        by_wd_.erase(it);
        continue;
      }
      auto& e = by_path_[it->second];
      ++e.generation;
      e.volumes.clear();
    }
  }
}

std::vector<VolumeInfo> ImageDirCache::get(const std::string& owner, const std::filesystem::path& dir,
                                           const std::function<std::vector<VolumeInfo>()>& scan) {
  const std::string key = dir.string();
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mutex_);
    if (fd_ < 0) return scan();
    drain_events_locked();
    auto it = by_path_.find(key);
    if (it != by_path_.end()) {
      if (auto v = it->second.volumes.find(owner); v != it->second.volumes.end()) return v->second;
    }
    if (it == by_path_.end()) {
      if (by_path_.size() >= kMaxDirs) return scan();
      // Watch first, then scan: a change during the scan then invalidates what it found.
      int wd = ::inotify_add_watch(fd_, key.c_str(), kEvents);
      if (wd < 0) return scan();
      if (auto old = by_wd_.find(wd); old != by_wd_.end() && old->second != key) by_path_.erase(old->second);
      by_wd_[wd] = key;
      it = by_path_.emplace(key, Entry{.wd = wd}).first;
    }
    generation = it->second.generation;
  }
  auto volumes = scan();
  std::lock_guard lock(mutex_);
  drain_events_locked();
  auto it = by_path_.find(key);
  if (it != by_path_.end() && it->second.generation == generation) it->second.volumes[owner] = volumes;
  return volumes;
}

std::size_t ImageDirCache::size() const {
  std::lock_guard lock(mutex_);
  return by_path_.size();
}

}  // namespace pvx::storage
