// /nodes/{node}/qemu/{vmid}: clone, template, resize, move_disk, feature, sendkey, monitor and
// migrate (qm clone, template, resize, move-disk, sendkey, monitor, migrate).
#include <algorithm>

#include "api/handlers/qemu_common.h"
#include "api/handlers/register.h"
#include "auth/auth_service.h"
#include "auth/user_config.h"
#include "guest/qemu/drive.h"
#include "guest/qemu/qmp.h"
#include "guest/qemu/vm_clone.h"
#include "guest/qemu/vm_disk_ops.h"
#include "guest/qemu/vm_monitor.h"
#include "guest/qemu/vm_service.h"
#include "guest/qemu/vm_volumes.h"
#include "guest/snapshot_tree.h"
#include "storage/storage_service.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;
namespace gq = guest::qemu;

// ---- clone

void check_pool_exists(RequestContext& ctx, const std::string& pool) {
  auto cfg = ctx.services().auth->user_config();
  if (!cfg->pools.count(pool)) throw Error::param("pool", "pool '" + pool + "' does not exist");
}

Json clone_vm(RequestContext& ctx) {
  auto& vms = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  gq::CloneRequest req;
  req.newid = ctx.integer("newid");
  req.name = ctx.opt_str("name");
  req.description = ctx.opt_str("description");
  req.pool = ctx.opt_str("pool");
  req.snapname = ctx.opt_str("snapname");
  req.storage = ctx.opt_str("storage");
  req.format = ctx.opt_str("format");
  req.target = ctx.opt_str("target");
  if (ctx.has("full")) req.full = ctx.flag("full");

  const std::string newvm = "/vms/" + std::to_string(req.newid);
  if (!ctx.allowed(newvm, {"VM.Allocate"}) && !(req.pool && ctx.allowed("/pool/" + *req.pool, {"VM.Allocate"}))) {
    throw Error("Permission check failed (" + newvm + ", VM.Allocate)", 403);
  }
  if (req.pool) check_pool_exists(ctx, *req.pool);
  auto plan = gq::plan_clone(vms, vmid, req, ctx.services().node);
  for (const auto& sid : plan.target_storages) ctx.check("/storage/" + sid, {"Datastore.AllocateSpace"});

  auth::AuthService* auth = ctx.services().auth;
  return spawn_vm_task(ctx, "qmclone", vmid, [&vms, plan, req, auth](tasks::TaskContext& task) {
    std::function<void()> add_to_pool;
    if (req.pool) {
      add_to_pool = [auth, &req] {
        const std::string id = std::to_string(req.newid);
        auth->update_user_config([&](auth::UserConfig& c) {
          auto it = c.pools.find(*req.pool);
          if (it == c.pools.end()) throw Error("pool '" + *req.pool + "' does not exist", 500);
          for (auto& [name, pool] : c.pools) pool.vms.erase(id);
          it->second.vms.insert(id);
        });
      };
    }
    gq::clone_vm(vms, plan, req, task, add_to_pool);
  });
}

// ---- template

Json make_template(RequestContext& ctx) {
  auto& vms = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  const std::string disk = ctx.opt_str("disk").value_or("");
  gq::mark_template(vms, vmid, disk);
  return spawn_vm_task(ctx, "qmtemplate", vmid,
                       [&vms, vmid, disk](tasks::TaskContext& task) { gq::convert_to_template(vms, vmid, disk, task); });
}

// ---- resize

Json resize(RequestContext& ctx) {
  auto& vms = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  if (ctx.flag("skiplock")) check_skiplock(ctx);
  gq::ResizeRequest req{ctx.str("disk"), ctx.str("size"), ctx.opt_str("digest").value_or(""), ctx.flag("skiplock")};
  const std::string sid = gq::check_resize(vms, vmid, req);
  ctx.check("/storage/" + sid, {"Datastore.AllocateSpace"});
  return spawn_vm_task(ctx, "resize", vmid, [&vms, vmid, req](tasks::TaskContext& task) { gq::resize_disk(vms, vmid, req, task); });
}

// ---- move disk

