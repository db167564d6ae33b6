#include "api/handlers/qemu_common.h"

#include <set>

#include "auth/auth_service.h"
#include "auth/user_config.h"
#include "guest/qemu/drive.h"
#include "guest/qemu/vm_service.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {
namespace {

// PVE's key groups of check_vm_modify_config_perm.
const std::set<std::string, std::less<>> kCpuKeys = {"cores", "cpu", "cpulimit", "cpuunits", "numa", "smp",
                                                     "sockets", "vcpus", "affinity"};
const std::set<std::string, std::less<>> kMemoryKeys = {"memory", "balloon", "shares", "allow-ksm"};
const std::set<std::string, std::less<>> kHwTypeKeys = {"acpi", "hotplug", "kvm", "machine", "scsihw", "smbios1",
                                                        "tablet", "vga", "watchdog", "audio0", "rng0", "ivshmem",
                                                        "arch", "hugepages", "keephugepages", "amd-sev", "intel-tdx",
                                                        "spice_enhancements"};
const std::set<std::string, std::less<>> kOptionKeys = {
    "agent", "autostart", "bios", "description", "keyboard", "localtime", "migrate_downtime", "migrate_speed",
    "name", "onboot", "ostype", "protection", "reboot", "startdate", "startup", "tdf", "template", "tags",
    "vmgenid", "hookscript"};
const std::set<std::string, std::less<>> kPowerKeys = {"freeze"};
const std::set<std::string, std::less<>> kDiskKeys = {"boot", "bootdisk", "vmstatestorage"};
const std::set<std::string, std::less<>> kCloudinitKeys = {"cicustom", "cipassword", "citype", "ciuser",
                                                           "ciupgrade", "nameserver", "searchdomain", "sshkeys"};

bool has_index(std::string_view key, std::string_view prefix) {
  return key.starts_with(prefix) && key.size() > prefix.size() &&
         key.find_first_not_of("0123456789", prefix.size()) == std::string_view::npos;
}

std::string vm_path(std::int64_t vmid) { return "/vms/" + std::to_string(vmid); }

// Read access to a volume that is not the VM's own (an ISO, another VM's image to import).
void check_volume_access(RequestContext& ctx, std::int64_t vmid, const std::string& volid) {
  auto& storage = *ctx.services().storage;
  auto r = storage.resolve(volid);
  auto parsed = r.plugin->parse_volname(r.def, r.volname);
  if (parsed.vmid == vmid && (parsed.vtype == "images" || parsed.vtype == "rootdir")) return;
  const std::string sp = "/storage/" + r.def.id;
  if (ctx.allowed(sp, {"Datastore.Allocate"})) return;
  if (parsed.vtype == "images" || parsed.vtype == "rootdir") {
    // Another guest's disk: its owner's VM.Config.Disk, as PVE's check_volume_access.
    if (parsed.vmid && ctx.allowed("/vms/" + std::to_string(parsed.vmid), {"VM.Config.Disk"}) &&
        ctx.allowed(sp, {"Datastore.AllocateSpace", "Datastore.Audit"}, true)) {
      return;
    }
    throw Error("Permission check failed (" + sp + ", Datastore.Allocate)", 403);
  }
  ctx.check(sp, {"Datastore.AllocateSpace", "Datastore.Audit"}, true);
}

}  // namespace

guest::qemu::VmService& vm_service(RequestContext& ctx) {
  auto* svc = ctx.services().qemu;
  if (!svc) throw Error("VM support is not available on this node", 501);
  return *svc;
}

void check_skiplock(RequestContext& ctx) {
  if (ctx.flag("skiplock") && !ctx.who().is_root()) throw Error::param("skiplock", "Only root may use this option.");
}

