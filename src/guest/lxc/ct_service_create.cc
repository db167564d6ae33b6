// CtService: create from an OS template (volumes allocated, template unpacked with the id
// shift of unprivileged containers, first-boot setup) and destroy.
#include <unistd.h>

#include <fstream>

#include "base/error.h"
#include "base/log.h"
#include "base/process.h"
#include "base/rollback.h"
#include "guest/lxc/ct_schema.h"
#include "guest/lxc/ct_service.h"
#include "guest/lxc/ct_service_impl.h"
#include "guest/lxc/ct_setup.h"
#include "guest/lxc/ct_template.h"
#include "guest/lxc/ct_volumes.h"
#include "guest/qemu/net.h"
#include "storage/storage_service.h"
#include "storage/volume_id.h"
#include "tasks/task_runner.h"

namespace pvx::guest::lxc {

namespace fs = std::filesystem;

namespace {

// Whether `file` ("/etc/subuid") gives root the range PVE's id map uses.
bool has_root_range(const char* file) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':'), b = line.rfind(':');
    if (a == std::string::npos || a == b) continue;
    std::string user = line.substr(0, a);
    if (user != "root" && user != "0") continue;
    try {
      long long start = std::stoll(line.substr(a + 1, b - a - 1)), count = std::stoll(line.substr(b + 1));
      if (start <= kUnprivilegedIdBase && start + count >= kUnprivilegedIdBase + kUnprivilegedIdCount) return true;
    } catch (const std::exception&) {
    }
  }
  return false;
}

}  // namespace

// liblxc maps ids through newuidmap/newgidmap when they are installed; those only grant ranges
// /etc/subuid and /etc/subgid give root.
void check_subid_ranges() {
  if (!command_exists("newuidmap")) return;
  std::vector<std::string> missing;
  if (!has_root_range("/etc/subuid")) missing.push_back("/etc/subuid");
  if (!has_root_range("/etc/subgid")) missing.push_back("/etc/subgid");
  if (missing.empty()) return;
  std::string files = missing[0] + (missing.size() > 1 ? " and " + missing[1] : "");
  throw Error("unprivileged containers need the id range 'root:" + std::to_string(kUnprivilegedIdBase) + ":" +
                  std::to_string(kUnprivilegedIdCount) + "' in " + files,
              500);
}

fs::path template_path(storage::StorageService& storage, const std::string& ostemplate) {
  if (!ostemplate.empty() && ostemplate[0] == '/') {
    if (!fs::is_regular_file(ostemplate)) throw Error::param("ostemplate", "can't find file '" + ostemplate + "'");
    return ostemplate;
  }
  auto r = storage.resolve(ostemplate, "ostemplate");
  auto vn = r.plugin->parse_volname(r.def, r.volname);
  if (vn.vtype != "vztmpl" && vn.vtype != "backup") {
    throw Error::param("ostemplate", "volume '" + ostemplate + "' is not a container template");
  }
  storage.activate(r.def);
  fs::path p = r.plugin->path(r.def, r.volname);
  if (!fs::is_regular_file(p)) throw Error::param("ostemplate", "template '" + ostemplate + "' does not exist");
  return p;
}

