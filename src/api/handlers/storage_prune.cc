// /nodes/{node}/storage/{storage}/prunebackups: which backups the retention options keep
// (GET, a dry run) and removing the others (DELETE, a task). pvesm prune-backups.
#include "api/handlers/common.h"
#include "api/handlers/register.h"
#include "storage/file_formats.h"
#include "storage/prune.h"
#include "storage/storage_properties.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;

std::vector<storage::PruneEntry> marked_backups(RequestContext& ctx, storage::StorageService& svc,
                                                const storage::StorageDef& def) {
  svc.activate(def);
  auto type = ctx.opt_str("type");
  auto vmid = ctx.integer_or("vmid", 0);
  std::vector<storage::PruneEntry> entries;
  for (const auto& v : svc.plugin(def).list_volumes(def, {"backup"}, vmid)) {
    auto name = v.volid.substr(v.volid.find('/') + 1);
    auto kind = storage::classify_file("backup", name);
    std::string subtype = kind ? kind->subtype : "";
    if (type && subtype != *type) continue;
    entries.push_back({v.volid, v.ctime, subtype, v.vmid, v.is_protected, ""});
  }
  std::string opts = ctx.opt_str("prune-backups").value_or(def.str("prune-backups"));
  storage::check_prune_options(opts);
  storage::prune_mark(entries, storage::parse_prune_options(opts));
  return entries;
}

Json dry_run(RequestContext& ctx) {
  auto& svc = *ctx.services().storage;
  auto def = svc.get(ctx.str("storage"));
  Json out = Json::array();
  for (const auto& e : marked_backups(ctx, svc, def)) {
    Json j = {{"volid", e.volid}, {"ctime", e.ctime}, {"mark", e.mark}, {"type", e.type}};
    if (e.vmid) j["vmid"] = e.vmid;
    out.push_back(j);
  }
  return out;
}

Json prune(RequestContext& ctx) {
  auto& svc = *ctx.services().storage;
  auto def = svc.get(ctx.str("storage"));
  const std::string path = "/storage/" + def.id;
  auto vmid = ctx.opt_integer("vmid");
  bool ok = ctx.allowed(path, {"Datastore.Allocate"}) ||
            (vmid && ctx.allowed(path, {"Datastore.AllocateSpace"}) &&
             ctx.allowed("/vms/" + std::to_string(*vmid), {"VM.Backup"}));
  if (!ok) throw Error("Permission check failed (" + path + ", Datastore.Allocate)", 403);
  auto entries = marked_backups(ctx, svc, def);
  const auto* plugin = &svc.plugin(def);
  auto upid = ctx.services().tasks->spawn("prunebackups", def.id, ctx.who().full(),
                                          [entries, def, plugin](tasks::TaskContext& task) {
    int removed = 0;
    for (const auto& e : entries) {
      if (e.mark != "remove") continue;
      task.check_abort();
      task.log("removing backup '" + e.volid + "'");
      plugin->free_image(def, e.volid.substr(e.volid.find(':') + 1));
      ++removed;
    }
    task.log("removed " + std::to_string(removed) + " backup(s)");
  });
  return upid.str();
}

std::vector<std::pair<std::string, Schema>> prune_params(const char* vmid_desc) {
  return {{"node", std_opt::node()},
          {"storage", std_opt::storage_id().desc("The storage identifier.")},
          {"prune-backups", Schema(storage::prune_backups_schema()).desc("Use these retention options instead of those from the storage configuration.").opt()},
          {"type", enumeration({"qemu", "lxc"}, "Either 'qemu' or 'lxc'. Only consider backups for guests of this type.").opt()},
          {"vmid", std_opt::vmid().desc(vmid_desc).opt()}};
}

}  // namespace

void register_storage_prune(Router& r) {
  r.add({
      .name = "dryrun",
      .verb = Verb::Get,
      .path = "/nodes/{node}/storage/{storage}/prunebackups",
      .description = "Get prune information for backups. NOTE: this is only a preview and might not be what a "
                     "subsequent prune call does if backups are removed/added in the meantime.",
      .parameters = ref(object(prune_params("Only consider backups for this guest."))),
      .returns = ref(array(object({{"volid", string("Backup volume ID.")},
                                   {"ctime", integer("Creation time of the backup (seconds since the UNIX epoch).")},
                                   {"mark", string("Whether the backup would be kept or removed. Backups that are "
                                                   "protected or don't use the standard naming scheme are not removed.")},
                                   {"type", string("One of 'qemu', 'lxc', 'openvz' or 'unknown'.")},
                                   {"vmid", integer("The VM the backup belongs to.").opt()}}))),
      .permission = perm("/storage/{storage}", {"Datastore.Audit", "Datastore.AllocateSpace"}, true),
      .protected_ = true,
      .proxyto = "node",
      .blocking = true,
      .handler = dry_run,
  });
  r.add({
      .name = "delete",
      .verb = Verb::Delete,
      .path = "/nodes/{node}/storage/{storage}/prunebackups",
      .description = "Prune backups. Only those using the standard naming scheme are considered.",
      .parameters = ref(object(prune_params("Only prune backups for this VM."))),
      .returns = ref(string()),
      .permission = all().describe("You need the 'Datastore.Allocate' privilege on the storage (or if a VM ID is "
                                   "specified, 'Datastore.AllocateSpace' and 'VM.Backup' for the VM)."),
      .protected_ = true,
      .proxyto = "node",
      .handler = prune,
  });
}

}  // namespace pvx::api::handlers
