#pragma once
// What PVE does to a VM config on POST/PUT /config and when pending changes are applied, as pure
// functions on GuestConfig (qemu-server's update_vm_api, vmconfig_apply_pending and the fast-plug
// part of vmconfig_hotplug_pending). No storage, process or permission work happens here: the
// functions say which volumes to free, and the caller (VmService) does it.
//
// The flow of a config update, as the caller runs it:
//   1. changes = parse_config_changes(params)            before locking: shape errors are 400s
//   2. new disks ("local:32", see drive.h parse_new_disk) are allocated and their values in
//      changes.set replaced by the allocated volume ("local:100/vm-100-disk-1.qcow2,size=32G");
//      a cipassword is hashed (cloudinit.h hash_cipassword) unless the guest is Windows
//   3. under the config lock: check_not_locked (unless skiplock), digest compared, then
//      result = stage_changes(config, changes)          everything lands in [PENDING]
//   4. volumes in result.volumes_to_free are freed (an error aborts before the write), the config
//      is written
//   5. stopped VM: apply_pending(config, vmid) and free what it returns, write again;
//      running VM: apply_fast_plug(config), then hot-plug what is_hotpluggable allows (VmService).
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "guest/guest_config.h"
#include "schema/schema.h"

namespace pvx::guest::qemu {

struct ConfigChanges {
  std::map<std::string, std::string> set;  // key -> value as stored (booleans "1"/"0")
  std::vector<std::string> deletes;        // in request order, "cdrom" already mapped to "ide2"
  std::vector<std::string> revert;
  bool force = false;                      // forced delete: drives' volumes are destroyed
  std::string digest;
};

// From API parameters that schema::validate_params already checked (every VM key, "delete",
// "revert", "force", "digest"; other method parameters such as node/vmid/skiplock are ignored).
// Does what PVE does before taking the lock: cdrom -> ide2, netN without a MAC get one (from
// `mac_prefix`), vmgenid "1" becomes a new UUID, cpuunits is clamped to cgroup v2's 1..10000.
// Throws Error 400 naming the parameter, with PVE's words:
//   {"delete": "you can't use '-<k>' and -delete <k>' at the same time"}
//   {"revert": "you can't use '-delete <k>' and -revert <k>' at the same time"}
//   {"delete"|"revert": "unknown option '<k>'"}
// and Error 500 "no options specified" when there is nothing to do.
ConfigChanges parse_config_changes(const schema::Json& params, const std::string& mac_prefix = "BC:24:11");

struct StageResult {
  std::vector<std::string> volumes_to_free;  // unusedN/vmstate deletes: destroy these volumes
  std::vector<std::string> warnings;         // "cannot delete 'x' - not set in current configuration!"
  std::set<std::string> modified;            // keys the request touched (for hot-plug selection)
};

// Writes `changes` into the pending section as PVE's update_vm_api does (the lock/digest checks are
// the caller's). Per key:
//  - values are checked with check_vm_value (400 naming the key); a pending value equal to the
//    new one is left alone; setting a key drops its pending delete;
//  - "description" becomes the pending description; "cipassword" goes straight to the main section;
//    "tags" are deduplicated, lower-cased and sorted (PVE's default tag style);
//  - a drive replacing a pending drive turns the pending one's volume into unusedN (unless cdrom,
//    cloud-init or owned by another VM); a new cdrom drive is appended to the boot order;
//    `boot: order=..` must name existing devices (500 "invalid bootorder: device 'x' does not
//    exist'") and schedules deleting a legacy `bootdisk`;
//  - `memory`/`balloon`: 500 "balloon value too large (must be smaller than assigned memory)";
//  - deletes: "unusedN" and "vmstate" are removed from the main section at once and their volumes
//    returned for freeing (500 "can't remove unused disk '<vol>' - protection mode enabled", and
//    "unable to delete '<vol>' - volume is still in use (snapshot?)" when a snapshot uses it);
//    deleting a vmstate of a suspended VM also drops lock, runningmachine, runningcpu;
//    "tags" is deleted at once; drives (protected VMs: 500 "can't remove drive '<k>' -
//    protection mode enabled") and everything else are queued in pending_delete with
//    `changes.force`; a deleted device leaves the boot order;
//  - reverts drop the key's pending value and pending delete;
//  - finally pending values equal to the main value, and deletes of keys the main section does not
//    have, are dropped (PVE's cleanup_pending).
// `vmid` (0: unknown) decides volume ownership ("vm-<vmid>-..." names).
StageResult stage_changes(GuestConfig& config, const ConfigChanges& changes, std::int64_t vmid = 0);

struct ApplyInfo {
  bool cloudinit_changed = false;              // a cloud-init drive was added or changed: regenerate
  std::map<std::string, std::string> errors;   // key -> "unable to apply pending change <k> : <msg>"
};
// A stopped VM's pending changes become its config (vmconfig_apply_pending): deletes first (a
// deleted disk becomes unusedN, a force-deleted one is destroyed; a cloud-init drive is always
// destroyed), then pending values (a replaced disk's old volume becomes unusedN). Returns the volume
// ids to free. Disks of other VMs and paths are never freed or registered as unused.
std::vector<std::string> apply_pending(GuestConfig& config, std::int64_t vmid = 0, ApplyInfo* info = nullptr);

// Options a running VM takes at once, with no device change: description, hookscript, lock,
// migrate_downtime, migrate_speed, name, onboot, protection, shares, startup, tags,
// vmstatestorage and the cloud-init keys (PVE's fast-plug options).
bool is_fast_plug(std::string_view key);
// Moves the pending fast-plug values and deletes into the main section; returns the keys applied.
std::vector<std::string> apply_fast_plug(GuestConfig& config);
// The `hotplug` features of a config ("network,disk,usb" by default, "1" = default, "0" = none).
std::set<std::string> hotplug_features(const ConfigSection& main);
// Whether a pending change of `key` can be applied to the running VM described by `main`: fast
// plug options, balloon/cpulimit/cpuunits/agent, netN with "network", scsiN/virtioN with "disk"
// (not ide/sata/efidisk/tpmstate), usbN/tablet with "usb", vcpus with "cpu", memory with "memory",
// and `hotplug` itself unless cpu or memory hot-plug is involved.
bool is_hotpluggable(std::string_view key, const ConfigSection& main);

// GET /config: the main section with pending changes applied (current=false) or as it is
// (current=true), typed by vm_value_json, the description, `digest`, and cipassword masked as
// "**********". Snapshot and special sections are not part of it.
schema::Json config_json(const GuestConfig& config, bool current, const std::string& digest);
// GET /config?snapshot=<name>: the snapshot's keys, its description and the file's digest.
schema::Json snapshot_config_json(const ConfigSection& snapshot, const std::string& digest);
// GET /pending: [{key, value?, pending?, delete?}] sorted by key: `value` is the main value,
// `pending` the pending one, `delete` 1 (or 2 when forced) for a pending delete. The digest is
// one of the entries (as PVE lists every key of the loaded config). cipassword values are masked
// ("**********"; the pending one, as PVE, with a trailing blank).
schema::Json pending_json(const GuestConfig& config, const std::string& digest);

// "order=scsi0;net0" -> {"scsi0", "net0"}; empty for legacy or missing boot settings.
std::vector<std::string> boot_order(const ConfigSection& section);

}  // namespace pvx::guest::qemu
