// CtService: snapshots (volumes snapshotted by their storage while the container is frozen),
// rollback, templates, clones (linked from templates where the storage can, else full copies)
// and growing a mount point.
#include <unistd.h>

#include <ctime>

#include "base/error.h"
#include "base/process.h"
#include "base/rollback.h"
#include "guest/lxc/ct_service.h"
#include "guest/lxc/ct_volumes.h"
#include "guest/lxc/lxc_runtime.h"
#include "guest/qemu/net.h"
#include "guest/snapshot_tree.h"
#include "schema/formats.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::guest::lxc {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> section_volumes(const ConfigSection& s) {
  std::vector<std::string> out;
  for (const auto& mp : mount_points(s)) {
    if (mp.kind == MountKind::Volume) out.push_back(mp.volume);
  }
  return out;
}

// Mount points whose volume a snapshot covers: rootfs, and mpN with backup=1 (PVE's rule).
std::vector<MountPoint> snapshot_mounts(const ConfigSection& s) {
  std::vector<MountPoint> out;
  for (auto& mp : mount_points(s)) {
    if (mp.kind == MountKind::Volume && (mp.key == "rootfs" || mp.backup)) out.push_back(std::move(mp));
  }
  return out;
}

// Freezes a running container for the duration (a consistent snapshot), thawing it on exit.
class FreezeGuard {
 public:
  FreezeGuard(const fs::path& lxcpath, std::int64_t vmid, bool running) {
    if (!running) return;
    handle_ = std::make_unique<LxcHandle>(lxcpath, std::to_string(vmid));
    handle_->freeze();
    ::sync();
  }
  ~FreezeGuard() {
    if (!handle_) return;
    try {
      handle_->unfreeze();
    } catch (...) {
    }
  }

 private:
  std::unique_ptr<LxcHandle> handle_;
};

}  // namespace

void CtService::snapshot(std::int64_t vmid, const std::string& name, const std::string& description,
                         tasks::TaskContext& task) {
  check_new_snapshot_name(name);
  configs_.with_lock(vmid, "snapshot", [&] {
    auto loaded = configs_.load_or_throw(vmid);
    const auto mounts = snapshot_mounts(loaded.config.main);
    for (const auto& mp : mounts) {
      auto r = storage_.resolve(mp.volume, mp.key);
      if (!r.plugin->has_feature(r.def, storage::Feature::Snapshot, r.volname)) {
        throw Error("snapshot feature is not available", 500);
      }
    }
    configs_.update(vmid, [&](GuestConfig& c) {
      snapshot_prepare(c, name, static_cast<std::int64_t>(std::time(nullptr)), description);
      return true;
    });
    std::vector<std::pair<const storage::StoragePlugin*, storage::StorageDef>> done_defs;
    std::vector<std::string> done;
    try {
      FreezeGuard freeze(lxcpath(), vmid, runtime(vmid).running);
      for (const auto& mp : mounts) {
        auto r = storage_.resolve(mp.volume, mp.key);
        task.log(mp.key + ": snapshot '" + name + "' of '" + mp.volume + "'");
        r.plugin->snapshot_create(r.def, r.volname, name);
        done.push_back(mp.volume);
      }
    } catch (...) {
      for (const auto& volid : done) {
        try {
          auto r = storage_.resolve(volid);
          r.plugin->snapshot_delete(r.def, r.volname, name);
        } catch (...) {
        }
      }
      configs_.update(vmid, [&](GuestConfig& c) { return c.snapshots.erase(name) > 0; });
      throw;
    }
    configs_.update(vmid, [&](GuestConfig& c) {
      snapshot_commit(c, name);
      return true;
    });
  });
}

