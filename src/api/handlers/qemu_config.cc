// /nodes/{node}/qemu/{vmid}/config, /pending and /unlink: reading a VM's config and changing it
// (POST as a qmconfig task, PUT synchronously), with PVE's per-key permission checks.
#include <chrono>

#include "api/handlers/qemu_common.h"
#include "api/handlers/register.h"
#include "base/strings.h"
#include "guest/qemu/config_update.h"
#include "guest/qemu/vm_schema.h"
#include "guest/qemu/vm_service.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;
namespace gq = guest::qemu;

Json get_config(RequestContext& ctx) {
  auto& svc = vm_service(ctx);
  auto loaded = svc.load_or_throw(ctx.integer("vmid"));
  if (auto snap = ctx.opt_str("snapshot")) {
    if (ctx.flag("current")) throw Error::param("current", "cannot use 'snapshot' parameter with 'current'");
    auto it = loaded.config.snapshots.find(*snap);
    if (it == loaded.config.snapshots.end()) throw Error("snapshot '" + *snap + "' does not exist", 500);
    return gq::snapshot_config_json(it->second, loaded.digest);
  }
  return gq::config_json(loaded.config, ctx.flag("current"), loaded.digest);
}

Json get_pending(RequestContext& ctx) {
  auto loaded = vm_service(ctx).load_or_throw(ctx.integer("vmid"));
  auto out = gq::pending_json(loaded.config, loaded.digest);
  // PVE declares value and pending as strings: config values as they are written in the file.
  for (auto& e : out) {
    for (const char* k : {"value", "pending"}) {
      if (e.contains(k) && !e[k].is_string()) e[k] = e[k].dump();
    }
  }
  return out;
}

// The permission checks of a change request, before anything is touched.
gq::ConfigChanges checked_changes(RequestContext& ctx, const Json& params) {
  const auto vmid = ctx.integer("vmid");
  check_skiplock(ctx);
  auto changes = gq::parse_config_changes(params);
  std::vector<std::pair<std::string, std::string>> set(changes.set.begin(), changes.set.end());
  std::vector<std::string> deleted = changes.deletes;
  for (const auto& k : changes.revert) deleted.push_back(k);
  check_config_change_perm(ctx, vmid, set, deleted);
  vm_service(ctx).load_or_throw(vmid);
  return changes;
}

Json update_sync(RequestContext& ctx) {
  auto changes = checked_changes(ctx, ctx.params());
  vm_service(ctx).update_config(ctx.integer("vmid"), changes, ctx.flag("skiplock"), nullptr);
  return nullptr;
}

Json update_async(RequestContext& ctx) {
  auto changes = checked_changes(ctx, ctx.params());
  auto& svc = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  const bool skiplock = ctx.flag("skiplock");
  auto upid = spawn_vm_task(ctx, "qmconfig", vmid, [&svc, vmid, changes, skiplock](tasks::TaskContext& task) {
    svc.update_config(vmid, changes, skiplock, &task);
  });
  if (auto delay = ctx.opt_integer("background_delay")) {
    auto& tasks = *ctx.services().tasks;
    if (tasks.wait(upid, std::chrono::seconds(*delay))) {
      auto st = tasks.status(upid);
      if (st && st->exitstatus != "OK" && !st->exitstatus.starts_with("WARNINGS")) throw Error(st->exitstatus, 500);
      return nullptr;
    }
  }
  return upid;
}

Json unlink_disks(RequestContext& ctx) {
  Json params = {{"delete", ctx.str("idlist")}};
  if (ctx.flag("force")) params["force"] = true;
  auto changes = checked_changes(ctx, params);
  vm_service(ctx).update_config(ctx.integer("vmid"), changes, false, nullptr);
  return nullptr;
}

std::vector<std::pair<std::string, Schema>> change_params(bool async) {
  std::vector<std::pair<std::string, Schema>> p = gq::vm_config_params();
  p.emplace_back("node", std_opt::node());
  p.emplace_back("vmid", std_opt::vmid());
  p.emplace_back("skiplock", std_opt::skiplock());
  p.emplace_back("delete", string("A list of settings you want to delete.").fmt("pve-configid-list").opt());
  p.emplace_back("revert", string("Revert a pending change.").fmt("pve-configid-list").opt());
  p.emplace_back("force", boolean("Force physical removal. Without this, we simple remove the disk from the config "
                                  "file and create an additional configuration entry called 'unused[n]', which "
                                  "contains the volume ID. Unlink of unused[n] always cause physical removal.")
                              .req("delete")
                              .opt());
  p.emplace_back("digest", string("Prevent changes if current configuration file has different SHA1 digest. This can "
                                  "be used to prevent concurrent modifications.")
                               .max_len(40)
                               .opt());
  if (async) {
    p.emplace_back("background_delay",
                   integer("Time to wait for the task to finish. We return 'null' if the task finish within that time.")
                       .min(1)
                       .max(30)
                       .opt());
    p.emplace_back("import-working-storage",
                   std_opt::storage_id()
                       .desc("A file-based storage with 'images' content-type enabled, which is used as an "
                             "intermediary extraction storage during import. Defaults to the source storage.")
                       .opt());
  }
  return p;
}

