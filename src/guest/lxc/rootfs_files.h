#pragma once
// File access inside a container's root filesystem from the host, confined to it.
//
// The rootfs belongs to the container and is hostile: any name in it may be a symlink to "/" or
// "../../..", a FIFO or a device node. Every path is resolved with openat2(2) RESOLVE_IN_ROOT
// against a descriptor of the rootfs, so symlinks (absolute ones included) resolve as they would
// inside the container and never reach a host file. Reads only open regular files; writes
// replace the final name (never through a symlink) by renaming a temporary from the same
// directory over it.
//
// One RootFs per setup run; not thread-safe; holds one descriptor.
#include <sys/stat.h>
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "base/unique_fd.h"

namespace pvx::guest::lxc {

class RootFs {
 public:
  // `owner_uid`/`owner_gid`: host ids of the container's root; new files and directories get them.
  RootFs(const std::filesystem::path& root, uid_t owner_uid, gid_t owner_gid);

  // Paths below are container paths ("/etc/hosts"); a missing leading "/" means the same.

  // The contents of a regular file (symlinks followed inside the root); nullopt when it is
  // missing or not a regular file. Throws Error 500 on read errors and files over 16 MiB.
  std::optional<std::string> read(std::string_view path) const;
  std::optional<std::string> read_first_line(std::string_view path) const;
  bool is_file(std::string_view path) const;  // a regular file, symlinks followed
  bool is_dir(std::string_view path) const;   // a directory, symlinks followed
  bool exists(std::string_view path) const;   // anything, the final symlink not followed
  bool is_symlink(std::string_view path) const;
  // stat(2) with symlinks followed inside the root.
  std::optional<struct stat> stat(std::string_view path) const;

  // PVE's opt-out: `<dir>/.pve-ignore.<name>` keeps setup away from `<dir>/<name>`.
  bool ignored(std::string_view path) const;

  // Atomically replaces `path` with `data`: an existing regular file keeps its mode and owner,
  // a new one gets `mode` and the container root's ids. A symlink at `path` is replaced, not
  // followed. Parent directories must exist. Returns false (and writes nothing) when ignored.
  bool write(std::string_view path, std::string_view data, mode_t mode = 0644);
  // mkdir -p, new directories owned by the container root.
  void make_dirs(std::string_view path, mode_t mode = 0755);
  // Removes a file or symlink (not a directory); false if it was not there or is ignored.
  bool remove(std::string_view path);
  // Creates a symlink unless something exists at `path` or it is ignored.
  bool symlink(std::string_view target, std::string_view path);

  uid_t owner_uid() const { return uid_; }
  gid_t owner_gid() const { return gid_; }

 private:
  // A descriptor for `path` (O_PATH unless `flags` say otherwise), resolved in the root; -1 with
  // errno set when it cannot be opened.
  int open_in_root(std::string_view path, int flags, bool follow_last = true) const;
  // A descriptor of the directory holding `path` (the caller owns it) and the final name.
  // Throws when the parent is missing or not a directory.
  int open_parent(std::string_view path, std::string* name) const;

  std::filesystem::path root_path_;
  UniqueFd root_;
  uid_t uid_;
  gid_t gid_;
};

}  // namespace pvx::guest::lxc
