#pragma once
// VM snapshots as PVE takes them: a `[name]` config section plus a snapshot of every disk, and
// with `vmstate` the RAM in a state volume `vm-<vmid>-state-<name>` (on `vmstatestorage`, else
// the first disk's storage). Run inside tasks (qmsnapshot, qmrollback, qmdelsnapshot); the VM
// carries `lock: snapshot` / `rollback` / `snapshot-delete` meanwhile.
//
// Disks of a running VM that are qcow2 files are snapshotted by QEMU (QMP
// blockdev-snapshot-internal-sync) because QEMU holds their write lock; other disks by their
// storage plugin. With vmstate the VM is paused, disks are snapshotted and the RAM saved at that
// same point (vm_state.h), then it continues. Rollback of such a snapshot starts the VM from the
// saved state, so it runs again afterwards.
#include <cstdint>
#include <optional>
#include <string>

namespace pvx::tasks { class TaskContext; }

namespace pvx::guest::qemu {

class VmService;

struct SnapshotRequest {
  std::string name;
  bool vmstate = false;  // ignored when the VM is not running, as in PVE
  std::optional<std::string> description;
};

// Checks the API does before starting the task: name not reserved, VM exists, not a template.
void check_snapshot_create(VmService& vms, std::int64_t vmid, const SnapshotRequest& request);
void snapshot_create(VmService& vms, std::int64_t vmid, const SnapshotRequest& request, tasks::TaskContext& task);

// `start`: start the VM afterwards (always done when the snapshot has RAM).
void check_snapshot_rollback(VmService& vms, std::int64_t vmid, const std::string& name);
void snapshot_rollback(VmService& vms, std::int64_t vmid, const std::string& name, bool start, tasks::TaskContext& task);

// `force`: drop the section even when removing a disk snapshot fails (logged as warnings).
void check_snapshot_delete(VmService& vms, std::int64_t vmid, const std::string& name);
void snapshot_delete(VmService& vms, std::int64_t vmid, const std::string& name, bool force, tasks::TaskContext& task);

}  // namespace pvx::guest::qemu
