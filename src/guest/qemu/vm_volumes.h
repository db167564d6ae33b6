#pragma once
// The disks of a VM config section as snapshots, templates, clones and disk moves see them:
// every drive except CD-ROMs and the cloud-init drive, and what the storage can do with each.
// Shared by vm_snapshot, vm_clone and vm_disk_ops.
#include <cstdint>
#include <string>
#include <vector>

#include "guest/guest_config.h"
#include "guest/qemu/drive.h"
#include "storage/storage_plugin.h"

namespace pvx::storage { class StorageService; }

namespace pvx::guest::qemu {

// Drives holding a disk (not cdrom/none, not cloud-init), in PVE's bus order.
std::vector<Drive> disk_drives(const ConfigSection& section);
// Their volume ids (absolute paths left out).
std::vector<std::string> disk_volumes(const ConfigSection& section);
// "<storage>:<volname>" (not an absolute path).
bool is_storage_volume(const std::string& file);

// PVE's has_feature over a section: every disk's storage supports `feature` (on `snapname`
// when given). Disks given as absolute paths support nothing.
bool section_has_feature(storage::StorageService& storage, const ConfigSection& section, storage::Feature feature,
                         const std::string& snapname = {});

// The QMP device of a drive key, as cfg2cmd names it ("drive-scsi0").
std::string qmp_drive_id(const std::string& key);

// PVE's do_snapshots_with_qemu: a qcow2 file that a running QEMU holds open must be snapshotted
// through QEMU (qemu-img cannot take its write lock); everything else goes to the storage plugin.
bool snapshot_through_qemu(storage::StorageService& storage, const std::string& volid);

// "feature" parameter words: snapshot, clone, copy (+ template for internal use).
storage::Feature feature_from_name(const std::string& name);

}  // namespace pvx::guest::qemu
