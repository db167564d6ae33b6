// Creating and destroying VMs: the whole of it or nothing. A create reserves the id with
// `lock: create`, allocates the disks, fills in what PVE generates (MACs, smbios1 uuid, vmgenid,
// meta, boot order) and writes the config; a failure frees the new volumes and removes the file.
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>

#include "base/error.h"
#include "base/log.h"
#include "base/random.h"
#include "base/rollback.h"
#include "guest/qemu/drive.h"
#include "guest/qemu/net.h"
#include "guest/qemu/vm_service.h"
#include "guest/qemu/vm_service_impl.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::guest::qemu {
namespace {

// PVE's default boot order of a new VM: the first disk, the first CD-ROM, the first NIC.
std::string default_boot_order(const ConfigSection& conf) {
  std::string disk, cdrom, net;
  for (const auto& key : all_drive_keys()) {
    auto v = conf.get(key);
    if (!v || key.starts_with("efidisk") || key.starts_with("tpmstate")) continue;
    auto d = try_parse_drive(key, *v);
    if (!d || d->is_cloudinit()) continue;
    if (d->is_cdrom()) {
      if (cdrom.empty()) cdrom = key;
    } else if (disk.empty()) {
      disk = key;
    }
  }
  for (int i = 0; i < 32 && net.empty(); ++i) {
    if (conf.has("net" + std::to_string(i))) net = "net" + std::to_string(i);
  }
  std::string order;
  for (const auto* k : {&disk, &cdrom, &net}) {
    if (k->empty()) continue;
    order += (order.empty() ? "" : ";") + *k;
  }
  return order.empty() ? "" : "order=" + order;
}

// The volumes a VM owns according to its config (every section), by PVE's rule: volume ids
// whose owner is the VM; ISO images and other VMs' bases are not its own.
std::vector<std::string> owned_volumes(storage::StorageService& storage, std::int64_t vmid, const GuestConfig& config) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  auto consider = [&](const std::string& key, const std::string& value) {
    std::string volid;
    if (key.starts_with("unused") || key == "vmstate") {
      volid = value.substr(0, value.find(','));
      if (volid.starts_with("file=")) volid = volid.substr(5);
    } else if (is_drive_key(key)) {
      auto d = try_parse_drive(key, value);
      if (!d) return;
      volid = d->file;
    } else {
      return;
    }
    if (volid.empty() || volid.front() == '/' || volid.find(':') == std::string::npos || !seen.insert(volid).second) return;
    try {
      auto r = storage.resolve(volid);
      auto parsed = r.plugin->parse_volname(r.def, r.volname);
      if (parsed.vmid != vmid || (parsed.vtype != "images" && parsed.vtype != "rootdir")) return;
      out.push_back(r.def.id + ":" + r.volname);
    } catch (const std::exception& e) {
      log::debug("VM " + std::to_string(vmid) + ": skipping '" + volid + "': " + e.what());
    }
  };
  for (const auto& [k, v] : config.main.values) consider(k, v);
  for (const auto& [k, v] : config.pending.values) consider(k, v);
  for (const auto& [name, snap] : config.snapshots) {
    for (const auto& [k, v] : snap.values) consider(k, v);
  }
  for (const auto& [name, sec] : config.special) {
    for (const auto& [k, v] : sec.values) consider(k, v);
  }
  return out;
}

}  // namespace

void VmService::create_vm(std::int64_t vmid, GuestConfig config, tasks::TaskContext& task, const CreateOptions& options) {
  std::vector<std::string> allocated;
  Rollback undo;
  undo.add([this, vmid, &allocated, &task] {
    free_volumes(allocated, &task);
    remove_config(vmid);
  });

  auto& conf = config.main;
  conf.values.erase("lock");
  for (auto& [key, value] : conf.values) {
    if (!is_net_key(key)) continue;
    auto net = parse_net(key, value);
    if (net.macaddr.empty()) {
      net.macaddr = generate_mac();
      value = print_net(net);
    }
  }
  allocate_disks(vmid, conf, &task, allocated);

  if (!conf.has("smbios1")) conf.values["smbios1"] = "uuid=" + random_uuid();
  auto vmgenid = conf.get_or("vmgenid", "1");
  if (vmgenid == "1") {
    conf.values["vmgenid"] = random_uuid();
  } else if (vmgenid == "0") {
    conf.values.erase("vmgenid");
  }
  conf.values["meta"] = "creation-qemu=" + host_.qemu_version + ",ctime=" + std::to_string(std::time(nullptr));
  if (!conf.has("boot")) {
    if (auto order = default_boot_order(conf); !order.empty()) conf.values["boot"] = order;
  }

  {
    auto guard = lock_vm(store_, vmid);
    auto current = load_or_throw(vmid);
    if (current.config.main.get_or("lock", "") != "create") {
      throw Error("VM " + std::to_string(vmid) + " was changed during its creation", 500);
    }
    write_if_unchanged(store_, config_path(vmid), print_guest_config(config), current.version);
  }
  undo.commit();
  task.log("VM " + std::to_string(vmid) + " created");
  if (options.start) start(vmid, task);
}

void VmService::destroy(std::int64_t vmid, tasks::TaskContext& task, const DestroyOptions& options) {
  auto guard = lock_vm(store_, vmid);
  auto loaded = load_or_throw(vmid);
  const auto& conf = loaded.config.main;
  check_not_locked(loaded.config, options.skiplock);
  if (find_vm_process(paths(vmid))) throw Error("VM " + std::to_string(vmid) + " is running - destroy failed", 500);
  if (conf.get_or("protection", "0") == "1") {
    throw Error("can't remove VM " + std::to_string(vmid) + " - protection mode enabled", 500);
  }
  // Marked first, so a failure half-way leaves a VM that says why it is odd.
  {
    auto c = loaded.config;
    c.main.values["lock"] = "destroyed";
    store_.write(config_path(vmid), print_guest_config(c));
  }
  auto volumes = owned_volumes(storage_, vmid, loaded.config);
  std::set<std::string> freed(volumes.begin(), volumes.end());
  free_volumes(volumes, &task);
  if (options.destroy_unreferenced_disks) {
    for (const auto& def : storage_.all()) {
      if (def.disabled() || !storage_.on_this_node(def) || !def.content().count("images")) continue;
      try {
        storage_.activate(def);
        std::vector<std::string> extra;
        for (const auto& v : storage_.plugin(def).list_volumes(def, {"images"}, vmid)) {
          if (v.vmid == vmid && !freed.count(v.volid)) extra.push_back(v.volid);
        }
        free_volumes(extra, &task);
      } catch (const std::exception& e) {
        task.log("unable to list volumes of storage '" + def.id + "': " + e.what());
      }
    }
  }
  cleanup_locked(vmid);
  store_.remove("firewall/" + std::to_string(vmid) + ".fw");
  remove_config(vmid);
  std::error_code ec;
  std::filesystem::remove(options_.data_dir / "qemu-server" / (std::to_string(vmid) + ".log"), ec);
  task.log("destroyed VM " + std::to_string(vmid));
}

}  // namespace pvx::guest::qemu
