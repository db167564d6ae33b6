// VM snapshot create / rollback / delete (see vm_snapshot.h), after PVE's AbstractConfig
// snapshot_* with QemuConfig's hooks, on stock QEMU.
#include "guest/qemu/vm_snapshot.h"

#include <cctype>
#include <ctime>

#include "base/error.h"
#include "base/rollback.h"
#include "guest/qemu/vm_service.h"
#include "guest/qemu/vm_state.h"
#include "guest/qemu/vm_volumes.h"
#include "guest/snapshot_tree.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::guest::qemu {
namespace {

using schema::Json;

// `memory: 2048` or `memory: current=2048`, MiB; 512 when unset.
std::int64_t memory_mib(const ConfigSection& main) {
  std::string m = main.get_or("memory", "512");
  if (auto eq = m.find("current="); eq != std::string::npos) m = m.substr(eq + 8);
  std::int64_t v = 0;
  for (char c : m) {
    if (!std::isdigit(static_cast<unsigned char>(c))) break;
    v = v * 10 + (c - '0');
  }
  return v > 0 ? v : 512;
}

// PVE's choice of storage for a state volume: `vmstatestorage`, else the storage of the first
// disk on shared storage, else of the first disk, else "local".
std::string state_storage(storage::StorageService& storage, const ConfigSection& main) {
  if (auto s = main.get("vmstatestorage"); s && !s->empty()) return *s;
  std::string local;
  for (const auto& volid : disk_volumes(main)) {
    const std::string sid = volid.substr(0, volid.find(':'));
    try {
      if (storage.get(sid).shared()) return sid;
    } catch (const Error&) {
      continue;
    }
    if (local.empty()) local = sid;
  }
  return local.empty() ? "local" : local;
}

std::string alloc_state_volume(storage::StorageService& storage, std::int64_t vmid, const ConfigSection& main,
                               const std::string& snapname) {
  auto def = storage.get(state_storage(storage, main));
  storage.activate(def);
  const auto& plugin = storage.plugin(def);
  std::string name = "vm-" + std::to_string(vmid) + "-state-" + snapname;
  if (plugin.info().file_based) name += ".raw";
  std::string volname;
  if (plugin.info().file_based) {
    volname = plugin.alloc_image(def, vmid, "raw", name, vm_state_size_kib(memory_mib(main)));
  } else {
    auto guard = storage.lock_storage(def.id);
    volname = plugin.alloc_image(def, vmid, "raw", name, vm_state_size_kib(memory_mib(main)));
  }
  return def.id + ":" + volname;
}

std::string volume_path(storage::StorageService& storage, const std::string& volid) {
  auto r = storage.resolve(volid);
  storage.activate(r.def);
  r.plugin->activate_volume(r.def, r.volname);
  return r.plugin->path(r.def, r.volname);
}

void free_volume(storage::StorageService& storage, const std::string& volid) {
  auto r = storage.resolve(volid);
  storage.activate(r.def);
  if (r.plugin->info().file_based) {
    r.plugin->free_image(r.def, r.volname);
  } else {
    auto guard = storage.lock_storage(r.def.id);
    r.plugin->free_image(r.def, r.volname);
  }
}

// One disk snapshot, through QEMU when the running VM holds the qcow2 open.
void disk_snapshot_create(VmService& vms, std::int64_t vmid, const Drive& drive, const std::string& snap,
                          bool running) {
  auto& storage = vms.storage();
  if (running && snapshot_through_qemu(storage, drive.file)) {
    vms.qmp(vmid)->execute("blockdev-snapshot-internal-sync", {{"device", qmp_drive_id(drive.key)}, {"name", snap}},
                           std::chrono::minutes(10));
    return;
  }
  auto r = storage.resolve(drive.file, drive.key);
  storage.activate(r.def);
  r.plugin->snapshot_create(r.def, r.volname, snap);
}

// `attached_key`: the drive key of the running VM that has this volume open ("" = not attached).
void disk_snapshot_delete(VmService& vms, std::int64_t vmid, const std::string& volid, const std::string& attached_key,
                          const std::string& snap) {
  auto& storage = vms.storage();
  if (!attached_key.empty() && snapshot_through_qemu(storage, volid)) {
    vms.qmp(vmid)->execute("blockdev-snapshot-delete-internal-sync",
                           {{"device", qmp_drive_id(attached_key)}, {"name", snap}}, std::chrono::minutes(10));
    return;
  }
  auto r = storage.resolve(volid);
  storage.activate(r.def);
  r.plugin->snapshot_delete(r.def, r.volname, snap);
}

// The key under which the running config has `volid` open, or "".
std::string attached_key(const ConfigSection& main, const std::string& volid) {
  for (const auto& d : disk_drives(main)) {
    if (d.file == volid) return d.key;
  }
  return "";
}

}  // namespace

