// Templates and clones (see vm_clone.h), after qemu-server's template_create, clone_vm and
// clone_disk.
#include "guest/qemu/vm_clone.h"

#include <algorithm>
#include <set>

#include "base/error.h"
#include "base/process.h"
#include "base/random.h"
#include "base/rollback.h"
#include "cluster/config_store.h"
#include "guest/qemu/cloudinit_volume.h"
#include "guest/qemu/drive.h"
#include "guest/qemu/net.h"
#include "guest/qemu/vm_schema.h"
#include "guest/qemu/vm_service.h"
#include "guest/qemu/vm_volumes.h"
#include "guest/snapshot_tree.h"
#include "schema/validate.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::guest::qemu {
namespace {

using schema::Json;

bool is_unused_key(const std::string& key) { return key.starts_with("unused"); }

// Runs a storage change that allocates names under the storage lock where the type needs one.
template <typename Fn>
auto with_storage_lock(storage::StorageService& storage, const storage::StorageDef& def, Fn&& fn) {
  if (storage.plugin(def).info().file_based) return fn();
  auto guard = storage.lock_storage(def.id);
  return fn();
}

std::string format_for(const storage::StoragePlugin& plugin, const std::string& wanted, const std::string& source) {
  const auto& formats = plugin.info().formats;
  auto supported = [&](const std::string& f) { return std::find(formats.begin(), formats.end(), f) != formats.end(); };
  if (!wanted.empty()) return wanted;
  if (supported(source)) return source;
  return plugin.info().default_format.empty() ? "raw" : plugin.info().default_format;
}

}  // namespace

// ---- template

void mark_template(VmService& vms, std::int64_t vmid, const std::string& disk) {
  vms.update(vmid, [&](GuestConfig& c) {
    check_not_locked(c);
    if (!c.snapshots.empty()) throw Error("unable to create template, because VM contains snapshots", 500);
    if (is_template(c.main) && disk.empty()) throw Error("you can't convert a template to a template", 500);
    if (vms.runtime(vmid).running) throw Error("you can't convert a VM to template if VM is running", 500);
    if (!disk.empty() && !c.main.has(disk)) throw Error::param("disk", "disk '" + disk + "' does not exist");
    c.main.values["template"] = "1";
    return true;
  });
}

void convert_to_template(VmService& vms, std::int64_t vmid, const std::string& disk, tasks::TaskContext& task) {
  auto& storage = vms.storage();
  const auto loaded = vms.load_or_throw(vmid);
  for (const auto& drive : disk_drives(loaded.config.main)) {
    if (!disk.empty() && drive.key != disk) continue;
    if (!is_storage_volume(drive.file)) continue;
    auto r = storage.resolve(drive.file, drive.key);
    if (!r.plugin->has_feature(r.def, storage::Feature::Template, r.volname)) continue;
    storage.activate(r.def);
    std::string base = with_storage_lock(storage, r.def, [&] { return r.plugin->create_base(r.def, r.volname); });
    const std::string new_volid = r.def.id + ":" + base;
    task.log("converted '" + drive.key + "' (" + drive.file + ") to base volume '" + new_volid + "'");
    vms.update(vmid, [&](GuestConfig& c) {
      auto now = c.main.get(drive.key);
      if (!now) return false;
      auto d = parse_drive(drive.key, *now);
      if (d.file != drive.file) return false;
      d.file = new_volid;
      c.main.values[drive.key] = print_drive(d);
      return true;
    });
  }
}

// ---- clone

ConfigSection clone_config(const ConfigSection& source, const CloneNaming& naming,
                           const std::function<std::string()>& make_mac,
                           const std::function<std::string()>& make_uuid) {
  static const std::set<std::string> skipped = {"parent",         "snaptime",   "vmstate", "snapstate",
                                                "runningmachine", "runningcpu", "lock",    "template"};
  ConfigSection out;
  out.description = source.description;
  if (naming.description && !naming.description->empty()) out.description = *naming.description;
  for (const auto& [key, value] : source.values) {
    if (skipped.count(key) || is_unused_key(key)) continue;
    if (is_net_key(key)) {
      auto net = parse_net(key, value);
      net.macaddr = make_mac();
      out.values[key] = print_net(net);
      continue;
    }
    out.values[key] = value;
  }
  // A new machine identity: smbios1 uuid always, vmgenid when the source has one.
  Json smbios = Json::object();
  if (auto s = source.get("smbios1"); s && !s->empty()) {
    if (const auto* fmt = vm_key_format("smbios1")) smbios = schema::parse_property_string(*fmt, *s, "smbios1");
  }
  smbios["uuid"] = make_uuid();
  if (const auto* fmt = vm_key_format("smbios1")) {
    out.values["smbios1"] = schema::print_property_string(*fmt, smbios);
  } else {
    out.values["smbios1"] = "uuid=" + smbios["uuid"].get<std::string>();
  }
  if (auto g = source.get("vmgenid"); g && !g->empty() && *g != "0") out.values["vmgenid"] = make_uuid();
  if (naming.name && !naming.name->empty()) {
    out.values["name"] = *naming.name;
  } else {
    out.values["name"] = "Copy-of-VM-" + source.get_or("name", std::to_string(naming.vmid));
  }
  return out;
}