void CtService::create(std::int64_t vmid, const CtCreateParams& params, tasks::TaskContext& task) {
  GuestConfig config;
  config.main.values["lock"] = "create";
  Rollback undo;
  undo.add([this, vmid] {
    configs_.remove(vmid);
    std::error_code ec;
    fs::remove_all(ct_dir(vmid), ec);
  });

  auto& conf = config.main;
  for (const auto& [k, v] : params.config) {
    if (k == "description") {
      conf.description = v;
    } else {
      conf.values[k] = v;
    }
  }
  if (!conf.has("rootfs")) conf.values["rootfs"] = params.storage + ":4";
  if (!conf.has("arch")) conf.values["arch"] = "amd64";
  const bool unprivileged = ct_unprivileged(conf);
  const uid_t root_id = unprivileged ? kUnprivilegedIdBase : 0;
  if (unprivileged) check_subid_ranges();
  for (const auto& n : ct_nets(conf)) {
    if (!n.hwaddr.empty()) continue;
    auto copy = n;
    copy.hwaddr = qemu::generate_mac();
    conf.values[n.key] = print_ct_net(copy);
  }
  const fs::path tarball = template_path(storage_, params.ostemplate);

  // New volumes ("local:8") for rootfs and mount points.
  for (auto mp : mount_points(conf)) {
    if (!mp.is_new_volume()) continue;
    task.log(mp.key + ": allocating " + std::to_string(mp.new_volume_gib()) + " GiB on '" + mp.new_volume_storage() + "'");
    std::string volid = alloc_ct_volume(storage_, mp.key, mp.new_volume_storage(), vmid, mp.new_volume_gib(), root_id, root_id);
    undo.add([this, volid] {
      auto r = storage_.resolve(volid);
      r.plugin->free_image(r.def, r.volname);
    });
    const double gib = mp.new_volume_gib();
    mp.volume = volid;
    if (gib > 0) mp.size = static_cast<std::int64_t>(gib * 1024 * 1024 * 1024);
    else mp.props.erase("size");
    conf.values[mp.key] = print_mount_point(mp);
  }

  const fs::path dir = ct_dir(vmid);
  fs::create_directories(dir);
  auto rootfs = parse_mount_point("rootfs", conf.values["rootfs"]);
  auto root = attach_ct_volume(storage_, rootfs, dir / "rootfs");
  {
    Rollback unmount;
    if (root.mounted) unmount.add([p = dir / "rootfs"] { unmount_ct_volume(p); });
    task.log("extracting archive '" + tarball.string() + "'");
    auto n = extract_template(tarball, root.dir,
                              {.id_shift = root_id,
                               .ignore_errors = params.ignore_unpack_errors,
                               .log = [&task](const std::string& l) { task.warn(l); }});
    task.log("Total files extracted: " + std::to_string(n));
    std::string ostype = conf.get_or("ostype", "");
    if (ostype.empty()) {
      ostype = detect_ostype(root.dir);
      conf.values["ostype"] = ostype;
    }
    task.log("Detected OS type: " + ostype);
    auto sp = ct_setup_params(vmid, conf, ostype);
    sp.log = [&task](const std::string& line) { task.warn(line); };
    setup_at_create(root.dir, sp, params.password, params.ssh_public_keys);
  }
  conf.values.erase("lock");
  configs_.update(vmid, [&](GuestConfig& c) {
    c = config;
    return true;
  });
  undo.commit();
  // Only empty directories go: the run directory is made again at the first start.
  std::error_code ec;
  fs::remove(dir / "rootfs", ec);
  fs::remove(dir, ec);
}

void CtService::reserve(std::int64_t vmid) {
  GuestConfig c;
  c.main.values["lock"] = "create";
  configs_.create(vmid, c);
}

void CtService::destroy(std::int64_t vmid, tasks::TaskContext& task, bool destroy_unreferenced) {
  auto loaded = configs_.load_or_throw(vmid);
  const auto& conf = loaded.config.main;
  check_not_locked(loaded.config);
  if (conf.get_or("protection", "0") == "1") throw Error("can't remove CT " + std::to_string(vmid) + " - protection mode enabled", 500);
  if (runtime(vmid).running) throw Error("CT " + std::to_string(vmid) + " is running - destroy failed", 500);
  configs_.with_lock(vmid, "destroyed", [&] {
    std::set<std::string> volids;
    auto collect = [&](const ConfigSection& s) {
      for (const auto& mp : mount_points(s)) {
        if (mp.kind == MountKind::Volume) volids.insert(mp.volume);
      }
      for (const auto& [k, v] : s.values) {
        if (k.starts_with("unused")) volids.insert(v);
      }
    };
    collect(conf);
    collect(loaded.config.pending);
    for (const auto& volid : volids) {
      auto id = storage::VolumeId::try_parse(volid);
      if (!id) continue;
      try {
        auto r = storage_.resolve(volid);
        auto vn = r.plugin->parse_volname(r.def, r.volname);
        if (vn.vmid != vmid) continue;  // another guest's volume (a template base) stays
        task.log("destroying volume '" + volid + "'");
        r.plugin->free_image(r.def, r.volname);
      } catch (const Error& e) {
        task.warn("unable to free '" + volid + "': " + e.what());
      }
    }
    if (destroy_unreferenced) {
      for (const auto& def : storage_.all()) {
        if (def.disabled() || !storage_.on_this_node(def)) continue;
        try {
          const auto& plugin = storage_.plugin(def);
          for (const auto& v : plugin.list_volumes(def, {"images", "rootdir"}, vmid)) {
            auto id = storage::VolumeId::parse(v.volid);
            task.log("destroying unreferenced volume '" + v.volid + "'");
            plugin.free_image(def, id.volname);
          }
        } catch (const Error& e) {
          task.warn("storage '" + def.id + "': " + e.what());
        }
      }
    }
  });
  configs_.remove(vmid);
  std::error_code ec;
  fs::remove_all(ct_dir(vmid), ec);
}

}  // namespace pvx::guest::lxc
