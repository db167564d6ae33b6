// /nodes/{node}/qemu/{vmid}/snapshot: the snapshot tree of a VM, snapshot create, delete,
// rollback and snapshot metadata (qm snapshot, listsnapshot, rollback, delsnapshot).
#include "api/handlers/qemu_common.h"
#include "api/handlers/register.h"
#include "guest/qemu/vm_schema.h"
#include "guest/qemu/vm_service.h"
#include "guest/qemu/vm_snapshot.h"
#include "guest/snapshot_tree.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;
namespace gq = guest::qemu;

Json list_snapshots(RequestContext& ctx) {
  auto& vms = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  auto loaded = vms.load_or_throw(vmid);
  return snapshot_list_json(loaded.config, loaded.digest, vms.runtime(vmid).running, true);
}

Json create_snapshot(RequestContext& ctx) {
  auto& vms = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  gq::SnapshotRequest request{ctx.str("snapname"), ctx.flag("vmstate"), ctx.opt_str("description")};
  gq::check_snapshot_create(vms, vmid, request);
  return spawn_vm_task(ctx, "qmsnapshot", vmid,
                       [&vms, vmid, request](tasks::TaskContext& task) { gq::snapshot_create(vms, vmid, request, task); });
}

Json snapshot_index(RequestContext&) { return Json::array({{{"cmd", "rollback"}}, {{"cmd", "config"}}}); }

Json delete_snapshot(RequestContext& ctx) {
  auto& vms = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  const std::string name = ctx.str("snapname");
  const bool force = ctx.flag("force");
  gq::check_snapshot_delete(vms, vmid, name);
  return spawn_vm_task(ctx, "qmdelsnapshot", vmid,
                       [&vms, vmid, name, force](tasks::TaskContext& task) { gq::snapshot_delete(vms, vmid, name, force, task); });
}

Json snapshot_config(RequestContext& ctx) {
  auto& vms = vm_service(ctx);
  auto loaded = vms.load_or_throw(ctx.integer("vmid"));
  const auto& snap = guest::snapshot_or_throw(loaded.config, ctx.str("snapname"));
  Json out = Json::object();
  for (const auto& [key, value] : snap.values) {
    if (key == "snaptime") {
      out[key] = std::stoll(value);
    } else {
      out[key] = gq::vm_value_json(key, value);
    }
  }
  if (snap.description) out["description"] = *snap.description;
  return out;
}

Json update_snapshot_config(RequestContext& ctx) {
  auto description = ctx.opt_str("description");
  if (!description) return nullptr;
  const std::string name = ctx.str("snapname");
  vm_service(ctx).update(ctx.integer("vmid"), [&](guest::GuestConfig& c) {
    guest::check_not_locked(c);
    auto it = c.snapshots.find(name);
    if (it == c.snapshots.end()) throw Error("snapshot '" + name + "' does not exist", 500);
    if (description->empty()) {
      it->second.description.reset();
    } else {
      it->second.description = *description;
    }
    return true;
  });
  return nullptr;
}

Json rollback(RequestContext& ctx) {
  auto& vms = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  const std::string name = ctx.str("snapname");
  const bool start = ctx.flag("start");
  gq::check_snapshot_rollback(vms, vmid, name);
  return spawn_vm_task(ctx, "qmrollback", vmid,
                       [&vms, vmid, name, start](tasks::TaskContext& task) { gq::snapshot_rollback(vms, vmid, name, start, task); });
}

Schema vmid_param() { return std_opt::vmid().desc("The (unique) ID of the VM."); }
Schema snapname_param() { return std_opt::snapshot_name().desc("The name of the snapshot."); }

}  // namespace

