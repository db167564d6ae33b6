#pragma once
// Where a VM's cloud-init image lives and how it is (re)made: the drive whose volume is
// `vm-<vmid>-cloudinit[.<fmt>]` (PVE's naming: `local:100/vm-100-cloudinit.qcow2` on path-based
// storages, `vm-100-cloudinit` on block storages), allocated with 4 MiB, and filled with the ISO
// that cloudinit.h generates. Called by VmService at start (before QEMU runs) and by
// PUT /cloudinit; both hold the config lock and save the config when it changed.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "guest/guest_config.h"
#include "guest/qemu/cloudinit.h"
#include "guest/qemu/drive.h"
#include "guest/qemu/vm_paths.h"

namespace pvx::storage { class StorageService; }

namespace pvx::guest::qemu {

inline constexpr std::int64_t kCloudInitDiskSize = 4 * 1024 * 1024;  // bytes, as PVE allocates

// The config's cloud-init drive (the first in PVE's bus order), if any.
std::optional<Drive> find_cloudinit_drive(const ConfigSection& conf);

// PVE's create-time allocation for `<storage>:cloudinit`: `vm-<vmid>-cloudinit.<fmt>` (qcow2
// unless `format` says otherwise) on storages with a path, `vm-<vmid>-cloudinit` (raw) elsewhere.
// Returns the volume id. Error 500 "<key> - cloud-init drive is already attached at '<other>'"
// is the caller's check (it knows the pending section too).
std::string alloc_cloudinit_volume(storage::StorageService& storage, std::int64_t vmid, const std::string& storeid,
                                   const std::string& format = {});

// Reads `cicustom` snippets: the volume must be of content type snippets on a file storage
// ("<volid> is not in the snippets directory" otherwise); at most 1 MiB is read.
SnippetReader storage_snippet_reader(storage::StorageService& storage);

struct CloudInitImage {
  std::string drive_key;   // "ide2"
  std::string volid;       // what the drive now names (allocated when it was "<storage>:cloudinit")
  std::string path;        // what QEMU opens
  std::string format;      // raw | qcow2 ...
  // The same image as a plain ISO file (VmPaths::cloudinit_iso, or `path` when that is one):
  // what a raw-only cdrom attachment opens when the volume is qcow2.
  std::string iso;
  bool config_changed = false;  // [special:cloudinit] cleared or the drive's volume changed: save the config
};

// Regenerates the image of the config's cloud-init drive from the main section: allocates the
// volume when it does not exist, builds the ISO in the run directory (VmPaths::cloudinit_iso,
// left there) and writes it into the volume with `qemu-img convert -n` (works for every format
// and for block devices). Clears [special:cloudinit] in `config`. nullopt when there is no cloud-init
// drive. `log` gets PVE's task line ("generating cloud-init ISO").
std::optional<CloudInitImage> apply_cloudinit(storage::StorageService& storage, const VmPaths& paths,
                                              std::int64_t vmid, GuestConfig& config,
                                              const std::function<void(const std::string&)>& log = {},
                                              const std::optional<HostDns>& host_dns = std::nullopt);

}  // namespace pvx::guest::qemu
