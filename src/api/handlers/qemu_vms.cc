// /nodes/{node}/qemu: the VM list, create, the per-VM index, destroy and pvx's showcmd; the
// status and config methods of the same area are in qemu_status.cc and qemu_config.cc.
#include <ctime>
#include <set>

#include "api/handlers/qemu_common.h"
#include "api/handlers/register.h"
#include "base/process.h"
#include "guest/qemu/drive.h"
#include "guest/qemu/vm_schema.h"
#include "guest/qemu/vm_service.h"
#include "guest/qemu/vm_summary.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;
namespace gq = guest::qemu;

Schema vm_list_entry() {
  return object({
      {"vmid", std_opt::vmid()},
      {"status", enumeration({"stopped", "running"}, "QEMU process status.")},
      {"name", string("VM (host)name.").opt()},
      {"cpus", number("Maximum usable CPUs.").opt()},
      {"cpu", number("Current CPU usage.").opt()},
      {"maxmem", integer("Maximum memory in bytes.").render("bytes").opt()},
      {"mem", integer("Currently used memory in bytes.").render("bytes").opt()},
      {"maxdisk", integer("Root disk size in bytes.").render("bytes").opt()},
      {"disk", integer("Currently used root disk space in bytes.").render("bytes").opt()},
      {"uptime", integer("Uptime in seconds.").render("duration").opt()},
      {"pid", integer("PID of the QEMU process, if the VM is running.").opt()},
      {"netin", integer("The amount of traffic in bytes that was sent to the guest over the network since it was started.").opt()},
      {"netout", integer("The amount of traffic in bytes that was sent from the guest over the network since it was started.").opt()},
      {"diskread", integer("The amount of bytes the guest read from it's block devices since the guest was started.").opt()},
      {"diskwrite", integer("The amount of bytes the guest wrote from it's block devices since the guest was started.").opt()},
      {"template", boolean("Determines if the guest is a template.").def(0).opt()},
      {"tags", string("The current configured tags, if any").opt()},
      {"lock", string("The current config lock, if any.").opt()},
      {"qmpstatus", string("VM run state from the 'query-status' QMP monitor command.").opt()},
      {"serial", boolean("Guest has serial device configured.").opt()},
  });
}

}  // namespace

Json vm_status_entry(gq::VmService& svc, std::int64_t vmid, const gq::LoadedConfig& loaded, const gq::VmRuntime& rt,
                     bool blockstats) {
  const auto& conf = loaded.config.main;
  const int cpus = loaded.figures.cpus;
  Json e = {{"vmid", vmid},
            {"status", rt.running ? "running" : "stopped"},
            {"cpus", cpus},
            {"maxmem", loaded.figures.maxmem},
            {"maxdisk", loaded.figures.maxdisk},
            {"disk", 0},
            {"cpu", 0},
            {"mem", 0},
            {"uptime", 0},
            {"netin", 0},
            {"netout", 0},
            {"diskread", 0},
            {"diskwrite", 0}};
  if (auto name = conf.get("name")) e["name"] = *name;
  if (auto tags = conf.get("tags")) e["tags"] = *tags;
  if (auto lock = conf.get("lock")) e["lock"] = *lock;
  if (conf.get_or("template", "0") == "1") e["template"] = 1;
  for (int i = 0; i < 4; ++i) {
    if (conf.has("serial" + std::to_string(i))) e["serial"] = 1;
  }
  if (rt.running) {
    auto u = svc.usage(vmid, rt, blockstats);
    e["pid"] = rt.pid;
    e["uptime"] = u.uptime;
    e["cpu"] = cpus > 0 ? u.cpu / cpus : u.cpu;
    e["mem"] = u.mem;
    e["netin"] = u.netin;
    e["netout"] = u.netout;
    e["diskread"] = u.diskread;
    e["diskwrite"] = u.diskwrite;
  }
  return e;
}

