#pragma once
// Operations on one disk of a VM: resize (task "resize"), move to another storage or format
// (task "qmmove") and the feature check behind GET /feature.
//
// Resize grows only. A running VM's disk grows through QEMU (QMP block_resize), after the
// storage grew the volume where the storage is not a plain file; a stopped VM's through the
// storage plugin. Move copies the volume (qemu-img convert or the storage's own copy) and
// switches the drive in one config write; the old volume becomes unusedN unless `delete`.
// pvx moves disks of stopped VMs only (PVE mirrors running ones with drive-mirror).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pvx::tasks { class TaskContext; }

namespace pvx::guest::qemu {

class VmService;

// "+1G", "10G", "2048M", "1.5T", "4096" (bytes) -> the new size in bytes for a volume of
// `current` bytes, rounded up to whole KiB as QEMU needs. Error 400 naming `size` for bad text
// and for shrinking ("shrinking disks is not supported").
std::int64_t resize_target(const std::string& size, std::int64_t current);

struct ResizeRequest {
  std::string disk, size, digest;
  bool skiplock = false;
};
// The checks the API runs before the task (disk exists, is no cdrom, does not shrink). Returns
// the storage of the disk (for the Datastore.AllocateSpace check).
std::string check_resize(VmService& vms, std::int64_t vmid, const ResizeRequest& request);
void resize_disk(VmService& vms, std::int64_t vmid, const ResizeRequest& request, tasks::TaskContext& task);

struct MoveDiskRequest {
  std::string disk, storage, digest;
  std::optional<std::string> format;
  bool delete_source = false;
};
void check_move_disk(VmService& vms, std::int64_t vmid, const MoveDiskRequest& request);
void move_disk(VmService& vms, std::int64_t vmid, const MoveDiskRequest& request, tasks::TaskContext& task);

struct FeatureAnswer {
  bool has = false;
  std::vector<std::string> nodes;
};
// feature: snapshot | clone | copy, of the current config or of snapshot `snapname`.
FeatureAnswer vm_feature(VmService& vms, std::int64_t vmid, const std::string& feature, const std::string& snapname);

}  // namespace pvx::guest::qemu
