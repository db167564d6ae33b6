// Config changes through the API (POST/PUT /config, unlink, unlock): volumes allocated before
// the lock, the change staged under it, then applied to a stopped VM or hot-plugged into a
// running one. Nothing allocated stays behind when a step fails.
#include "base/error.h"
#include "base/rollback.h"
#include "guest/qemu/cloudinit.h"
#include "guest/qemu/cloudinit_volume.h"
#include "guest/qemu/config_update.h"
#include "guest/qemu/drive.h"
#include "guest/qemu/vm_service.h"
#include "guest/qemu/vm_service_impl.h"
#include "tasks/task_runner.h"

namespace pvx::guest::qemu {

std::vector<std::string> VmService::update_config(std::int64_t vmid, const ConfigChanges& request, bool skiplock,
                                                  tasks::TaskContext* task) {
  ConfigChanges changes = request;
  auto before = load_or_throw(vmid);
  check_not_locked(before.config, skiplock);
  if (!changes.digest.empty() && changes.digest != before.digest) {
    throw Error("detected modified configuration - file changed by other user? Try again.", 400);
  }

  std::vector<std::string> allocated;
  Rollback undo;
  undo.add([this, &allocated, task] { free_volumes(allocated, task); });

  // New disks and cloud-init drives get their volumes now, as PVE allocates before staging.
  ConfigSection fresh;
  for (auto& [key, value] : changes.set) {
    if (!is_drive_key(key)) continue;
    auto drive = parse_drive(key, value);
    if (drive.is_cloudinit() && drive.file.ends_with(":cloudinit")) {
      auto volid = alloc_cloudinit_volume(storage_, vmid, drive.file.substr(0, drive.file.find(':')), drive.opt("format"));
      allocated.push_back(volid);
      drive.file = volid;
      drive.opts.erase("format");
      drive.opts["media"] = "cdrom";
      value = print_drive(drive);
    } else if (parse_new_disk(drive)) {
      fresh.values[key] = value;
    }
  }
  if (!fresh.values.empty()) {
    allocate_disks(vmid, fresh, task, allocated);
    for (const auto& [key, value] : fresh.values) changes.set[key] = value;
  }
  if (auto pw = changes.set.find("cipassword"); pw != changes.set.end()) {
    auto ostype = changes.set.count("ostype") ? changes.set.at("ostype") : before.config.main.get_or("ostype", "other");
    pw->second = hash_cipassword(pw->second, ostype);
  }

  std::vector<std::string> warnings;
  bool running = false;
  {
    auto guard = lock_vm(store_, vmid);
    auto loaded = load_or_throw(vmid);
    check_not_locked(loaded.config, skiplock);
    if (!changes.digest.empty() && changes.digest != loaded.digest) {
      throw Error("detected modified configuration - file changed by other user? Try again.", 400);
    }
    auto result = stage_changes(loaded.config, changes, vmid);
    warnings = result.warnings;
    for (const auto& w : warnings) {
      if (task) task->log(w);
    }
    write_if_unchanged(store_, config_path(vmid), print_guest_config(loaded.config), loaded.version);
    undo.commit();
    free_volumes(result.volumes_to_free, task);

    running = find_vm_process(paths(vmid)).has_value();
    if (!running && loaded.config.has_pending()) {
      auto current = load_or_throw(vmid);
      ApplyInfo info;
      auto to_free = apply_pending(current.config, vmid, &info);
      for (const auto& [key, error] : info.errors) {
        warnings.push_back(error);
        if (task) task->log(error);
      }
      write_if_unchanged(store_, config_path(vmid), print_guest_config(current.config), current.version);
      free_volumes(to_free, task);
    }
  }
  if (running) hotplug_pending(vmid, task);
  return warnings;
}

}  // namespace pvx::guest::qemu