void check_vm_modify_config_perm(RequestContext& ctx, std::int64_t vmid, const std::vector<std::string>& keys) {
  const std::string path = vm_path(vmid);
  for (const auto& key : keys) {
    if (guest::qemu::is_drive_key(key) || key == "cdrom" || has_index(key, "unused") || has_index(key, "serial") ||
        has_index(key, "usb") || has_index(key, "hostpci") || has_index(key, "parallel") ||
        has_index(key, "virtiofs")) {
      continue;  // value-dependent: check_drive_access
    }
    if (kCpuKeys.count(key) || has_index(key, "numa")) {
      ctx.check(path, {"VM.Config.CPU"});
    } else if (kMemoryKeys.count(key)) {
      ctx.check(path, {"VM.Config.Memory"});
    } else if (kHwTypeKeys.count(key)) {
      ctx.check(path, {"VM.Config.HWType"});
    } else if (kOptionKeys.count(key)) {
      ctx.check(path, {"VM.Config.Options"});
      // startup order changes what the host does at boot
      if (key == "startup") ctx.check("/", {"Sys.Modify"});
    } else if (kPowerKeys.count(key)) {
      ctx.check(path, {"VM.PowerMgmt"});
    } else if (kDiskKeys.count(key)) {
      ctx.check(path, {"VM.Config.Disk"});
    } else if (has_index(key, "net")) {
      ctx.check(path, {"VM.Config.Network"});
    } else if (kCloudinitKeys.count(key) || has_index(key, "ipconfig")) {
      ctx.check(path, {"VM.Config.Cloudinit"});
    } else if (key == "vmstate") {
      ctx.check(path, {"VM.Config.Disk", "VM.PowerMgmt"});
    } else if (!ctx.who().is_root()) {
      // args, lock and whatever is new: root's alone
      throw Error("only root can set '" + key + "' config", 403);
    }
  }
}

void check_drive_access(RequestContext& ctx, std::int64_t vmid, const std::string& key, const std::string& value) {
  const std::string path = vm_path(vmid);
  // A serial socket and a SPICE USB port touch nothing of the host (PVE's check_vm_create_serial_perm
  // and check_vm_create_usb_perm); real devices are root's.
  if ((has_index(key, "serial") && value == "socket") ||
      (has_index(key, "usb") && (value == "spice" || value.starts_with("spice,") || value.starts_with("host=spice")))) {
    ctx.check(path, {"VM.Config.HWType"});
    return;
  }
  if (has_index(key, "serial") || has_index(key, "usb") || has_index(key, "hostpci") || has_index(key, "parallel") ||
      has_index(key, "virtiofs")) {
    if (!ctx.who().is_root()) throw Error("only root can set '" + key + "' config for real devices", 403);
    return;
  }
  if (has_index(key, "unused")) {
    ctx.check(path, {"VM.Config.Disk"});
    return;
  }
  std::string drive_key = key == "cdrom" ? "ide2" : key;
  if (!guest::qemu::is_drive_key(drive_key)) return;
  auto drive = guest::qemu::try_parse_drive(drive_key, value);
  if (!drive) return;  // the value check names the error
  const bool cdrom = key == "cdrom" || drive->is_cdrom();
  ctx.check(path, {cdrom ? "VM.Config.CDROM" : "VM.Config.Disk"});
  if (drive->file.empty() || drive->file == "none" || drive->file == "cdrom") return;
  if (drive->is_cloudinit() || guest::qemu::parse_new_disk(*drive)) {
    auto storage = drive->file.substr(0, drive->file.find(':'));
    ctx.check("/storage/" + storage, {"Datastore.AllocateSpace"});
  } else if (drive->file.front() == '/') {
    if (!ctx.who().is_root()) throw Error("only root can pass arbitrary filesystem paths", 403);
  } else {
    check_volume_access(ctx, vmid, drive->file);
  }
  auto from = drive->opt("import-from");
  if (!from.empty()) {
    if (from.front() == '/') {
      if (!ctx.who().is_root()) throw Error("only root can pass arbitrary filesystem paths", 403);
    } else {
      check_volume_access(ctx, vmid, from);
    }
  }
}