void CtService::rollback(std::int64_t vmid, const std::string& name, bool start_after, tasks::TaskContext& task) {
  {
    auto loaded = configs_.load_or_throw(vmid);
    snapshot_or_throw(loaded.config, name);
  }
  if (runtime(vmid).running) stop(vmid, task);
  configs_.with_lock(vmid, "rollback", [&] {
    auto loaded = configs_.load_or_throw(vmid);
    const auto& snap = snapshot_or_throw(loaded.config, name);
    for (const auto& mp : snapshot_mounts(snap)) {
      auto r = storage_.resolve(mp.volume, mp.key);
      task.log(mp.key + ": rollback of '" + mp.volume + "' to '" + name + "'");
      r.plugin->snapshot_rollback(r.def, r.volname, name);
    }
    configs_.update(vmid, [&](GuestConfig& c) {
      snapshot_apply(c, name, section_volumes);
      return true;
    });
  });
  if (start_after) start(vmid, task);
}

void CtService::delete_snapshot(std::int64_t vmid, const std::string& name, bool force, tasks::TaskContext& task) {
  configs_.with_lock(vmid, "snapshot-delete", [&] {
    auto loaded = configs_.load_or_throw(vmid);
    const auto& snap = snapshot_or_throw(loaded.config, name);
    for (const auto& mp : snapshot_mounts(snap)) {
      try {
        auto r = storage_.resolve(mp.volume, mp.key);
        task.log(mp.key + ": removing snapshot '" + name + "' of '" + mp.volume + "'");
        r.plugin->snapshot_delete(r.def, r.volname, name);
      } catch (const Error& e) {
        if (!force) throw;
        task.warn(e.what());
      }
    }
    configs_.update(vmid, [&](GuestConfig& c) {
      snapshot_remove(c, name, section_volumes);
      return true;
    });
  });
}

void CtService::make_template(std::int64_t vmid, tasks::TaskContext& task) {
  if (runtime(vmid).running) throw Error("CT " + std::to_string(vmid) + " is running - cannot convert to a template", 500);
  configs_.with_lock(vmid, "create", [&] {
    auto loaded = configs_.load_or_throw(vmid);
    if (is_template(loaded.config.main)) throw Error("CT " + std::to_string(vmid) + " is already a template", 500);
    if (!loaded.config.snapshots.empty()) throw Error("you can't convert a CT with snapshots to a template", 500);
    std::map<std::string, std::string> renamed;
    for (const auto& mp : mount_points(loaded.config.main)) {
      if (mp.kind != MountKind::Volume) continue;
      auto r = storage_.resolve(mp.volume, mp.key);
      if (!r.plugin->has_feature(r.def, storage::Feature::Template, r.volname)) {
        throw Error(mp.key + ": storage '" + r.def.id + "' cannot make a template of '" + mp.volume + "'", 500);
      }
      std::string base = r.plugin->create_base(r.def, r.volname);
      task.log(mp.key + ": '" + mp.volume + "' is now '" + r.def.id + ":" + base + "'");
      renamed[mp.key] = r.def.id + ":" + base;
    }
    configs_.update(vmid, [&](GuestConfig& c) {
      for (const auto& [key, volid] : renamed) {
        auto mp = parse_mount_point(key, c.main.get_or(key, ""));
        mp.volume = volid;
        c.main.values[key] = print_mount_point(mp);
      }
      c.main.values["template"] = "1";
      return true;
    });
  });
}

