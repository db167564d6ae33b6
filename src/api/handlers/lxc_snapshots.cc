// /nodes/{node}/lxc/{vmid}: snapshots and rollback, clone, template, resize, feature,
// interfaces and migrate (refused clearly until clustering exists).
#include "api/handlers/lxc_common.h"
#include "api/handlers/qemu_common.h"
#include "base/process.h"
#include "guest/lxc/ct_config.h"
#include "guest/lxc/ct_service.h"
#include "guest/lxc/lxc_runtime.h"
#include "guest/snapshot_tree.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {
namespace {

namespace gl = guest::lxc;

Json list_snapshots(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  auto loaded = svc.load_or_throw(vmid);
  return snapshot_list_json(loaded.config, loaded.digest, svc.runtime(vmid).running, false);
}

Json create_snapshot(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  const std::string name = ctx.str("snapname");
  guest::check_new_snapshot_name(name);
  auto loaded = svc.load_or_throw(vmid);
  if (loaded.config.snapshots.count(name)) throw Error("snapshot name '" + name + "' already used", 500);
  const std::string description = ctx.opt_str("description").value_or("");
  return spawn_ct_task(ctx, "vzsnapshot", vmid, [&svc, vmid, name, description](tasks::TaskContext& t) {
    svc.snapshot(vmid, name, description, t);
  });
}

Json snapshot_index(RequestContext& ctx) {
  auto loaded = ct_service(ctx).load_or_throw(ctx.integer("vmid"));
  guest::snapshot_or_throw(loaded.config, ctx.str("snapname"));
  return dir_index({"rollback", "config"}, "cmd");
}

Json snapshot_config(RequestContext& ctx) {
  auto loaded = ct_service(ctx).load_or_throw(ctx.integer("vmid"));
  const auto& s = guest::snapshot_or_throw(loaded.config, ctx.str("snapname"));
  Json out = Json::object();
  for (const auto& [k, v] : s.values) out[k] = v;
  if (s.description) out["description"] = *s.description;
  return out;
}

Json update_snapshot_config(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  const std::string name = ctx.str("snapname");
  auto description = ctx.opt_str("description");
  if (!description) return nullptr;
  svc.configs().update(vmid, [&](guest::GuestConfig& c) {
    auto it = c.snapshots.find(name);
    if (it == c.snapshots.end()) throw Error("snapshot '" + name + "' does not exist", 500);
    it->second.description = *description;
    return true;
  });
  return nullptr;
}

Json delete_snapshot(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  const std::string name = ctx.str("snapname");
  guest::snapshot_or_throw(svc.load_or_throw(vmid).config, name);
  const bool force = ctx.flag("force");
  return spawn_ct_task(ctx, "vzdelsnapshot", vmid,
                       [&svc, vmid, name, force](tasks::TaskContext& t) { svc.delete_snapshot(vmid, name, force, t); });
}

Json rollback(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  const std::string name = ctx.str("snapname");
  guest::snapshot_or_throw(svc.load_or_throw(vmid).config, name);
  const bool start = ctx.flag("start");
  if (start) ctx.check("/vms/" + std::to_string(vmid), {"VM.PowerMgmt"});
  return spawn_ct_task(ctx, "vzrollback", vmid,
                       [&svc, vmid, name, start](tasks::TaskContext& t) { svc.rollback(vmid, name, start, t); });
}

Json clone_ct(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  gl::CtService::CloneParams p;
  p.newid = ctx.integer("newid");
  if (p.newid == vmid) throw Error::param("newid", "the new id must differ from the source");
  if (ctx.has("target") && ctx.str("target") != ctx.services().node) throw Error::param("target", "clones to other nodes need a cluster");
  p.hostname = ctx.opt_str("hostname").value_or("");
  p.description = ctx.opt_str("description").value_or("");
  p.storage = ctx.opt_str("storage").value_or("");
  p.snapname = ctx.opt_str("snapname").value_or("");
  p.pool = ctx.opt_str("pool").value_or("");
  auto loaded = svc.load_or_throw(vmid);
  p.full = ctx.has("full") ? ctx.flag("full") : !guest::is_template(loaded.config.main);
  if (!p.storage.empty()) {
    ctx.check("/storage/" + p.storage, {"Datastore.AllocateSpace"});
    if (!p.full) throw Error::param("storage", "a storage can only be given for full clones");
  }
  if (!p.pool.empty()) check_pool_exists(ctx, p.pool);
  std::string upid = spawn_ct_task(ctx, "vzclone", vmid, [&svc, vmid, p](tasks::TaskContext& t) { svc.clone(vmid, p, t); });
  if (!p.pool.empty()) add_vm_to_pool(ctx, p.pool, p.newid);
  return upid;
}

// PVE answers null here, so clients cannot follow a task: the conversion (a rename per volume)
// is done before the answer, in a task of PVE's type for the log.
Json template_ct(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  svc.load_or_throw(vmid);
  if (svc.runtime(vmid).running) throw Error("CT " + std::to_string(vmid) + " is running - cannot convert to a template", 500);
  auto upid = spawn_ct_task(ctx, "vztemplate", vmid, [&svc, vmid](tasks::TaskContext& t) { svc.make_template(vmid, t); });
  ctx.services().tasks->wait(upid, std::chrono::minutes(10));
  auto loaded = svc.load_or_throw(vmid);
  if (!guest::is_template(loaded.config.main)) throw Error("converting CT " + std::to_string(vmid) + " to a template failed - see task " + upid, 500);
  return nullptr;
}

Json resize_ct(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  const std::string disk = ctx.str("disk"), size = ctx.str("size"), digest = ctx.opt_str("digest").value_or("");
  auto loaded = svc.load_or_throw(vmid);
  if (auto v = loaded.config.main.get(disk); v && gl::is_mount_key(disk)) {
    auto mp = gl::parse_mount_point(disk, *v);
    if (mp.kind == gl::MountKind::Volume) ctx.check("/storage/" + mp.volume.substr(0, mp.volume.find(':')), {"Datastore.AllocateSpace"});
  }
  return spawn_ct_task(ctx, "resize", vmid,
                       [&svc, vmid, disk, size, digest](tasks::TaskContext& t) { svc.resize(vmid, disk, size, digest, t); });
}

Json move_volume(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  if (ctx.has("target-vmid") || ctx.has("target-volume")) {
    throw Error::param("target-vmid", "moving a volume to another container is not supported yet");
  }
  const std::string key = ctx.str("volume");
  auto storage = ctx.opt_str("storage");
  if (!storage) throw Error::param("storage", "property is missing and it is not optional");
  ctx.check("/storage/" + *storage, {"Datastore.AllocateSpace"});
  svc.load_or_throw(vmid);
  const bool del = ctx.flag("delete");
  const std::string digest = ctx.opt_str("digest").value_or("");
  const std::string sid = *storage;
  return spawn_ct_task(ctx, "move_volume", vmid, [&svc, vmid, key, sid, del, digest](tasks::TaskContext& t) {
    svc.move_volume(vmid, key, sid, del, digest, t);
  });
}

Json feature(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  auto loaded = svc.load_or_throw(ctx.integer("vmid"));
  const std::string f = ctx.str("feature");
  const std::string snap = ctx.opt_str("snapname").value_or("");
  const auto& section = snap.empty() ? loaded.config.main : guest::snapshot_or_throw(loaded.config, snap);
  const storage::Feature want = f == "snapshot" ? storage::Feature::Snapshot
                                : f == "clone"  ? storage::Feature::Clone
                                                : storage::Feature::Copy;
  bool ok = true;
  for (const auto& mp : gl::mount_points(section)) {
    if (mp.kind != gl::MountKind::Volume) continue;
    if (f == "snapshot" && mp.key != "rootfs" && !mp.backup) continue;
    auto r = svc.storage().resolve(mp.volume, mp.key);
    if (!r.plugin->has_feature(r.def, want, r.volname, snap)) ok = false;
  }
  return {{"hasFeature", ok}};
}

// The container's addresses, read in its network namespace by `ip -j` under nsenter, so no
// thread of pvxd changes namespace.
Json interfaces(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  auto rt = svc.runtime(vmid);
  if (!rt.running) throw Error("CT " + std::to_string(vmid) + " not running", 500);
  auto r = run_command({"nsenter", "--net=/proc/" + std::to_string(rt.pid) + "/ns/net", "ip", "-j", "addr", "show"},
                       {.timeout = std::chrono::seconds(10)});
  Json out = Json::array();
  for (const auto& link : Json::parse(r.out)) {
    Json e = {{"name", link.value("ifname", "")}, {"hwaddr", link.value("address", "")},
              {"hardware-address", link.value("address", "")}, {"ip-addresses", Json::array()}};
    for (const auto& a : link.value("addr_info", Json::array())) {
      const std::string family = a.value("family", "");
      if (family != "inet" && family != "inet6") continue;
      std::string cidr = a.value("local", "") + "/" + std::to_string(a.value("prefixlen", 0));
      if (!e.contains(family)) e[family] = cidr;
      e["ip-addresses"].push_back({{"ip-address", a.value("local", "")},
                                   {"ip-address-type", family == "inet" ? "ipv4" : "ipv6"},
                                   {"prefix", a.value("prefixlen", 0)}});
    }
    out.push_back(std::move(e));
  }
  return out;
}

Json migrate_precondition(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  svc.load_or_throw(vmid);
  return {{"running", svc.runtime(vmid).running ? 1 : 0}, {"allowed-nodes", Json::array()},
          {"not-allowed-nodes", Json::object()}, {"local-volumes", Json::array()}};
}

Json migrate(RequestContext& ctx) {
  ct_service(ctx).load_or_throw(ctx.integer("vmid"));
  throw Error::param("target", "migration needs a cluster; this node is not part of one");
}

}  // namespace