Json move_disk(RequestContext& ctx) {
  auto& vms = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  auto target_vmid = ctx.opt_integer("target-vmid");
  auto storage = ctx.opt_str("storage");
  if (target_vmid && *target_vmid != vmid) {
    if (storage) throw Error::param("storage", "either set 'storage' or 'target-vmid', but not both");
    throw Error("moving a disk to another VM is not supported by pvx yet", 501);
  }
  if (!storage) throw Error::param("storage", "either set 'storage' or 'target-vmid'");
  gq::MoveDiskRequest req;
  req.disk = ctx.str("disk");
  req.storage = *storage;
  req.digest = ctx.opt_str("digest").value_or("");
  req.format = ctx.opt_str("format");
  req.delete_source = ctx.flag("delete");
  ctx.check("/storage/" + req.storage, {"Datastore.AllocateSpace"});
  gq::check_move_disk(vms, vmid, req);
  return spawn_vm_task(ctx, "qmmove", vmid, [&vms, vmid, req](tasks::TaskContext& task) { gq::move_disk(vms, vmid, req, task); });
}

// ---- feature

Json feature(RequestContext& ctx) {
  auto answer = gq::vm_feature(vm_service(ctx), ctx.integer("vmid"), ctx.str("feature"), ctx.opt_str("snapname").value_or(""));
  return {{"hasFeature", answer.has ? 1 : 0}, {"nodes", answer.nodes}};
}

// ---- sendkey, monitor

Json sendkey(RequestContext& ctx) {
  auto& vms = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  if (ctx.flag("skiplock")) check_skiplock(ctx);
  auto keys = gq::sendkey_keys(ctx.str("key"));
  guest::check_not_locked(vms.load_or_throw(vmid).config, ctx.flag("skiplock"));
  vms.qmp(vmid)->execute("send-key", {{"keys", keys}});
  return nullptr;
}

Json monitor(RequestContext& ctx) {
  auto& vms = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  const std::string command = ctx.str("command");
  switch (gq::monitor_access(command)) {
    case gq::MonitorAccess::None: break;
    case gq::MonitorAccess::SysModify: ctx.check("/", {"Sys.Modify"}); break;
    case gq::MonitorAccess::Root:
      if (!ctx.who().is_root()) throw Error("Permission check failed (user != root@pam)", 403);
      break;
  }
  vms.load_or_throw(vmid);  // the VM exists
  try {
    return vms.qmp(vmid)->hmp(command);
  } catch (const Error& e) {
    return std::string("ERROR: ") + e.what();
  }
}

// ---- migrate (needs a cluster)

Json migrate_precondition(RequestContext& ctx) {
  auto& vms = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  auto loaded = vms.load_or_throw(vmid);
  Json local_disks = Json::array();
  for (const auto& [key, value] : loaded.config.main.values) {
    std::string volid;
    bool cdrom = false, unused = key.starts_with("unused");
    if (unused) {
      volid = value;
    } else if (gq::is_drive_key(key)) {
      auto d = gq::try_parse_drive(key, value);
      if (!d || !gq::is_storage_volume(d->file)) continue;
      volid = d->file;
      cdrom = d->is_cdrom();
    } else {
      continue;
    }
    try {
      auto r = vms.storage().resolve(volid);
      if (r.def.shared()) continue;
      std::int64_t size = 0;
      try {
        size = r.plugin->volume_size(r.def, r.volname).size;
      } catch (const Error&) {
      }
      local_disks.push_back({{"volid", volid}, {"size", size}, {"cdrom", cdrom ? 1 : 0}, {"is_unused", unused ? 1 : 0}});
    } catch (const Error&) {
      continue;
    }
  }
  return {{"running", vms.runtime(vmid).running ? 1 : 0},
          {"allowed_nodes", Json::array()},
          {"not_allowed_nodes", Json::object()},
          {"local_disks", local_disks},
          {"local_resources", Json::array()},
          {"mapped-resources", Json::array()},
          {"mapped-resource-info", Json::object()},
          {"has-dbus-vmstate", 0}};
}