void register_qemu_snapshots(Router& r) {
  r.add({
      .name = "snapshot_list",
      .verb = Verb::Get,
      .path = "/nodes/{node}/qemu/{vmid}/snapshot",
      .description = "List all snapshots.",
      .parameters = ref(object({{"node", std_opt::node()}, {"vmid", vmid_param()}})),
      .returns = ref(array(object({
          {"description", string("Snapshot description.")},
          // PVE also answers these three, though its schema does not declare them.
          {"digest", string("The current config's SHA1 digest (entry 'current' only).").opt()},
          {"name", string("Snapshot identifier. Value 'current' identifies the current VM.")},
          {"parent", string("Parent snapshot identifier.").opt()},
          {"running", boolean("Whether the VM runs (entry 'current' only).").opt()},
          {"snapstate", string("Unfinished snapshot: 'prepare' or 'delete'.").opt()},
          {"snaptime", integer("Snapshot creation time").render("timestamp").opt()},
          {"vmstate", boolean("Snapshot includes RAM.").opt()},
      })).link("{name}")),
      .permission = perm("/vms/{vmid}", {"VM.Audit"}),
      .protected_ = true,
      .proxyto = "node",
      .blocking = true,
      .handler = list_snapshots,
      .cli = {{"qm", "listsnapshot", {"vmid"}}},
  });
  r.add({
      .name = "snapshot",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/snapshot",
      .description = "Snapshot a VM.",
      .parameters = ref(object({
          {"description", string("A textual description or comment.").opt()},
          {"node", std_opt::node()},
          {"snapname", snapname_param()},
          {"vmid", vmid_param()},
          {"vmstate", boolean("Save the vmstate").opt()},
      })),
      .returns = ref(string("the task ID.")),
      .permission = perm("/vms/{vmid}", {"VM.Snapshot"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = create_snapshot,
      .cli = {{"qm", "snapshot", {"vmid", "snapname"}}},
  });
  r.add({
      .name = "snapshot_cmd_idx",
      .verb = Verb::Get,
      .path = "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}",
      .description = "",
      .parameters = ref(object({{"node", std_opt::node()}, {"snapname", snapname_param()}, {"vmid", vmid_param()}})),
      .returns = ref(array(object({})).link("{cmd}")),
      .permission = all(),
      .handler = snapshot_index,
  });
  r.add({
      .name = "delsnapshot",
      .verb = Verb::Delete,
      .path = "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}",
      .description = "Delete a VM snapshot.",
      .parameters = ref(object({
          {"force", boolean("For removal from config file, even if removing disk snapshots fails.").opt()},
          {"node", std_opt::node()},
          {"snapname", snapname_param()},
          {"vmid", vmid_param()},
      })),
      .returns = ref(string("the task ID.")),
      .permission = perm("/vms/{vmid}", {"VM.Snapshot"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = delete_snapshot,
      .cli = {{"qm", "delsnapshot", {"vmid", "snapname"}}},
  });
  r.add({
      .name = "get_snapshot_config",
      .verb = Verb::Get,
      .path = "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config",
      .description = "Get snapshot configuration",
      .parameters = ref(object({{"node", std_opt::node()}, {"snapname", snapname_param()}, {"vmid", vmid_param()}})),
      .returns = ref(object({}).additional()),
      .permission = perm("/vms/{vmid}", {"VM.Snapshot", "VM.Snapshot.Rollback", "VM.Audit"}, true),
      .proxyto = "node",
      .handler = snapshot_config,
  });
  r.add({
      .name = "update_snapshot_config",
      .verb = Verb::Put,
      .path = "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config",
      .description = "Update snapshot metadata.",
      .parameters = ref(object({
          {"description", string("A textual description or comment.").opt()},
          {"node", std_opt::node()},
          {"snapname", snapname_param()},
          {"vmid", vmid_param()},
      })),
      .returns = ref(null_type()),
      .permission = perm("/vms/{vmid}", {"VM.Snapshot"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = update_snapshot_config,
  });
  r.add({
      .name = "rollback",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback",
      .description = "Rollback VM state to specified snapshot.",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"snapname", snapname_param()},
          {"start", boolean("Whether the VM should get started after rolling back successfully. (Note: VMs will be "
                            "automatically started if the snapshot includes RAM.)")
                        .def(0)
                        .opt()},
          {"vmid", vmid_param()},
      })),
      .returns = ref(string("the task ID.")),
      .permission = perm("/vms/{vmid}", {"VM.Snapshot", "VM.Snapshot.Rollback"}, true),
      .protected_ = true,
      .proxyto = "node",
      .handler = rollback,
      .cli = {{"qm", "rollback", {"vmid", "snapname"}}},
  });
}

}  // namespace pvx::api::handlers
