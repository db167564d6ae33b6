// Resize, move and feature checks of VM disks (see vm_disk_ops.h), after qemu-server's
// resize_vm, move_vm_disk and vm_feature.
#include "guest/qemu/vm_disk_ops.h"

#include <cmath>
#include <regex>

#include "base/error.h"
#include "base/process.h"
#include "guest/qemu/drive.h"
#include "guest/qemu/vm_service.h"
#include "guest/qemu/vm_volumes.h"
#include "guest/snapshot_tree.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::guest::qemu {
namespace {

Drive disk_of(const GuestConfig& conf, const std::string& key) {
  auto value = conf.main.get(key);
  if (!value) throw Error("disk '" + key + "' does not exist", 500);
  auto drive = parse_drive(key, *value);
  if (drive.file.empty() || drive.file == "none") throw Error("disk '" + key + "' has no associated volume", 500);
  return drive;
}

void check_digest(const LoadedConfig& loaded, const std::string& digest) {
  if (!digest.empty() && digest != loaded.digest) {
    throw Error("VM config checksum missmatch (file change by other user?)", 500);
  }
}

}  // namespace

// ---- resize

std::int64_t resize_target(const std::string& size, std::int64_t current) {
  static const std::regex re(R"(^(\+)?(\d+(?:\.\d+)?)([KMGT])?$)");
  std::smatch m;
  if (!std::regex_match(size, m, re)) throw Error::param("size", "value does not match the regex pattern");
  double value = std::stod(m[2].str());
  if (m[3].matched) {
    static const std::string units = "KMGT";
    value *= std::pow(1024.0, static_cast<double>(units.find(m[3].str()[0]) + 1));
  }
  if (m[1].matched) value += static_cast<double>(current);
  if (value > 9.0e18) throw Error::param("size", "size too large");
  std::int64_t bytes = static_cast<std::int64_t>(value);
  if (bytes < current) throw Error::param("size", "shrinking disks is not supported");
  return (bytes + 1023) / 1024 * 1024;
}

namespace {

struct ResizeTarget {
  Drive drive;
  storage::StorageService::Resolved volume;
  std::int64_t current = 0;
  std::int64_t wanted = 0;
};

// The virtual size QEMU sees (qemu-img cannot open an image a running QEMU holds).
std::int64_t running_size(VmService& vms, std::int64_t vmid, const std::string& key) {
  auto blocks = vms.qmp(vmid)->execute("query-block");
  for (const auto& b : blocks) {
    if (b.value("device", "") != qmp_drive_id(key) || !b.contains("inserted")) continue;
    return b["inserted"]["image"].value("virtual-size", std::int64_t{0});
  }
  throw Error("Could not determine current size of volume of '" + key + "'", 500);
}

ResizeTarget resize_checks(VmService& vms, std::int64_t vmid, const LoadedConfig& loaded,
                           const ResizeRequest& request) {
  check_digest(loaded, request.digest);
  check_not_locked(loaded.config, request.skiplock);
  ResizeTarget t{disk_of(loaded.config, request.disk), {}, 0, 0};
  if (t.drive.is_cdrom()) throw Error("you can't resize a cdrom", 500);
  if (!is_storage_volume(t.drive.file)) throw Error("disk '" + request.disk + "' is not on a storage", 500);
  auto& storage = vms.storage();
  t.volume = storage.resolve(t.drive.file, request.disk);
  storage.activate(t.volume.def);
  t.volume.plugin->activate_volume(t.volume.def, t.volume.volname);
  const bool running = vms.runtime(vmid).running;
  t.current = running && t.volume.plugin->info().file_based
                  ? running_size(vms, vmid, request.disk)
                  : t.volume.plugin->volume_size(t.volume.def, t.volume.volname).size;
  t.wanted = resize_target(request.size, t.current);
  return t;
}

}  // namespace

std::string check_resize(VmService& vms, std::int64_t vmid, const ResizeRequest& request) {
  auto loaded = vms.load_or_throw(vmid);
  return resize_checks(vms, vmid, loaded, request).volume.def.id;
}