void check_config_change_perm(RequestContext& ctx, std::int64_t vmid,
                              const std::vector<std::pair<std::string, std::string>>& set,
                              const std::vector<std::string>& deleted) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : set) keys.push_back(k);
  for (const auto& k : deleted) keys.push_back(k);
  check_vm_modify_config_perm(ctx, vmid, keys);
  for (const auto& [k, v] : set) check_drive_access(ctx, vmid, k, v);
  for (const auto& k : deleted) {
    if (guest::qemu::is_drive_key(k) || k == "cdrom" || has_index(k, "unused")) {
      ctx.check(vm_path(vmid), {"VM.Config.Disk"});
    } else if (has_index(k, "serial") || has_index(k, "usb")) {
      ctx.check(vm_path(vmid), {"VM.Config.HWType"});
    } else if (has_index(k, "hostpci") || has_index(k, "parallel") || has_index(k, "virtiofs")) {
      if (!ctx.who().is_root()) throw Error("only root can delete '" + k + "' config", 403);
    }
  }
}

void check_pool_exists(RequestContext& ctx, const std::string& pool) {
  auto cfg = ctx.services().auth->user_config();
  if (!cfg->pools.count(pool)) throw Error::param("pool", "pool '" + pool + "' does not exist");
}

void add_vm_to_pool(RequestContext& ctx, const std::string& pool, std::int64_t vmid) {
  const std::string id = std::to_string(vmid);
  ctx.services().auth->update_user_config([&](auth::UserConfig& c) {
    auto it = c.pools.find(pool);
    if (it == c.pools.end()) throw Error("pool '" + pool + "' does not exist", 500);
    for (auto& [name, p] : c.pools) p.vms.erase(id);
    it->second.vms.insert(id);
  });
}

void remove_vm_access(auth::AuthService& auth, std::int64_t vmid) {
  const std::string id = std::to_string(vmid);
  auth.update_user_config([&](auth::UserConfig& c) {
    for (auto& [name, p] : c.pools) p.vms.erase(id);
    c.acl.erase("/vms/" + id);
  });
}

std::string spawn_vm_task(RequestContext& ctx, const std::string& type, std::int64_t vmid,
                          std::function<void(tasks::TaskContext&)> fn) {
  return ctx.services().tasks->spawn(type, std::to_string(vmid), ctx.who().full(), std::move(fn)).str();
}

void check_guest_allocate(RequestContext& ctx, std::int64_t vmid, const std::optional<std::string>& pool) {
  if (pool) {
    ctx.check("/pool/" + *pool, {"VM.Allocate"});
    check_pool_exists(ctx, *pool);
  } else {
    ctx.check("/vms/" + std::to_string(vmid), {"VM.Allocate"});
  }
}

void overrule_shutdown_tasks(RequestContext& ctx, std::int64_t vmid, const std::string& type) {
  auto& tasks = *ctx.services().tasks;
  tasks::TaskFilter f;
  f.source = "active";
  f.vmid = vmid;
  f.typefilter = type;
  f.limit = 100;
  for (const auto& t : tasks.list(f).first) {
    if (!t.running) continue;
    tasks.stop(t.upid_text);
    tasks.wait(t.upid_text, std::chrono::seconds(10));
  }
}

Json snapshot_list_json(const guest::GuestConfig& config, const std::string& digest, bool running, bool with_vmstate) {
  Json out = Json::array();
  for (const auto& [name, snap] : config.snapshots) {
    Json item = {{"name", name},
                 {"snaptime", std::stoll(snap.get_or("snaptime", "0"))},
                 {"description", snap.description.value_or("")}};
    if (with_vmstate) item["vmstate"] = snap.get_or("vmstate", "").empty() ? 0 : 1;
    if (auto p = snap.get("parent")) item["parent"] = *p;
    if (auto s = snap.get("snapstate")) item["snapstate"] = *s;
    out.push_back(std::move(item));
  }
  Json current = {{"name", "current"}, {"digest", digest}, {"running", running ? 1 : 0}, {"description", "You are here!"}};
  if (auto p = config.main.get("parent")) current["parent"] = *p;
  out.push_back(std::move(current));
  return out;
}

}  // namespace pvx::api::handlers