// ---- create

void check_snapshot_create(VmService& vms, std::int64_t vmid, const SnapshotRequest& request) {
  check_new_snapshot_name(request.name);
  auto loaded = vms.load_or_throw(vmid);
  if (is_template(loaded.config.main)) throw Error("you can't take a snapshot if it's a template", 500);
  if (loaded.config.snapshots.count(request.name)) {
    throw Error("snapshot name '" + request.name + "' already used", 500);
  }
}

void snapshot_create(VmService& vms, std::int64_t vmid, const SnapshotRequest& request, tasks::TaskContext& task) {
  check_snapshot_create(vms, vmid, request);
  auto& storage = vms.storage();
  const std::string& name = request.name;
  vms.with_config_lock(vmid, "snapshot", [&] {
    const bool running = vms.runtime(vmid).running;
    const bool save_state = request.vmstate && running;
    ConfigSection main;
    vms.update(vmid, [&](GuestConfig& c) {
      if (is_template(c.main)) throw Error("you can't take a snapshot if it's a template", 500);
      if (!section_has_feature(storage, c.main, storage::Feature::Snapshot)) {
        throw Error("snapshot feature is not available", 500);
      }
      snapshot_prepare(c, name, static_cast<std::int64_t>(std::time(nullptr)), request.description);
      main = c.main;
      return true;
    });

    Rollback undo;
    undo.add([&] {
      vms.update(vmid, [&](GuestConfig& c) { return c.snapshots.erase(name) > 0; });
    });

    std::string state_volid, state_path;
    if (save_state) {
      state_volid = alloc_state_volume(storage, vmid, main, name);
      undo.add([&] { free_volume(storage, state_volid); });
      state_path = volume_path(storage, state_volid);
      vms.update(vmid, [&](GuestConfig& c) {
        auto& snap = c.snapshots.at(name);
        snap.values["vmstate"] = state_volid;
        snap.values["runningmachine"] = machine_type(c.main, vms.host());
        return true;
      });
    }

    // With RAM, disks and memory are captured at one paused point.
    bool paused = false;
    if (save_state) {
      vms.qmp(vmid)->execute("stop");
      paused = true;
      undo.add([&] {
        if (paused) vms.qmp(vmid)->execute("cont");
      });
    }

    for (const auto& drive : disk_drives(main)) {
      task.log("snapshotting '" + drive.key + "' (" + drive.file + ")");
      disk_snapshot_create(vms, vmid, drive, name, running);
      const std::string volid = drive.file;
      const std::string key = running ? drive.key : "";
      undo.add([&vms, vmid, volid, key, name] { disk_snapshot_delete(vms, vmid, volid, key, name); });
    }

    if (save_state) {
      task.log("saving VM state and RAM using storage '" + state_volid.substr(0, state_volid.find(':')) + "'");
      const auto began = std::chrono::steady_clock::now();
      save_vm_state(vms.paths(vmid).qmp(), vmid, state_path);
      const auto secs =
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - began).count();
      task.log("completed saving the VM state in " + std::to_string(secs) + "s");
      vms.qmp(vmid)->execute("cont");
      paused = false;
    }

    vms.update(vmid, [&](GuestConfig& c) {
      snapshot_commit(c, name);
      return true;
    });
    undo.commit();
  });
}

// ---- rollback

