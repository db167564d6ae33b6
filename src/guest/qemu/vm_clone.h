#pragma once
// Templates and clones, as qemu-server makes them.
//
// Template: a stopped VM without snapshots gets `template: 1` and each disk becomes a read-only
// base volume (`base-<vmid>-disk-N`, storage create_base); `disk` converts only that one.
//
// Clone (task qmclone): the new VM's config is the source's (or a snapshot's) with new MACs,
// a new smbios1 uuid (and vmgenid when set), `name` or "Copy-of-VM-<name>", no snapshots,
// pending changes or unused disks. Disks of a template are linked clones by default (storage
// clone_image: a qcow2 overlay on dir, a writable snapshot on btrfs); `full` copies every disk
// (to `storage`/`format` when given). The new id is reserved at once with `lock: clone`; on any
// failure the new volumes are freed and the config removed, so nothing half made stays.
//
// Concurrency: a template is only read (under the store lock, briefly): any number of clones
// may run from it at once. A normal VM gets `lock: clone` for the copy, as in PVE, and must be
// stopped: pvx does not copy the disks of a running VM (PVE would use drive-mirror).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "guest/guest_config.h"

namespace pvx::tasks { class TaskContext; }

namespace pvx::guest::qemu {

class VmService;

// ---- template

// API checks before the task (the config gets `template: 1` here, as PVE does before forking).
void mark_template(VmService& vms, std::int64_t vmid, const std::string& disk);
// The task: each disk (or only `disk`) becomes a base volume.
void convert_to_template(VmService& vms, std::int64_t vmid, const std::string& disk, tasks::TaskContext& task);

// ---- clone

struct CloneRequest {
  std::int64_t newid = 0;
  std::optional<std::string> name, description, pool, snapname, storage, format, target;
  std::optional<bool> full;  // default: linked for templates, full otherwise
};

// What a clone will do, decided before the task starts so that bad input is an API error.
struct ClonePlan {
  std::int64_t vmid = 0;
  bool source_is_template = false;
  bool full = false;
  GuestConfig newconf;                    // main section only; disk keys still name the sources
  std::vector<std::string> disk_keys;     // keys whose volumes are cloned or copied
  std::vector<std::string> target_storages;  // where new volumes go (for the permission check)
};

// The config of a clone: pure, for tests. `source` is the main section or a snapshot section.
// MACs are regenerated with `make_mac`, the smbios1 uuid with `make_uuid` (and vmgenid when set).
struct CloneNaming {
  std::int64_t vmid = 0;
  std::optional<std::string> name, description;
};
ConfigSection clone_config(const ConfigSection& source, const CloneNaming& naming,
                           const std::function<std::string()>& make_mac, const std::function<std::string()>& make_uuid);

ClonePlan plan_clone(VmService& vms, std::int64_t vmid, const CloneRequest& request, const std::string& node);
// `add_to_pool` (when the request names a pool) runs once the config is complete; a failure
// there undoes the clone too.
void clone_vm(VmService& vms, const ClonePlan& plan, const CloneRequest& request, tasks::TaskContext& task,
              const std::function<void()>& add_to_pool = {});


}  // namespace pvx::guest::qemu