ClonePlan plan_clone(VmService& vms, std::int64_t vmid, const CloneRequest& request, const std::string& node) {
  auto& storage = vms.storage();
  if (request.target && *request.target != node && *request.target != "localhost") {
    throw Error::param("target", "cloning to node '" + *request.target +
                                     "' needs a cluster (pvx runs single-node here); the target must be '" + node + "'");
  }
  if (request.storage) {
    auto def = storage.get(*request.storage);
    if (def.disabled() || !storage.on_this_node(def)) {
      throw Error::param("storage", "storage '" + def.id + "' is not available on node '" + node + "'");
    }
    if (!def.content().count("images")) {
      throw Error::param("storage", "storage '" + def.id + "' does not support vm images");
    }
  }
  auto loaded = vms.load_or_throw(vmid);
  const GuestConfig& conf = loaded.config;
  check_not_locked(conf);
  ClonePlan plan;
  plan.vmid = vmid;
  plan.source_is_template = is_template(conf.main);
  const bool running = vms.runtime(vmid).running;
  if (request.snapname && !conf.snapshots.count(*request.snapname)) {
    throw Error("snapshot '" + *request.snapname + "' does not exist", 500);
  }
  plan.full = request.full.value_or(!plan.source_is_template);
  if (request.storage && !plan.full) throw Error::param("storage", "parameter 'storage' not allowed for linked clones");
  if (request.format && !plan.full) throw Error::param("format", "parameter 'format' not allowed for linked clones");
  if (running) {
    throw Error("VM " + std::to_string(vmid) +
                    " is running - pvx clones only stopped VMs and templates (stop it, or clone a snapshot of it "
                    "after stopping)",
                500);
  }
  if (vms.load(request.newid) || vms.store().read(lxc_config_path(node, request.newid))) {
    throw Error("unable to create VM " + std::to_string(request.newid) + ": config file already exists", 500);
  }
  const ConfigSection& source = request.snapname ? conf.snapshots.at(*request.snapname) : conf.main;
  const std::string snapname = request.snapname.value_or("");
  std::set<std::string> targets;
  for (const auto& [key, value] : source.values) {
    if (!is_drive_key(key)) continue;
    auto drive = parse_drive(key, value);
    if (drive.is_cdrom() && !drive.is_cloudinit()) continue;
    if (drive.file.empty() || drive.file == "none") continue;
    if (!is_storage_volume(drive.file)) {
      throw Error("unable to clone '" + key + "': '" + drive.file + "' is not a storage volume", 500);
    }
    auto r = storage.resolve(drive.file, key);
    const bool copy = plan.full || drive.is_cloudinit();
    if (copy && !r.plugin->has_feature(r.def, storage::Feature::Copy, r.volname, snapname)) {
      throw Error("Full clone feature is not supported for drive '" + key + "'", 500);
    }
    if (!copy && !r.plugin->has_feature(r.def, storage::Feature::Clone, r.volname, snapname)) {
      throw Error("Linked clone feature is not supported for drive '" + key + "'", 500);
    }
    plan.disk_keys.push_back(key);
    targets.insert(copy && request.storage ? *request.storage : r.def.id);
  }
  plan.target_storages.assign(targets.begin(), targets.end());
  CloneNaming naming{vmid, request.name, request.description};
  plan.newconf.main = clone_config(source, naming, [] { return generate_mac(); }, [] { return random_uuid(); });
  return plan;
}