void CtService::clone(std::int64_t vmid, const CloneParams& p, tasks::TaskContext& task) {
  auto source = configs_.load_or_throw(vmid);
  const bool from_template = is_template(source.config.main);
  if (!from_template && !p.full) throw Error::param("full", "linked clones need a template; use full=1");
  if (!from_template && runtime(vmid).running) throw Error("CT " + std::to_string(vmid) + " is running - a full clone needs it stopped", 500);
  const ConfigSection& from = p.snapname.empty() ? source.config.main : snapshot_or_throw(source.config, p.snapname);

  GuestConfig target;
  target.main = snapshot_copy(from);
  target.main.values.erase("template");
  target.main.values.erase("parent");
  target.main.description = p.description.empty() ? from.description : std::optional<std::string>(p.description);
  if (!p.hostname.empty()) target.main.values["hostname"] = p.hostname;
  for (const auto& n : ct_nets(target.main)) {  // a clone gets new MAC addresses
    auto copy = n;
    copy.hwaddr = qemu::generate_mac();
    target.main.values[n.key] = print_ct_net(copy);
  }
  target.main.values["lock"] = "create";
  configs_.create(p.newid, target);
  Rollback undo;
  undo.add([this, id = p.newid] { configs_.remove(id); });
  const uid_t root_id = ct_unprivileged(from) ? kUnprivilegedIdBase : 0;

  configs_.with_lock(vmid, "disk", [&] {
    for (auto mp : mount_points(from)) {
      if (mp.kind != MountKind::Volume) continue;
      auto r = storage_.resolve(mp.volume, mp.key);
      std::string newvol;
      const bool linked = !p.full && r.plugin->has_feature(r.def, storage::Feature::Clone, r.volname, p.snapname);
      if (linked) {
        task.log(mp.key + ": linked clone of '" + mp.volume + "'");
        newvol = r.def.id + ":" + r.plugin->clone_image(r.def, r.volname, p.newid, p.snapname);
      } else {
        const std::string sid = p.storage.empty() ? r.def.id : p.storage;
        task.log(mp.key + ": full copy of '" + mp.volume + "' to '" + sid + "'");
        newvol = copy_volume(mp, sid, p.newid, root_id, ct_dir(p.newid) / "clone");
        undo.add([this, newvol] {
          auto n = storage_.resolve(newvol);
          n.plugin->free_image(n.def, n.volname);
        });
      }
      mp.volume = newvol;
      target.main.values[mp.key] = print_mount_point(mp);
    }
  });
  target.main.values.erase("lock");
  configs_.update(p.newid, [&](GuestConfig& c) {
    c = target;
    return true;
  });
  undo.commit();
  std::error_code ec;
  fs::remove_all(ct_dir(p.newid) / "clone", ec);
}

std::string CtService::copy_volume(const MountPoint& mp, const std::string& storage, std::int64_t vmid, uid_t root_id,
                                   const fs::path& work) {
  const double gib = mp.size ? static_cast<double>(*mp.size) / (1024.0 * 1024 * 1024) : 0;
  std::string newvol = alloc_ct_volume(storage_, mp.key, storage, vmid, gib, root_id, root_id);
  try {
    // Files are copied through both filesystems mounted, whatever the volume kinds are.
    MountPoint src_mp = mp, dst_mp = mp;
    dst_mp.volume = newvol;
    src_mp.ro = true;
    Rollback unmount;
    auto a = attach_ct_volume(storage_, src_mp, work / "src");
    if (a.mounted) unmount.add([d = work / "src"] { unmount_ct_volume(d); });
    auto b = attach_ct_volume(storage_, dst_mp, work / "dst");
    if (b.mounted) unmount.add([d = work / "dst"] { unmount_ct_volume(d); });
    run_command({"cp", "-a", "--reflink=auto", "--no-target-directory", a.dir.string() + "/.", b.dir.string()},
                {.timeout = std::chrono::hours(6)});
  } catch (...) {
    auto n = storage_.resolve(newvol);
    n.plugin->free_image(n.def, n.volname);
    throw;
  }
  std::error_code ec;
  fs::remove_all(work, ec);
  return newvol;
}

