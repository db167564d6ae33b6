// /nodes/{node}/lxc: the container list, create, the per-container index and destroy.
#include <set>

#include "api/handlers/lxc_common.h"
#include "api/handlers/qemu_common.h"
#include "api/handlers/register.h"
#include "guest/lxc/ct_config.h"
#include "guest/lxc/ct_schema.h"
#include "guest/lxc/ct_service.h"
#include "guest/lxc/ct_template.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {
namespace {

namespace gl = guest::lxc;

Json list_cts(RequestContext& ctx) {
  Json out = Json::array();
  for (auto& [vmid, e] : auditable_ct_entries(ctx, ct_service(ctx))) out.push_back(std::move(e));
  return out;
}

// Parameters of the create request that are not config keys.
const std::set<std::string> kCreateOnly = {"node", "vmid", "ostemplate", "password", "ssh-public-keys", "storage",
                                           "pool", "start", "unique", "restore", "force", "ignore-unpack-errors",
                                           "bwlimit", "ha-managed"};

Json create_ct(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  if (ctx.flag("restore")) throw Error::param("restore", "restore from a backup archive is not implemented yet (backup work)");
  if (ctx.flag("ha-managed")) throw Error::param("ha-managed", "HA is not available yet");
  const auto pool = ctx.opt_str("pool");
  check_guest_allocate(ctx, vmid, pool);
  gl::CtCreateParams p;
  p.ostemplate = ctx.str("ostemplate");
  p.storage = ctx.opt_str("storage").value_or("local");
  p.password = ctx.opt_str("password");
  p.ssh_public_keys = ctx.opt_str("ssh-public-keys").value_or("");
  p.unique = ctx.flag("unique");
  p.ignore_unpack_errors = ctx.flag("ignore-unpack-errors");
  std::vector<std::pair<std::string, std::string>> set;
  for (const auto& [key, value] : ctx.params().items()) {
    if (kCreateOnly.count(key)) continue;
    set.emplace_back(key, param_text(value));
  }
  if (std::none_of(set.begin(), set.end(), [](const auto& kv) { return kv.first == "rootfs"; })) {
    set.emplace_back("rootfs", p.storage + ":4");
  }
  // A bare size ("rootfs: 8") means a new volume on `storage`, as PVE reads it.
  for (auto& [k, v] : set) {
    if (!gl::is_mount_key(k)) continue;
    auto mp = gl::parse_mount_point(k, v);
    if (mp.kind == gl::MountKind::Volume && !mp.volume.empty() &&
        mp.volume.find_first_not_of("0123456789.") == std::string::npos) {
      mp.volume = p.storage + ":" + mp.volume;
      v = gl::print_mount_point(mp);
    }
  }
  check_ct_config_perm(ctx, vmid, set, {}, true);
  for (const auto& [k, v] : set) {
    if (gl::is_mount_key(k)) gl::parse_mount_point(k, v);  // 400 naming the key
    if (gl::is_net_key(k)) gl::parse_ct_net(k, v);
    p.config[k] = v;
  }
  // What can be checked before the task: the template and where new volumes go.
  if (p.ostemplate.empty() || p.ostemplate[0] == '/') {
    if (ctx.who().full() != "root@pam") throw Error::param("ostemplate", "only root can use a path as template");
  } else {
    ctx.check("/storage/" + p.ostemplate.substr(0, p.ostemplate.find(':')), {"Datastore.AllocateSpace", "Datastore.Audit"}, true);
  }
  gl::template_path(svc.storage(), p.ostemplate);
  for (const auto& [k, v] : p.config) {
    if (!gl::is_mount_key(k)) continue;
    auto mp = gl::parse_mount_point(k, v);
    if (!mp.is_new_volume()) continue;
    auto def = svc.storage().get(mp.new_volume_storage());
    if (!def.content().count("rootdir")) {
      throw Error::param(k, "storage '" + def.id + "' does not support container directories");
    }
  }
  svc.reserve(vmid);
  if (pool) {
    try {
      add_vm_to_pool(ctx, *pool, vmid);
    } catch (...) {
      svc.configs().remove(vmid);
      throw;
    }
  }
  const bool start = ctx.flag("start");
  try {
    return spawn_ct_task(ctx, "vzcreate", vmid, [&svc, vmid, p, start](tasks::TaskContext& task) {
      svc.create(vmid, p, task);
      if (start) svc.start(vmid, task);
    });
  } catch (...) {
    svc.configs().remove(vmid);
    throw;
  }
}

Json ct_index(RequestContext& ctx) {
  ct_service(ctx).load_or_throw(ctx.integer("vmid"));
  return dir_index({"config", "status", "vncproxy", "termproxy", "vncwebsocket", "spiceproxy", "migrate", "clone",
                    "rrd", "firewall", "rrddata", "snapshot", "resize", "template", "pending", "interfaces",
                    "feature", "move_volume", "mtunnel", "remote_migrate"});
}

Json destroy_ct(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  auto loaded = svc.load_or_throw(vmid);
  guest::check_not_locked(loaded.config);
  if (loaded.config.main.get_or("protection", "0") == "1") {
    throw Error("can't remove CT " + std::to_string(vmid) + " - protection mode enabled", 500);
  }
  if (svc.runtime(vmid).running && !ctx.flag("force")) {
    throw Error("CT " + std::to_string(vmid) + " is running - destroy failed", 500);
  }
  const bool purge = ctx.flag("purge");
  const bool unreferenced = ctx.flag("destroy-unreferenced-disks", true);
  auto* auth = ctx.services().auth;
  return spawn_ct_task(ctx, "vzdestroy", vmid, [&svc, vmid, purge, unreferenced, auth](tasks::TaskContext& task) {
    if (svc.runtime(vmid).running) svc.stop(vmid, task);
    svc.destroy(vmid, task, unreferenced);
    if (purge && auth) remove_vm_access(*auth, vmid);
  });
}

}  // namespace

void register_lxc_cts(Router& r) {
  LxcDeclarations declarations;
  r.add(lxc_method("GET /nodes/{node}/lxc", list_cts, {{"pct", "list", {}, {}, "", "pct-list"}}));
  r.add(lxc_method("POST /nodes/{node}/lxc", create_ct, {{"pct", "create", {"vmid", "ostemplate"}}}));
  r.add(lxc_method("GET /nodes/{node}/lxc/{vmid}", ct_index));
  r.add(lxc_method("DELETE /nodes/{node}/lxc/{vmid}", destroy_ct, {{"pct", "destroy", {"vmid"}}}));
  register_lxc_status(r);
  register_lxc_config(r);
  register_lxc_snapshots(r);
  register_lxc_console(r);
}

}  // namespace pvx::api::handlers