namespace {

// A full copy of one disk into a new volume of `newid`; returns the new volume id and pushes it
// to `created` as soon as it exists.
std::string copy_disk(storage::StorageService& storage, const Drive& drive, std::int64_t newid,
                      const CloneRequest& request, std::vector<std::string>& created, tasks::TaskContext& task) {
  auto src = storage.resolve(drive.file, drive.key);
  storage.activate(src.def);
  src.plugin->activate_volume(src.def, src.volname);
  const auto src_name = src.plugin->parse_volname(src.def, src.volname);
  auto dst = request.storage ? storage.get(*request.storage) : src.def;
  storage.activate(dst);
  const auto& dst_plugin = storage.plugin(dst);
  const std::string format = format_for(dst_plugin, request.format.value_or(""), src_name.format);
  const std::string snap = request.snapname.value_or("");

  // Same storage, same format, current state: the storage's own copy (a btrfs snapshot is instant).
  if (dst.id == src.def.id && format == src_name.format && snap.empty()) {
    std::string nv = with_storage_lock(storage, dst, [&] { return dst_plugin.copy_image(dst, src.volname, newid, ""); });
    created.push_back(dst.id + ":" + nv);
    return dst.id + ":" + nv;
  }
  const auto size = src.plugin->volume_size(src.def, src.volname);
  std::string nv = with_storage_lock(
      storage, dst, [&] { return dst_plugin.alloc_image(dst, newid, format, "", (size.size + 1023) / 1024); });
  const std::string new_volid = dst.id + ":" + nv;
  created.push_back(new_volid);
  dst_plugin.activate_volume(dst, nv);
  std::vector<std::string> argv = {"qemu-img", "convert", "-p", "-n", "-f", src_name.format, "-O", format};
  if (!snap.empty() && src_name.format == "qcow2") argv.insert(argv.end(), {"-l", "snapshot.name=" + snap});
  argv.push_back(src.plugin->path(src.def, src.volname, src_name.format == "qcow2" ? std::string_view{} : snap));
  argv.push_back(dst_plugin.path(dst, nv));
  task.log("create full clone of drive " + drive.key + " (" + drive.file + ")");
  run_command(argv, {.timeout = std::chrono::hours(24)});
  return new_volid;
}

std::string link_disk(storage::StorageService& storage, const Drive& drive, std::int64_t newid,
                      std::vector<std::string>& created, tasks::TaskContext& task) {
  auto src = storage.resolve(drive.file, drive.key);
  storage.activate(src.def);
  task.log("create linked clone of drive " + drive.key + " (" + drive.file + ")");
  std::string nv = with_storage_lock(storage, src.def, [&] { return src.plugin->clone_image(src.def, src.volname, newid); });
  created.push_back(src.def.id + ":" + nv);
  return src.def.id + ":" + nv;
}

}  // namespace

void clone_vm(VmService& vms, const ClonePlan& plan, const CloneRequest& request, tasks::TaskContext& task,
              const std::function<void()>& add_to_pool) {
  auto& storage = vms.storage();
  const std::int64_t newid = request.newid;
  auto body = [&] {
    // Reserve the id first: a racing create or clone of the same id fails here.
    GuestConfig reserved;
    reserved.main.values["lock"] = "clone";
    vms.create_config(newid, reserved);
    std::vector<std::string> created;
    Rollback undo;
    undo.add([&] {
      for (auto it = created.rbegin(); it != created.rend(); ++it) {
        try {
          auto r = storage.resolve(*it);
          with_storage_lock(storage, r.def, [&] { r.plugin->free_image(r.def, r.volname); });
        } catch (const std::exception& e) {
          task.warn("unable to free '" + *it + "': " + e.what());
        }
      }
      vms.remove_config(newid);
    });

    GuestConfig next = plan.newconf;
    next.main.values["lock"] = "clone";
    auto keys = plan.disk_keys;
    std::sort(keys.begin(), keys.end());
    for (const auto& key : keys) {
      task.check_abort();
      auto drive = parse_drive(key, plan.newconf.main.get_or(key, ""));
      std::string new_volid;
      if (drive.is_cloudinit()) {
        // The image is generated at the clone's first start, from its own config.
        const std::string sid = drive.file.substr(0, drive.file.find(':'));
        auto src = storage.resolve(drive.file, key);
        const auto fmt = src.plugin->parse_volname(src.def, src.volname).format;
        new_volid = alloc_cloudinit_volume(storage, newid, request.storage.value_or(sid), fmt);
        created.push_back(new_volid);
      } else if (plan.full) {
        new_volid = copy_disk(storage, drive, newid, request, created, task);
      } else {
        new_volid = link_disk(storage, drive, newid, created, task);
      }
      drive.file = new_volid;
      next.main.values[key] = print_drive(drive);
      // Written after every disk, so volumes of an interrupted clone are found in its config.
      vms.update(newid, [&](GuestConfig& c) {
        c = next;
        return true;
      });
    }
    next.main.values.erase("lock");
    vms.update(newid, [&](GuestConfig& c) {
      c = next;
      return true;
    });
    if (add_to_pool) add_to_pool();
    undo.commit();
  };
  try {
    if (plan.source_is_template) {
      body();
    } else {
      vms.with_config_lock(plan.vmid, "clone", body);
    }
  } catch (const std::exception& e) {
    throw Error(std::string("clone failed: ") + e.what(), 500);
  }
}

}  // namespace pvx::guest::qemu