void register_lxc_snapshots(Router& r) {
  r.add(lxc_method("GET /nodes/{node}/lxc/{vmid}/snapshot", list_snapshots, {{"pct", "listsnapshot", {"vmid"}}}));
  r.add(lxc_method("POST /nodes/{node}/lxc/{vmid}/snapshot", create_snapshot, {{"pct", "snapshot", {"vmid", "snapname"}}}));
  r.add(lxc_method("GET /nodes/{node}/lxc/{vmid}/snapshot/{snapname}", snapshot_index));
  r.add(lxc_method("DELETE /nodes/{node}/lxc/{vmid}/snapshot/{snapname}", delete_snapshot,
                   {{"pct", "delsnapshot", {"vmid", "snapname"}}}));
  r.add(lxc_method("GET /nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config", snapshot_config));
  r.add(lxc_method("PUT /nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config", update_snapshot_config));
  r.add(lxc_method("POST /nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback", rollback,
                   {{"pct", "rollback", {"vmid", "snapname"}}}));
  r.add(lxc_method("POST /nodes/{node}/lxc/{vmid}/clone", clone_ct, {{"pct", "clone", {"vmid", "newid"}}}));
  r.add(lxc_method("POST /nodes/{node}/lxc/{vmid}/template", template_ct, {{"pct", "template", {"vmid"}}}));
  r.add(lxc_method("PUT /nodes/{node}/lxc/{vmid}/resize", resize_ct, {{"pct", "resize", {"vmid", "disk", "size"}}}));
  r.add(lxc_method("POST /nodes/{node}/lxc/{vmid}/move_volume", move_volume,
                   {{"pct", "move-volume", {"vmid", "volume", "storage"}}, {"pct", "move_volume", {"vmid", "volume", "storage"}}}));
  r.add(lxc_method("GET /nodes/{node}/lxc/{vmid}/feature", feature));
  r.add(lxc_method("GET /nodes/{node}/lxc/{vmid}/interfaces", interfaces));
  r.add(lxc_method("GET /nodes/{node}/lxc/{vmid}/migrate", migrate_precondition));
  r.add(lxc_method("POST /nodes/{node}/lxc/{vmid}/migrate", migrate, {{"pct", "migrate", {"vmid", "target"}}}));
}

}  // namespace pvx::api::handlers