void check_snapshot_rollback(VmService& vms, std::int64_t vmid, const std::string& name) {
  auto loaded = vms.load_or_throw(vmid);
  if (is_template(loaded.config.main)) throw Error("you can't rollback if vm is a template", 500);
  const auto& snap = snapshot_or_throw(loaded.config, name);
  if (auto st = snap.get("snapstate")) {
    throw Error("unable to rollback to incomplete snapshot (snapstate = " + *st + ")", 500);
  }
}

void snapshot_rollback(VmService& vms, std::int64_t vmid, const std::string& name, bool start,
                       tasks::TaskContext& task) {
  check_snapshot_rollback(vms, vmid, name);
  auto& storage = vms.storage();
  std::string vmstate;
  vms.with_config_lock(vmid, "rollback", [&] {
    if (vms.runtime(vmid).running) {
      StopOptions stop;
      stop.skiplock = true;
      vms.stop(vmid, task, stop);
    }
    auto loaded = vms.load_or_throw(vmid);
    const ConfigSection snap = snapshot_or_throw(loaded.config, name);
    for (const auto& drive : disk_drives(snap)) {
      task.log("rolling back '" + drive.key + "' (" + drive.file + ") to '" + name + "'");
      auto r = storage.resolve(drive.file, drive.key);
      storage.activate(r.def);
      r.plugin->snapshot_rollback(r.def, r.volname, name);
    }
    vms.update(vmid, [&](GuestConfig& c) {
      snapshot_apply(c, name, disk_volumes);
      return true;
    });
    vmstate = snap.get_or("vmstate", "");
  });
  if (!vmstate.empty()) {
    StartOptions so;
    so.statefile = vmstate;
    vms.start(vmid, task, so);
  } else if (start) {
    vms.start(vmid, task);
  }
}

// ---- delete

void check_snapshot_delete(VmService& vms, std::int64_t vmid, const std::string& name) {
  auto loaded = vms.load_or_throw(vmid);
  snapshot_or_throw(loaded.config, name);
  if (is_template(loaded.config.main)) throw Error("you can't delete a snapshot if vm is a template", 500);
}

void snapshot_delete(VmService& vms, std::int64_t vmid, const std::string& name, bool force,
                     tasks::TaskContext& task) {
  check_snapshot_delete(vms, vmid, name);
  auto& storage = vms.storage();
  vms.with_config_lock(vmid, "snapshot-delete", [&] {
    auto loaded = vms.load_or_throw(vmid);
    const ConfigSection snap = snapshot_or_throw(loaded.config, name);
    auto soft_fail = [&](const std::exception& e) {
      if (!force) throw;
      task.warn(e.what());
    };

    if (auto state = snap.get("vmstate"); state && !state->empty()) {
      try {
        free_volume(storage, *state);
        task.log("removed VM state '" + *state + "'");
      } catch (const std::exception& e) {
        soft_fail(e);
      }
      if (!force) {
        vms.update(vmid, [&](GuestConfig& c) { return c.snapshots.at(name).values.erase("vmstate") > 0; });
      }
    }

    const bool running = vms.runtime(vmid).running;
    for (const auto& drive : disk_drives(snap)) {
      try {
        const std::string key = running ? attached_key(vms.load_or_throw(vmid).config.main, drive.file) : "";
        disk_snapshot_delete(vms, vmid, drive.file, key, name);
        task.log("removed snapshot '" + name + "' of '" + drive.key + "' (" + drive.file + ")");
      } catch (const std::exception& e) {
        soft_fail(e);
      }
      // Remember the progress: a retry after a failure skips the disks already done.
      if (!force) {
        vms.update(vmid, [&](GuestConfig& c) { return c.snapshots.at(name).values.erase(drive.key) > 0; });
      }
    }

    vms.update(vmid, [&](GuestConfig& c) {
      // The disks erased above are still owned by the VM: keep them reachable as unused.
      ConfigSection original = snap;
      c.snapshots[name] = original;
      snapshot_remove(c, name, disk_volumes);
      return true;
    });
  });
}

}  // namespace pvx::guest::qemu
