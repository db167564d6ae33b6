#pragma once
// Unpacking an OS template (a tarball of a root filesystem, any compression libarchive reads)
// into a new container's root filesystem.
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>

namespace pvx::storage { class StorageService; }

namespace pvx::guest::lxc {

// The file of `ostemplate` (a vztmpl or backup volume id; an absolute path for root): Error 400
// naming `ostemplate` when it is not a template or does not exist.
std::filesystem::path template_path(storage::StorageService& storage, const std::string& ostemplate);

struct ExtractOptions {
  uid_t id_shift = 0;                 // added to every owner (100000 for unprivileged containers)
  bool ignore_errors = false;         // PVE's ignore-unpack-errors: report entries, go on
  std::function<void(const std::string&)> log;  // task log lines
};

// Entries are confined to `rootfs`: absolute names are taken as relative, ".." is refused and
// nothing is written through a symlink the archive created. Device nodes are skipped for
// shifted (unprivileged) containers, as PVE does. Returns the number of entries written; throws
// Error 500 naming the template on a damaged archive.
std::size_t extract_template(const std::filesystem::path& tarball, const std::filesystem::path& rootfs,
                             const ExtractOptions& options = {});

}  // namespace pvx::guest::lxc