void CtService::move_volume(std::int64_t vmid, const std::string& key, const std::string& storage, bool delete_source,
                            const std::string& digest, tasks::TaskContext& task) {
  if (runtime(vmid).running) throw Error("moving a volume of a running container is not supported yet; stop it first", 500);
  auto loaded = configs_.load_or_throw(vmid);
  if (!is_mount_key(key)) throw Error::param("volume", "not a mount point: '" + key + "'");
  auto value = loaded.config.main.get(key);
  if (!value) throw Error::param("volume", "no such mount point '" + key + "'");
  auto mp = parse_mount_point(key, *value);
  if (mp.kind != MountKind::Volume) throw Error::param("volume", "only storage volumes can be moved");
  const uid_t root_id = ct_unprivileged(loaded.config.main) ? kUnprivilegedIdBase : 0;
  configs_.with_lock(vmid, "disk", [&] {
    task.log(key + ": moving '" + mp.volume + "' to storage '" + storage + "'");
    std::string newvol = copy_volume(mp, storage, vmid, root_id, ct_dir(vmid) / "move");
    try {
      configs_.update(vmid, [&](GuestConfig& c) {
        auto m = parse_mount_point(key, c.main.get_or(key, ""));
        if (m.volume != mp.volume) throw Error(key + " changed meanwhile", 500);
        m.volume = newvol;
        c.main.values[key] = print_mount_point(m);
        if (!delete_source) add_unused_volume(c.main, mp.volume);
        return true;
      }, digest);
    } catch (...) {
      auto n = storage_.resolve(newvol);
      n.plugin->free_image(n.def, n.volname);
      throw;
    }
    task.log(key + ": now '" + newvol + "'");
  });
  if (delete_source) {
    bool in_snapshot = false;
    for (const auto& [name, snap] : loaded.config.snapshots) {
      for (const auto& v : section_volumes(snap)) in_snapshot = in_snapshot || v == mp.volume;
    }
    if (in_snapshot) {
      task.warn("'" + mp.volume + "' is used by a snapshot; kept as unused");
      configs_.update(vmid, [&](GuestConfig& c) { return !add_unused_volume(c.main, mp.volume).empty(); });
    } else {
      auto r = storage_.resolve(mp.volume);
      r.plugin->free_image(r.def, r.volname);
    }
  }
}

void CtService::resize(std::int64_t vmid, const std::string& disk, const std::string& size, const std::string& digest,
                       tasks::TaskContext& task) {
  auto loaded = configs_.load_or_throw(vmid);
  if (!is_mount_key(disk)) throw Error::param("disk", "not a mount point: '" + disk + "'");
  auto value = loaded.config.main.get(disk);
  if (!value) throw Error::param("disk", "no such mount point '" + disk + "'");
  auto mp = parse_mount_point(disk, *value);
  if (mp.kind != MountKind::Volume) throw Error::param("disk", "only storage volumes can be resized");
  const bool relative = !size.empty() && size[0] == '+';
  auto bytes = schema::parse_disk_size(relative ? size.substr(1) : size);
  if (!bytes) throw Error::param("size", "invalid size '" + size + "'");
  auto r = storage_.resolve(mp.volume, disk);
  auto vn = r.plugin->parse_volname(r.def, r.volname);
  const std::int64_t current = mp.size.value_or(r.plugin->volume_size(r.def, r.volname).size);
  const std::int64_t target = relative ? current + static_cast<std::int64_t>(*bytes) : static_cast<std::int64_t>(*bytes);
  if (target < current) throw Error::param("size", "shrinking disks is not supported");
  if (vn.format != "subvol") {
    if (runtime(vmid).running) throw Error("resizing the image of a running container is not supported yet; stop it first", 500);
    r.plugin->volume_resize(r.def, r.volname, target);
    const std::string path = r.plugin->path(r.def, r.volname);
    task.log("resizing the filesystem of '" + mp.volume + "'");
    run_command({"e2fsck", "-f", "-y", path}, {.check = false});
    run_command({"resize2fs", path});
  }
  configs_.update(vmid, [&](GuestConfig& c) {
    auto m = parse_mount_point(disk, c.main.get_or(disk, ""));
    m.size = target;
    c.main.values[disk] = print_mount_point(m);
    return true;
  }, digest);
}

}  // namespace pvx::guest::lxc