std::vector<std::pair<std::int64_t, Json>> auditable_vm_entries(RequestContext& ctx, gq::VmService& svc,
                                                                bool with_qmpstatus) {
  const auto configs = svc.all_configs();
  std::vector<std::int64_t> visible;
  for (const auto& [vmid, loaded] : configs) {
    if (ctx.allowed("/vms/" + std::to_string(vmid), {"VM.Audit"})) visible.push_back(vmid);
  }
  // One directory scan finds the VMs with a pid file; only those are looked up in /proc.
  const auto runtimes = svc.runtimes(visible);
  std::vector<std::pair<std::int64_t, Json>> out;
  out.reserve(visible.size());
  for (auto vmid : visible) {
    const auto& rt = runtimes.at(vmid);
    Json e = vm_status_entry(svc, vmid, *configs.at(vmid), rt, false);
    if (with_qmpstatus) e["qmpstatus"] = rt.running ? rt.qmpstatus : "stopped";
    out.emplace_back(vmid, std::move(e));
  }
  return out;
}

namespace {

Json list_vms(RequestContext& ctx) {
  auto& svc = vm_service(ctx);
  const bool full = ctx.flag("full");
  Json out = Json::array();
  for (auto& [vmid, e] : auditable_vm_entries(ctx, svc, full)) out.push_back(std::move(e));
  return out;
}

// Keys of the create request that are not config keys.
const std::set<std::string> kCreateOnly = {"node",  "vmid",   "archive", "bwlimit",      "force",
                                           "pool",  "start",  "storage", "unique",       "live-restore",
                                           "ha-managed", "import-working-storage"};

Json create_vm(RequestContext& ctx) {
  auto& svc = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  if (ctx.has("archive")) throw Error("restore from a backup archive is not implemented yet (backup work)", 501);
  const auto pool = ctx.opt_str("pool");
  check_guest_allocate(ctx, vmid, pool);
  if (ctx.flag("ha-managed")) throw Error::param("ha-managed", "HA is not available yet");
  if (ctx.flag("live-restore")) throw Error::param("live-restore", "live-restore needs 'archive'");

  guest::GuestConfig config;
  std::vector<std::pair<std::string, std::string>> set;
  for (const auto& [key, value] : ctx.params().items()) {
    if (kCreateOnly.count(key)) continue;
    std::string text = param_text(value);
    std::string k = key;
    if (k == "cdrom") {
      k = "ide2";
      if (text.find("media=") == std::string::npos) text += ",media=cdrom";
    }
    if (k == "description") {
      config.main.description = text;
      continue;
    }
    if (gq::is_drive_key(k)) gq::parse_drive(k, text);  // 400 naming the key for a bad drive
    set.emplace_back(k, text);
  }
  check_config_change_perm(ctx, vmid, set, {});
  std::set<std::string> keys;
  for (const auto& [k, v] : set) {
    if (!keys.insert(k).second) throw Error::param(k, "duplicate key (cdrom is ide2)");
    config.main.values[k] = v;
  }
  if (config.main.description && !ctx.allowed("/vms/" + std::to_string(vmid), {"VM.Config.Options"})) {
    ctx.check("/vms/" + std::to_string(vmid), {"VM.Config.Options"});
  }

  svc.reserve_vmid(vmid);
  const bool start = ctx.flag("start");
  // The pool takes the VM when the id is reserved, as PVE adds it before the worker runs.
  if (pool) {
    try {
      add_vm_to_pool(ctx, *pool, vmid);
    } catch (...) {
      svc.remove_config(vmid);
      throw;
    }
  }
  try {
    return spawn_vm_task(ctx, "qmcreate", vmid, [&svc, vmid, config, start](tasks::TaskContext& task) {
      svc.create_vm(vmid, config, task, {.start = start});
    });
  } catch (...) {
    svc.remove_config(vmid);
    throw;
  }
}

Json vm_index(RequestContext& ctx) {
  vm_service(ctx).load_or_throw(ctx.integer("vmid"));
  return dir_index({"config", "pending", "status", "unlink", "vncproxy", "termproxy", "migrate", "resize", "move",
                    "rrd", "rrddata", "monitor", "agent", "snapshot", "spiceproxy", "sendkey", "firewall",
                    "mtunnel", "remote_migrate", "cloudinit", "showcmd"});
}

Json destroy_vm(RequestContext& ctx) {
  auto& svc = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  check_skiplock(ctx);
  // Early checks answer at once; the task repeats them under the lock.
  auto loaded = svc.load_or_throw(vmid);
  if (svc.runtime(vmid).running) throw Error("VM " + std::to_string(vmid) + " is running - destroy failed", 500);
  if (loaded.config.main.get_or("protection", "0") == "1") {
    throw Error("can't remove VM " + std::to_string(vmid) + " - protection mode enabled", 500);
  }
  gq::VmService::DestroyOptions o{.skiplock = ctx.flag("skiplock"),
                                  .purge = ctx.flag("purge"),
                                  .destroy_unreferenced_disks = ctx.flag("destroy-unreferenced-disks")};
  auth::AuthService* auth = ctx.services().auth;
  return spawn_vm_task(ctx, "qmdestroy", vmid, [&svc, vmid, o, auth](tasks::TaskContext& task) {
    svc.destroy(vmid, task, o);
    if (auth) remove_vm_access(*auth, vmid);
  });
}

Json show_cmd(RequestContext& ctx) {
  auto& svc = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  auto loaded = svc.load_or_throw(vmid);
  auto config = loaded.config;
  if (auto snap = ctx.opt_str("snapshot")) {
    auto it = config.snapshots.find(*snap);
    if (it == config.snapshots.end()) throw Error("snapshot '" + *snap + "' does not exist", 500);
    config.main = it->second;
  }
  auto argv = svc.command_line(vmid, config);
  if (!ctx.flag("pretty")) return command_text(argv);
  // One option with its value per line, as `qm showcmd --pretty`.
  std::string out;
  std::vector<std::string> one{argv.front()};
  for (std::size_t i = 1; i < argv.size(); ++i) {
    if (argv[i].starts_with("-") && i + 1 < argv.size() && !argv[i + 1].starts_with("-")) {
      out += command_text(one) + " \\\n  ";
      one = {argv[i], argv[i + 1]};
      ++i;
    } else {
      out += command_text(one) + " \\\n  ";
      one = {argv[i]};
    }
  }
  return out + command_text(one);
}

Schema vmid_param() { return std_opt::vmid(); }

Schema create_params() {
  std::vector<std::pair<std::string, Schema>> p = gq::vm_config_params();
  p.emplace_back("node", std_opt::node());
  p.emplace_back("vmid", std_opt::vmid());
  p.emplace_back("archive", string("The backup archive. Either the file system path to a .tar or .vma file (use '-' to pipe "
                                   "data from stdin) or a proxmox storage backup volume identifier.")
                                .max_len(255)
                                .opt());
  p.emplace_back("bwlimit", integer("Override I/O bandwidth limit (in KiB/s).")
                                .min(0)
                                .def("restore limit from datacenter or storage config")
                                .opt());
  p.emplace_back("force", boolean("Allow to overwrite existing VM.").req("archive").opt());
  p.emplace_back("ha-managed", boolean("Add the VM as a HA resource after it was created.").def(0).opt());
  p.emplace_back("import-working-storage",
                 std_opt::storage_id()
                     .desc("A file-based storage with 'images' content-type enabled, which is used as an intermediary "
                           "extraction storage during import. Defaults to the source storage.")
                     .opt());
  p.emplace_back("live-restore", boolean("Start the VM immediately while importing or restoring in the background.").opt());
  p.emplace_back("pool", std_opt::poolid().desc("Add the VM to the specified pool.").opt());
  p.emplace_back("start", boolean("Start VM after it was created successfully.").def(0).opt());
  p.emplace_back("storage", std_opt::storage_id().desc("Default storage.").opt());
  p.emplace_back("unique", boolean("Assign a unique random ethernet address.").req("archive").opt());
  return object(std::move(p));
}

}  // namespace