Json migrate(RequestContext& ctx) {
  vm_service(ctx).load_or_throw(ctx.integer("vmid"));
  const std::string target = ctx.str("target");
  if (target == ctx.services().node) throw Error("target is local node.", 400);
  throw Error::param("target", "migration needs a cluster: node '" + target +
                                   "' is not a member (pvx runs single-node here)");
}

// ---- parameter declarations

std::vector<std::string> disk_keys(bool with_unused) {
  std::vector<std::string> keys;
  auto add = [&](const std::string& prefix, int n) {
    for (int i = 0; i < n; ++i) keys.push_back(prefix + std::to_string(i));
  };
  add("ide", 4);
  add("scsi", 31);
  add("virtio", 16);
  add("sata", 6);
  keys.push_back("efidisk0");
  keys.push_back("tpmstate0");
  if (with_unused) add("unused", 256);
  return keys;
}

Schema vmid_param() { return std_opt::vmid().desc("The (unique) ID of the VM."); }
Schema digest_param() {
  return string("Prevent changes if current configuration file has different SHA1 digest. This can be used to "
                "prevent concurrent modifications.")
      .max_len(40)
      .opt();
}
Schema bwlimit_param(const std::string& what) {
  return integer("Override I/O bandwidth limit (in KiB/s).").min(0).def(what + " limit from datacenter or storage config").opt();
}

}  // namespace

