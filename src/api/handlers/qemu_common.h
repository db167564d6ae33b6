#pragma once
// What the VM handlers (qemu_*.cc) share: the VM service of the request, PVE's permission
// checks of config keys (check_vm_modify_config_perm, check_storage_access), the skiplock rule
// and spawning a VM task.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/handlers/common.h"

#include "guest/guest_config.h"

namespace pvx::guest::qemu {
class VmService;
struct VmRuntime;
struct LoadedConfig;
}
namespace pvx::tasks { class TaskContext; }
namespace pvx::auth { class AuthService; }

namespace pvx::api::handlers {

// The service; Error 501 when pvxd runs without VM support.
guest::qemu::VmService& vm_service(RequestContext& ctx);

// skiplock is root@pam's alone: 400 naming it otherwise ("Only root may use this option.").
void check_skiplock(RequestContext& ctx);

// PVE's check_vm_modify_config_perm: the privilege group each key needs on /vms/<vmid>
// (VM.Config.CPU, .Memory, .HWType, .Options, .Disk, .Network, .Cloudinit, VM.PowerMgmt),
// "only root can set '<key>' config" for keys outside the groups (args, lock, ...). Drive,
// cdrom, unused, serial, usb and hostpci keys are value-dependent: see check_drive_access.
void check_vm_modify_config_perm(RequestContext& ctx, std::int64_t vmid, const std::vector<std::string>& keys);

// PVE's check_storage_access for one drive value: VM.Config.Disk (VM.Config.CDROM for CD-ROMs),
// Datastore.AllocateSpace on the storage of a new disk, read access to an existing volume that
// is not the VM's own, root for absolute paths. serialN/usbN/hostpciN need root (no mappings yet).
void check_drive_access(RequestContext& ctx, std::int64_t vmid, const std::string& key, const std::string& value);

// Every check of a set of keys and values (create and config changes), deletions included.
void check_config_change_perm(RequestContext& ctx, std::int64_t vmid,
                              const std::vector<std::pair<std::string, std::string>>& set,
                              const std::vector<std::string>& deleted);

// Pools: 400 naming `pool` when it does not exist; adding moves the VM out of any other pool.
void check_pool_exists(RequestContext& ctx, const std::string& pool);
void add_vm_to_pool(RequestContext& ctx, const std::string& pool, std::int64_t vmid);

// Create's permission, for VMs and containers: VM.Allocate on the pool (which must exist) when
// one is given, else on /vms/<vmid>.
void check_guest_allocate(RequestContext& ctx, std::int64_t vmid, const std::optional<std::string>& pool);

// stop's `overrule-shutdown`: running tasks of `type` ("qmshutdown", "vzshutdown") on the guest
// are stopped and awaited (10 s), so their lock is free.
void overrule_shutdown_tasks(RequestContext& ctx, std::int64_t vmid, const std::string& type);

// GET .../snapshot: each snapshot (name, snaptime, description, parent; `vmstate` for VMs,
// `snapstate` while unfinished), then "current" with the digest and whether the guest runs.
Json snapshot_list_json(const guest::GuestConfig& config, const std::string& digest, bool running, bool with_vmstate);

// PVE's remove_vm_access after a destroy: the VM leaves its pool and the ACL entries of
// /vms/<vmid> go.
void remove_vm_access(auth::AuthService& auth, std::int64_t vmid);

// A task on a VM: type ("qmstart"), id = the vmid, the caller as user.
std::string spawn_vm_task(RequestContext& ctx, const std::string& type, std::int64_t vmid,
                          std::function<void(tasks::TaskContext&)> fn);

// The VMs of this node the caller may audit (VM.Audit), each with its listing entry: what
// GET /nodes/{node}/qemu and /cluster/resources show (`qmpstatus` only when asked, as `full`
// does). No QMP; /proc only for running VMs.
std::vector<std::pair<std::int64_t, Json>> auditable_vm_entries(RequestContext& ctx, guest::qemu::VmService& svc,
                                                                bool with_qmpstatus);

// One VM as listings and /status/current show it (PVE's vmstatus): config figures plus what
// /proc and /sys say; `blockstats` adds QMP's disk counters (one VM, not listings).
Json vm_status_entry(guest::qemu::VmService& svc, std::int64_t vmid, const guest::qemu::LoadedConfig& loaded,
                     const guest::qemu::VmRuntime& rt, bool blockstats);

// The status and config methods of /nodes/{node}/qemu/{vmid} (qemu_status.cc, qemu_config.cc),
// registered by register_qemu_vms.
void register_qemu_status(Router& r);
void register_qemu_config(Router& r);

}  // namespace pvx::api::handlers
