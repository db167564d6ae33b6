#pragma once
// Remembers the volumes found in image directories (images/<vmid>) of local filesystems and
// forgets a directory as soon as the kernel reports any change in it, so that a listing of
// 10 000 volumes costs one stat() per changed file instead of one per file.
//
// Changes are read from an inotify descriptor at the start of every lookup (the kernel queues
// an event inside the syscall that made the change), so a listing always sees every change made
// before it began: no background thread, no window of staleness. Only filesystems whose changes
// all pass through this kernel qualify (ext4, xfs, btrfs, tmpfs, ...); network filesystems,
// FUSE and storages marked shared are never cached. Thread-safe.
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/storage_plugin.h"

namespace pvx::storage {

class ImageDirCache {
 public:
  static ImageDirCache& instance();

  ImageDirCache();
  ~ImageDirCache();
  ImageDirCache(const ImageDirCache&) = delete;
  ImageDirCache& operator=(const ImageDirCache&) = delete;

  // The entries of `dir` as listed for `owner` (entries carry the storage id, so two storages on
  // one directory are kept apart): cached ones while unchanged, else scan() (whose result is kept).
  std::vector<VolumeInfo> get(const std::string& owner, const std::filesystem::path& dir,
                              const std::function<std::vector<VolumeInfo>()>& scan);

  // Whether the filesystem holding `path` reports every change to this kernel.
  static bool cacheable(const std::filesystem::path& path);

  std::size_t size() const;  // directories cached (tests)

 private:
  // One watched directory; its listings per owner (storage id).
  struct Entry {
    int wd = -1;
    std::uint64_t generation = 0;
    std::unordered_map<std::string, std::vector<VolumeInfo>> volumes;
  };
  void drain_events_locked();

  mutable std::mutex mutex_;
  int fd_ = -1;
  std::unordered_map<std::string, Entry> by_path_;
  std::unordered_map<int, std::string> by_wd_;
};

}  // namespace pvx::storage