void resize_disk(VmService& vms, std::int64_t vmid, const ResizeRequest& request, tasks::TaskContext& task) {
  // Under the config lock like PVE: the size in the config and the volume change together.
  vms.update(
      vmid,
      [&](GuestConfig& conf) {
    LoadedConfig loaded{conf, {}, 0};  // update() checked the digest
    auto t = resize_checks(vms, vmid, loaded, request);
    if (t.wanted == t.current) {
      task.log("disk '" + request.disk + "' already has the requested size");
      return false;
    }
    task.log("resizing '" + request.disk + "' (" + t.drive.file + ") from " + std::to_string(t.current) + " to " +
             std::to_string(t.wanted) + " bytes");
    const bool running = vms.runtime(vmid).running;
    const bool file_based = t.volume.plugin->info().file_based;
    if (!running || !file_based) t.volume.plugin->volume_resize(t.volume.def, t.volume.volname, t.wanted);
    if (running) {
      // A file QEMU holds open grows through QEMU; a block device already grew, QEMU learns it.
      vms.qmp(vmid)->execute("block_resize", {{"device", qmp_drive_id(request.disk)}, {"size", t.wanted}},
                             std::chrono::seconds(60));
    }
    t.drive.set_size_bytes(static_cast<std::uint64_t>(t.wanted));
    conf.main.values[request.disk] = print_drive(t.drive);
    return true;
      },
      request.digest);
}

// ---- move

namespace {

bool in_snapshots(const GuestConfig& conf, const std::string& volid) {
  for (const auto& [name, snap] : conf.snapshots) {
    for (const auto& v : disk_volumes(snap)) {
      if (v == volid) return true;
    }
  }
  return false;
}

}  // namespace

void check_move_disk(VmService& vms, std::int64_t vmid, const MoveDiskRequest& request) {
  auto loaded = vms.load_or_throw(vmid);
  check_not_locked(loaded.config);
  check_digest(loaded, request.digest);
  std::string volid;
  if (request.disk.starts_with("unused")) {
    volid = loaded.config.main.get_or(request.disk, "");
    if (volid.empty()) throw Error("disk '" + request.disk + "' does not exist", 500);
  } else {
    auto drive = disk_of(loaded.config, request.disk);
    if (drive.is_cdrom() && !drive.is_cloudinit()) throw Error("you can't move a cdrom", 500);
    volid = drive.file;
  }
  if (!is_storage_volume(volid)) throw Error("disk '" + request.disk + "' is not on a storage", 500);
  auto& storage = vms.storage();
  auto src = storage.resolve(volid, "disk");
  auto dst = storage.get(request.storage);
  if (!dst.content().count("images")) throw Error::param("storage", "storage '" + dst.id + "' does not support vm images");
  const auto fmt = src.plugin->parse_volname(src.def, src.volname).format;
  if (src.def.id == dst.id && (!request.format || *request.format == fmt)) {
    throw Error("you can't move to the same storage with same format", 500);
  }
  if (request.delete_source && in_snapshots(loaded.config, volid)) {
    throw Error("you can't move a disk with snapshots and delete the source", 500);
  }
  if (vms.runtime(vmid).running && !request.disk.starts_with("unused")) {
    throw Error("VM " + std::to_string(vmid) +
                    " is running - pvx moves disks of stopped VMs only (live storage migration with drive-mirror is "
                    "not implemented)",
                500);
  }
}