void register_qemu_clone(Router& r) {
  r.add({
      .name = "clone_vm",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/clone",
      .description = "Create a copy of virtual machine/template.",
      .parameters = ref(object({
          {"bwlimit", bwlimit_param("clone")},
          {"description", string("Description for the new VM.").opt()},
          {"format", enumeration({"raw", "qcow2", "vmdk"}, "Target format for file storage. Only valid for full clone.").opt()},
          {"full", boolean("Create a full copy of all disks. This is always done when you clone a normal VM. For VM "
                           "templates, we try to create a linked clone by default.")
                       .opt()},
          {"name", string("Set a name for the new VM.").fmt("dns-name").opt()},
          {"newid", std_opt::vmid().desc("VMID for the clone.")},
          {"node", std_opt::node()},
          {"pool", std_opt::poolid().desc("Add the new VM to the specified pool.").opt()},
          {"snapname", std_opt::snapshot_name().desc("The name of the snapshot.").opt()},
          {"storage", std_opt::storage_id().desc("Target storage for full clone.").opt()},
          {"target", std_opt::node().desc("Target node. Only allowed if the original VM is on shared storage.").opt()},
          {"vmid", vmid_param()},
      })),
      .returns = ref(string("the task ID.")),
      .permission = perm("/vms/{vmid}", {"VM.Clone"})
                        .describe("You need 'VM.Clone' permissions on /vms/{vmid}, and 'VM.Allocate' permissions on "
                                  "/vms/{newid} (or on the VM pool /pool/{pool}). You also need "
                                  "'Datastore.AllocateSpace' on any used storage and 'SDN.Use' on any used bridge/vnet"),
      .protected_ = true,
      .proxyto = "node",
      .handler = clone_vm,
      .cli = {{"qm", "clone", {"vmid", "newid"}}},
  });
  r.add({
      .name = "template",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/template",
      .description = "Create a Template.",
      .parameters = ref(object({
          {"disk", enumeration(disk_keys(false), "If you want to convert only 1 disk to base image.").opt()},
          {"node", std_opt::node()},
          {"vmid", vmid_param()},
      })),
      .returns = ref(string("the task ID.")),
      .permission = perm("/vms/{vmid}", {"VM.Allocate"}).describe("You need 'VM.Allocate' permissions on /vms/{vmid}"),
      .protected_ = true,
      .proxyto = "node",
      .handler = make_template,
      .cli = {{"qm", "template", {"vmid"}}},
  });
  r.add({
      .name = "resize_vm",
      .verb = Verb::Put,
      .path = "/nodes/{node}/qemu/{vmid}/resize",
      .description = "Extend volume size.",
      .parameters = ref(object({
          {"digest", digest_param()},
          {"disk", enumeration(disk_keys(false), "The disk you want to resize.")},
          {"node", std_opt::node()},
          {"size", string("The new size. With the `+` sign the value is added to the actual size of the volume and "
                          "without it, the value is taken as an absolute one. Shrinking disk size is not supported.")
                       .pat("\\+?\\d+(\\.\\d+)?[KMGT]?")},
          {"skiplock", std_opt::skiplock().opt()},
          {"vmid", vmid_param()},
      })),
      .returns = ref(string("the task ID.")),
      .permission = perm("/vms/{vmid}", {"VM.Config.Disk"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = resize,
      .cli = {{"qm", "resize", {"vmid", "disk", "size"}}, {"qm", "disk resize", {"vmid", "disk", "size"}}},
  });
  r.add({
      .name = "move_vm_disk",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/move_disk",
      .description = "Move volume to different storage or to a different VM.",
      .parameters = ref(object({
          {"bwlimit", bwlimit_param("move")},
          {"delete", boolean("Delete the original disk after successful copy. By default the original disk is kept "
                             "as unused disk.")
                         .def(0)
                         .opt()},
          {"digest", digest_param()},
          {"disk", enumeration(disk_keys(true), "The disk you want to move.")},
          {"format", enumeration({"raw", "qcow2", "vmdk"}, "Target Format.").opt()},
          {"node", std_opt::node()},
          {"storage", std_opt::storage_id().desc("Target storage.").opt()},
          {"target-digest", string("Prevent changes if the current config file of the target VM has a different SHA1 "
                                   "digest. This can be used to detect concurrent modifications.")
                                .max_len(40)
                                .opt()},
          {"target-disk", enumeration(disk_keys(true), "The config key the disk will be moved to on the target VM (for "
                                                        "example, ide0 or scsi1). Default is the source disk key.")
                              .opt()},
          {"target-vmid", std_opt::vmid().desc("The (unique) ID of the VM.").opt()},
          {"vmid", vmid_param()},
      })),
      .returns = ref(string("the task ID.")),
      .permission = perm("/vms/{vmid}", {"VM.Config.Disk"})
                        .describe("You need 'VM.Config.Disk' permissions on /vms/{vmid}, and 'Datastore.AllocateSpace' "
                                  "permissions on the storage. To move a disk to another VM, you need the permissions "
                                  "on the target VM as well."),
      .protected_ = true,
      .proxyto = "node",
      .handler = move_disk,
      .cli = {{"qm", "move-disk", {"vmid", "disk", "storage"}},
              {"qm", "move_disk", {"vmid", "disk", "storage"}},
              {"qm", "disk move", {"vmid", "disk", "storage"}}},
  });
  r.add({
      .name = "vm_feature",
      .verb = Verb::Get,
      .path = "/nodes/{node}/qemu/{vmid}/feature",
      .description = "Check if feature for virtual machine is available.",
      .parameters = ref(object({
          {"feature", enumeration({"snapshot", "clone", "copy"}, "Feature to check.")},
          {"node", std_opt::node()},
          {"snapname", std_opt::snapshot_name().desc("The name of the snapshot.").opt()},
          {"vmid", vmid_param()},
      })),
      .returns = ref(object({{"hasFeature", boolean()}, {"nodes", array(string())}})),
      .permission = perm("/vms/{vmid}", {"VM.Audit"}),
      .protected_ = true,
      .proxyto = "node",
      .blocking = true,
      .handler = feature,
  });
  r.add({
      .name = "vm_sendkey",
      .verb = Verb::Put,
      .path = "/nodes/{node}/qemu/{vmid}/sendkey",
      .description = "Send key event to virtual machine.",
      .parameters = ref(object({
          {"key", string("The key (qemu monitor encoding).")},
          {"node", std_opt::node()},
          {"skiplock", std_opt::skiplock().opt()},
          {"vmid", vmid_param()},
      })),
      .returns = ref(null_type()),
      .permission = perm("/vms/{vmid}", {"VM.Console"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = sendkey,
      .cli = {{"qm", "sendkey", {"vmid", "key"}}},
  });
  r.add({
      .name = "monitor",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/monitor",
      .description = "Execute QEMU monitor commands.",
      .parameters = ref(object({
          {"command", string("The monitor command.")},
          {"node", std_opt::node()},
          {"vmid", vmid_param()},
      })),
      .returns = ref(string()),
      .permission = perm("/vms/{vmid}", {"Sys.Audit", "Sys.Modify"}, true)
                        .describe("'help', '?' and 'info' need no further privilege; commands that only affect the "
                                  "VM need 'Sys.Modify' on '/'; commands that reach the host (files, devices, "
                                  "networking, migration) are root-only."),
      .protected_ = true,
      .proxyto = "node",
      .handler = monitor,  // `qm monitor <vmid>` (cli/qm_local.cc) sends each stdin line here
  });
  r.add({
      .name = "migrate_vm_precondition",
      .verb = Verb::Get,
      .path = "/nodes/{node}/qemu/{vmid}/migrate",
      .description = "Get preconditions for migration.",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"target", std_opt::node().desc("Target node.").opt()},
          {"vmid", vmid_param()},
      })),
      .returns = ref(object({
          {"allowed_nodes", array(string("An allowed node"), "List of nodes allowed for migration.").opt()},
          {"has-dbus-vmstate", boolean("Whether the VM host supports migrating additional VM state, such as conntrack entries.")},
          {"local_disks", array(object({{"cdrom", boolean("True if the disk is a cdrom.")},
                                         {"is_unused", boolean("True if the disk is unused.")},
                                         {"size", integer("The size of the disk in bytes.")},
                                         {"volid", string("The volid of the disk.")}}),
                                 "List local disks including CD-Rom, unused and not referenced disks")},
          {"local_resources", array(string("A local resource"), "List local resources (e.g. pci, usb) that block migration.")},
          {"mapped-resource-info", object({}, "Object of mapped resources with additional information such if they're live migratable.").additional()},
          {"mapped-resources", array(string("A mapped resource"), "List of mapped resources e.g. pci, usb. Deprecated, use 'mapped-resource-info' instead.")},
          {"not_allowed_nodes", object({}, "List of not allowed nodes with additional information.").additional().opt()},
          {"running", boolean("Determines if the VM is running.")},
      })),
      .permission = perm("/vms/{vmid}", {"VM.Migrate"}),
      .protected_ = true,
      .proxyto = "node",
      .blocking = true,
      .handler = migrate_precondition,
  });
  r.add({
      .name = "migrate_vm",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/migrate",
      .description = "Migrate virtual machine. Creates a new migration task.",
      .parameters = ref(object({
          {"bwlimit", bwlimit_param("migrate")},
          {"force", boolean("Allow to migrate VMs which use local devices. Only root may use this option.").opt()},
          {"migration_network", string("CIDR of the (sub) network that is used for migration.").fmt("CIDR").opt()},
          {"migration_type", enumeration({"secure", "insecure"}, "Migration traffic is encrypted using an SSH tunnel by "
                                                                  "default. On secure, completely private networks this "
                                                                  "can be disabled to increase performance.")
                                 .opt()},
          {"node", std_opt::node()},
          {"online", boolean("Use online/live migration if VM is running. Ignored if VM is stopped.").opt()},
          {"target", std_opt::node().desc("Target node.")},
          {"targetstorage", string("Mapping from source to target storages. Providing only a single storage ID maps "
                                   "all source storages to that storage. Providing the special value '1' will map each "
                                   "source storage to itself.")
                                .fmt("storage-pair-list")
                                .opt()},
          {"vmid", vmid_param()},
          {"with-conntrack-state", boolean("Whether to migrate conntrack entries for running VMs.").def(0).opt()},
          {"with-local-disks", boolean("Enable live storage migration for local disk").opt()},
      })),
      .returns = ref(string("the task ID.")),
      .permission = perm("/vms/{vmid}", {"VM.Migrate"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = migrate,
      .cli = {{"qm", "migrate", {"vmid", "target"}}},
  });
}

}  // namespace pvx::api::handlers