Permission config_perm() {
  return perm("/vms/{vmid}",
              {"VM.Config.Disk", "VM.Config.CDROM", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network",
               "VM.Config.HWType", "VM.Config.Options", "VM.Config.Cloudinit"},
              true);
}

Schema config_returns() {
  auto s = object({{"digest", string("SHA1 digest of configuration file. This can be used to prevent concurrent "
                                     "modifications.")}},
                  "The VM configuration.");
  return std::move(s).additional();
}

}  // namespace

void register_qemu_config(Router& r) {
  r.add({
      .name = "vm_config",
      .verb = Verb::Get,
      .path = "/nodes/{node}/qemu/{vmid}/config",
      .description = "Get the virtual machine configuration with pending configuration changes applied. Set the "
                     "'current' parameter to get the current configuration instead.",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"vmid", std_opt::vmid()},
          {"current", boolean("Get current values (instead of pending values).").def(0).opt()},
          {"snapshot", std_opt::snapshot_name().desc("Fetch config values from given snapshot.").opt()},
      })),
      .returns = ref(config_returns()),
      .permission = perm("/vms/{vmid}", {"VM.Audit"}),
      .proxyto = "node",
      .blocking = true,
      .handler = get_config,
      .cli = {{"qm", "config", {"vmid"}, {}, "", "qm-config"}},
  });
  r.add({
      .name = "update_vm_async",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/config",
      .description = "Set virtual machine options (asynchronous API).",
      .parameters = ref(object(change_params(true))),
      .returns = ref(string().opt()),
      .permission = config_perm(),
      .protected_ = true,
      .proxyto = "node",
      .handler = update_async,
  });
  r.add({
      .name = "update_vm",
      .verb = Verb::Put,
      .path = "/nodes/{node}/qemu/{vmid}/config",
      .description = "Set virtual machine options (synchronous API) - You should consider using the POST method "
                     "instead for any actions involving hotplug or storage allocation.",
      .parameters = ref(object(change_params(false))),
      .returns = ref(null_type()),
      .permission = config_perm(),
      .protected_ = true,
      .proxyto = "node",
      .handler = update_sync,
      .cli = {{"qm", "set", {"vmid"}}, {"qm", "unlock", {"vmid"}, {{"delete", "lock"}, {"skiplock", "1"}}}},
  });
  r.add({
      .name = "vm_pending",
      .verb = Verb::Get,
      .path = "/nodes/{node}/qemu/{vmid}/pending",
      .description = "Get the virtual machine configuration with both current and pending values.",
      .parameters = ref(object({{"node", std_opt::node()}, {"vmid", std_opt::vmid()}})),
      .returns = ref(array(object({
          {"key", string("Configuration option name.")},
          {"value", string("Current value.").opt()},
          {"pending", string("Pending value.").opt()},
          {"delete", integer("Indicates a pending delete request if present and not 0. The value 2 indicates a "
                             "force-delete request.")
                         .min(0)
                         .max(2)
                         .opt()},
      }))),
      .permission = perm("/vms/{vmid}", {"VM.Audit"}),
      .proxyto = "node",
      .blocking = true,
      .handler = get_pending,
      .cli = {{"qm", "pending", {"vmid"}, {}, "", "qm-pending"}},
  });
  r.add({
      .name = "unlink",
      .verb = Verb::Put,
      .path = "/nodes/{node}/qemu/{vmid}/unlink",
      .description = "Unlink/delete disk images.",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"vmid", std_opt::vmid()},
          {"idlist", string("A list of disk IDs you want to delete.").fmt("pve-configid-list")},
          {"force", boolean("Force physical removal. Without this, we simple remove the disk from the config file and "
                            "create an additional configuration entry called 'unused[n]', which contains the volume "
                            "ID. Unlink of unused[n] always cause physical removal.")
                        .opt()},
      })),
      .returns = ref(null_type()),
      .permission = perm("/vms/{vmid}", {"VM.Config.Disk"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = unlink_disks,
      .cli = {{"qm", "unlink", {"vmid"}}},
  });
}

}  // namespace pvx::api::handlers