void move_disk(VmService& vms, std::int64_t vmid, const MoveDiskRequest& request, tasks::TaskContext& task) {
  check_move_disk(vms, vmid, request);
  auto& storage = vms.storage();
  auto loaded = vms.load_or_throw(vmid);
  const bool unused = request.disk.starts_with("unused");
  const std::string old_value = loaded.config.main.get_or(request.disk, "");
  Drive drive;
  if (!unused) drive = disk_of(loaded.config, request.disk);
  const std::string old_volid = unused ? old_value : drive.file;
  if (in_snapshots(loaded.config, old_volid)) task.warn("moving disk with snapshots, snapshots will not be moved!");

  auto src = storage.resolve(old_volid, "disk");
  storage.activate(src.def);
  src.plugin->activate_volume(src.def, src.volname);
  const auto src_name = src.plugin->parse_volname(src.def, src.volname);
  auto dst = storage.get(request.storage);
  storage.activate(dst);
  const auto& dst_plugin = storage.plugin(dst);
  std::string format = request.format.value_or("");
  const auto& formats = dst_plugin.info().formats;
  if (format.empty()) {
    format = std::find(formats.begin(), formats.end(), src_name.format) != formats.end() ? src_name.format
                                                                                       : dst_plugin.info().default_format;
  } else if (std::find(formats.begin(), formats.end(), format) == formats.end()) {
    throw Error::param("format", "storage '" + dst.id + "' does not support format '" + format + "'");
  }
  const auto size = src.plugin->volume_size(src.def, src.volname);
  auto alloc = [&] { return dst_plugin.alloc_image(dst, vmid, format, "", (size.size + 1023) / 1024); };
  std::string nv;
  if (dst_plugin.info().file_based) {
    nv = alloc();
  } else {
    auto guard = storage.lock_storage(dst.id);
    nv = alloc();
  }
  const std::string new_volid = dst.id + ":" + nv;
  auto free_new = [&] {
    try {
      dst_plugin.free_image(dst, nv);
    } catch (const std::exception& e) {
      task.warn(std::string("unable to free '") + new_volid + "': " + e.what());
    }
  };
  try {
    dst_plugin.activate_volume(dst, nv);
    task.log("moving '" + old_volid + "' to '" + new_volid + "'");
    run_command({"qemu-img", "convert", "-p", "-n", "-f", src_name.format, "-O", format,
                 src.plugin->path(src.def, src.volname), dst_plugin.path(dst, nv)},
                {.timeout = std::chrono::hours(24)});
    vms.update(vmid, [&](GuestConfig& conf) {
      if (conf.main.get_or(request.disk, "") != old_value) {
        throw Error("disk '" + request.disk + "' was changed meanwhile - not switching to the moved copy", 500);
      }
      if (unused) {
        conf.main.values[request.disk] = new_volid;
      } else {
        Drive moved = drive;
        moved.file = new_volid;
        conf.main.values[request.disk] = print_drive(moved);
      }
      if (!request.delete_source) add_unused_volume(conf.main, old_volid);
      return true;
    });
  } catch (const std::exception& e) {
    free_new();
    throw Error(std::string("storage migration failed: ") + e.what(), 500);
  }
  // A template's disks are base volumes wherever they live.
  if (is_template(vms.load_or_throw(vmid).config.main) && !unused) {
    auto base = dst_plugin.create_base(dst, nv);
    vms.update(vmid, [&](GuestConfig& conf) {
      auto d = parse_drive(request.disk, conf.main.get_or(request.disk, ""));
      if (d.file != new_volid) return false;
      d.file = dst.id + ":" + base;
      conf.main.values[request.disk] = print_drive(d);
      return true;
    });
  }
  if (request.delete_source) {
    try {
      src.plugin->free_image(src.def, src.volname);
      task.log("removed '" + old_volid + "'");
    } catch (const std::exception& e) {
      task.warn(e.what());
    }
  }
}

// ---- feature

FeatureAnswer vm_feature(VmService& vms, std::int64_t vmid, const std::string& feature, const std::string& snapname) {
  auto loaded = vms.load_or_throw(vmid);
  const ConfigSection* section = &loaded.config.main;
  if (!snapname.empty()) section = &snapshot_or_throw(loaded.config, snapname);
  FeatureAnswer answer;
  answer.has = section_has_feature(vms.storage(), *section, feature_from_name(feature), snapname);
  bool available = true;
  for (const auto& volid : disk_volumes(*section)) {
    try {
      auto def = vms.storage().get(volid.substr(0, volid.find(':')));
      if (def.disabled() || !vms.storage().on_this_node(def)) available = false;
    } catch (const Error&) {
      available = false;
    }
  }
  if (available) answer.nodes.push_back(vms.options().node);
  return answer;
}

}  // namespace pvx::guest::qemu