void register_qemu_vms(Router& r) {
  r.add({
      .name = "vmlist",
      .verb = Verb::Get,
      .path = "/nodes/{node}/qemu",
      .description = "Virtual machine index (per node).",
      .parameters = ref(object({{"node", std_opt::node()},
                                {"full", boolean("Determine the full status of active VMs.").opt()}})),
      .returns = ref(array(vm_list_entry()).link("{vmid}")),
      .permission = all().describe("Only list VMs where you have VM.Audit permissions on /vms/<vmid>."),
      .protected_ = true,
      .proxyto = "node",
      .blocking = true,
      .handler = list_vms,
      .cli = {{"qm", "list", {}, {{"full", "1"}}, "", "qm-list"}},
  });
  r.add({
      .name = "create_vm",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu",
      .description = "Create or restore a virtual machine.",
      .parameters = ref(create_params()),
      .returns = ref(string()),
      .permission = all().describe(
          "You need 'VM.Allocate' permissions on /vms/{vmid} or on the VM pool /pool/{pool}. For restore (option "
          "'archive'), it is enough if the user has 'VM.Backup' permission and the VM already exists. If you create "
          "disks you need 'Datastore.AllocateSpace' on any used storage.If you use a bridge/vlan, you need 'SDN.Use' "
          "on any used bridge/vlan."),
      .protected_ = true,
      .proxyto = "node",
      .handler = create_vm,
      .cli = {{"qm", "create", {"vmid"}}},
  });
  r.add({
      .name = "vmdiridx",
      .verb = Verb::Get,
      .path = "/nodes/{node}/qemu/{vmid}",
      .description = "Directory index",
      .parameters = ref(object({{"node", std_opt::node()}, {"vmid", vmid_param()}})),
      .returns = ref(dir_index_returns()),
      .permission = all(),
      .proxyto = "node",
      .blocking = true,
      .handler = vm_index,
  });
  r.add({
      .name = "destroy_vm",
      .verb = Verb::Delete,
      .path = "/nodes/{node}/qemu/{vmid}",
      .description = "Destroy the VM and  all used/owned volumes. Removes any VM specific permissions and firewall rules",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"vmid", vmid_param()},
          {"skiplock", std_opt::skiplock()},
          {"purge", boolean("Remove VMID from configurations, like backup & replication jobs and HA.").opt()},
          {"destroy-unreferenced-disks",
           boolean("If set, destroy additionally all disks not referenced in the config but with a matching VMID "
                   "from all enabled storages.")
               .def(0)
               .opt()},
      })),
      .returns = ref(string()),
      .permission = perm("/vms/{vmid}", {"VM.Allocate"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = destroy_vm,
      .cli = {{"qm", "destroy", {"vmid"}}},
  });
  r.add({
      .name = "showcmd",
      .verb = Verb::Get,
      .path = "/nodes/{node}/qemu/{vmid}/showcmd",
      .description = "pvx extension (not in Proxmox VE's API): the QEMU command line the VM would start with now, "
                     "shell-quoted, as `qm showcmd` prints it.",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"vmid", vmid_param()},
          {"pretty", boolean("Puts each option on a new line to enhance human readability").def(0).opt()},
          {"snapshot", std_opt::snapshot_name().desc("Fetch config values from given snapshot.").opt()},
      })),
      .returns = ref(string("The command line.")),
      .permission = perm("/vms/{vmid}", {"VM.Audit"}),
      .proxyto = "node",
      .blocking = true,
      .handler = show_cmd,
      .cli = {{"qm", "showcmd", {"vmid"}}},
  });
  register_qemu_status(r);
  register_qemu_config(r);
}

}  // namespace pvx::api::handlers
