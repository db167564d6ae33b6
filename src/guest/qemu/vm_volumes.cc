// Disks of a VM config section and what their storages support (see vm_volumes.h).
#include "guest/qemu/vm_volumes.h"

#include "base/error.h"
#include "storage/storage_service.h"

namespace pvx::guest::qemu {

std::vector<Drive> disk_drives(const ConfigSection& section) {
  std::vector<Drive> out;
  for (const auto& key : all_drive_keys()) {
    auto value = section.get(key);
    if (!value) continue;
    auto drive = try_parse_drive(key, *value);
    if (!drive || drive->is_cdrom() || drive->is_cloudinit()) continue;
    if (drive->file.empty() || drive->file == "none") continue;
    out.push_back(std::move(*drive));
  }
  return out;
}

bool is_storage_volume(const std::string& file) {
  return !file.empty() && file.front() != '/' && file.find(':') != std::string::npos;
}

std::vector<std::string> disk_volumes(const ConfigSection& section) {
  std::vector<std::string> out;
  for (const auto& d : disk_drives(section)) {
    if (is_storage_volume(d.file)) out.push_back(d.file);
  }
  return out;
}

bool section_has_feature(storage::StorageService& storage, const ConfigSection& section, storage::Feature feature,
                         const std::string& snapname) {
  for (const auto& d : disk_drives(section)) {
    if (!is_storage_volume(d.file)) return false;
    try {
      auto r = storage.resolve(d.file, d.key);
      if (!r.plugin->has_feature(r.def, feature, r.volname, snapname)) return false;
    } catch (const Error&) {
      return false;
    }
  }
  return true;
}

std::string qmp_drive_id(const std::string& key) { return "drive-" + key; }

bool snapshot_through_qemu(storage::StorageService& storage, const std::string& volid) {
  if (!is_storage_volume(volid)) return false;
  auto r = storage.resolve(volid);
  if (!r.plugin->info().file_based) return false;
  return r.plugin->parse_volname(r.def, r.volname).format == "qcow2";
}

storage::Feature feature_from_name(const std::string& name) {
  if (name == "snapshot") return storage::Feature::Snapshot;
  if (name == "clone") return storage::Feature::Clone;
  if (name == "copy") return storage::Feature::Copy;
  if (name == "template") return storage::Feature::Template;
  throw Error::param("feature", "value '" + name + "' does not have a value in the enumeration 'snapshot, clone, copy'");
}

}  // namespace pvx::guest::qemu
