// /nodes/{node}/qemu/{vmid}/status: the current state and the power operations (start, stop,
// shutdown, reboot, reset, suspend, resume), each a task of PVE's type (qmstart, ...).
#include <chrono>

#include "api/handlers/qemu_common.h"
#include "api/handlers/register.h"
#include "guest/qemu/vm_service.h"
#include "guest/qemu/vm_summary.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {

namespace {

using namespace schema;
namespace gq = guest::qemu;

Schema base_params(std::vector<std::pair<std::string, Schema>> extra = {}) {
  extra.emplace_back("node", std_opt::node());
  extra.emplace_back("vmid", std_opt::vmid());
  return object(std::move(extra));
}

Json current_status(RequestContext& ctx) {
  auto& svc = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  auto loaded = svc.load_or_throw(vmid);
  const auto& conf = loaded.config.main;
  auto rt = svc.runtime(vmid, true);
  Json e = vm_status_entry(svc, vmid, loaded, rt, rt.running);
  e["qmpstatus"] = rt.running ? rt.qmpstatus : "stopped";
  e["ha"] = {{"managed", 0}};
  auto agent = conf.get_or("agent", "0");
  if (agent == "1" || agent.starts_with("1,") || agent.find("enabled=1") != std::string::npos) e["agent"] = 1;
  if (rt.running) {
    e["running-qemu"] = svc.host().qemu_version;
    e["running-machine"] = gq::machine_type(conf, svc.host());
  }
  auto vga = conf.get_or("vga", "");
  if (vga.starts_with("qxl") || vga.find("type=qxl") != std::string::npos) e["spice"] = 1;
  if (vga.find("clipboard=vnc") != std::string::npos) e["clipboard"] = "vnc";
  return e;
}

// PVE's default wait for a start: max(30, memory in GiB) seconds.
std::chrono::milliseconds start_timeout(RequestContext& ctx, const guest::ConfigSection& conf) {
  if (auto t = ctx.opt_integer("timeout")) return std::chrono::seconds(*t);
  auto gib = static_cast<std::int64_t>(gq::vm_max_memory(conf) >> 30);
  return std::chrono::seconds(std::max<std::int64_t>(30, gib));
}

Json start_vm(RequestContext& ctx) {
  auto& svc = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  check_skiplock(ctx);
  if (ctx.has("migratedfrom")) throw Error::param("migratedfrom", "migration is not supported yet");
  if (ctx.has("stateuri")) throw Error::param("stateuri", "migration is not supported yet");
  if (ctx.has("targetstorage")) throw Error::param("targetstorage", "migration is not supported yet");
  auto loaded = svc.load_or_throw(vmid);
  gq::StartOptions o{.skiplock = ctx.flag("skiplock"), .timeout = start_timeout(ctx, loaded.config.main)};
  return spawn_vm_task(ctx, "qmstart", vmid, [&svc, vmid, o](tasks::TaskContext& task) { svc.start(vmid, task, o); });
}

Json stop_vm(RequestContext& ctx) {
  auto& svc = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  check_skiplock(ctx);
  if (ctx.has("migratedfrom")) throw Error::param("migratedfrom", "migration is not supported yet");
  svc.load_or_throw(vmid);
  if (ctx.flag("overrule-shutdown")) overrule_shutdown_tasks(ctx, vmid, "qmshutdown");
  gq::StopOptions o{.skiplock = ctx.flag("skiplock"), .keep_active = ctx.flag("keepActive")};
  if (auto t = ctx.opt_integer("timeout")) o.timeout = std::chrono::seconds(*t);
  return spawn_vm_task(ctx, "qmstop", vmid, [&svc, vmid, o](tasks::TaskContext& task) { svc.stop(vmid, task, o); });
}

gq::ShutdownOptions shutdown_options(RequestContext& ctx) {
  gq::ShutdownOptions o{.skiplock = ctx.flag("skiplock"), .force_stop = ctx.flag("forceStop")};
  if (auto t = ctx.opt_integer("timeout")) o.timeout = std::chrono::seconds(*t);
  return o;
}

Json shutdown_vm(RequestContext& ctx) {
  auto& svc = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  check_skiplock(ctx);
  svc.load_or_throw(vmid);
  auto o = shutdown_options(ctx);
  return spawn_vm_task(ctx, "qmshutdown", vmid,
                       [&svc, vmid, o](tasks::TaskContext& task) { svc.shutdown(vmid, task, o); });
}

Json reboot_vm(RequestContext& ctx) {
  auto& svc = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  svc.load_or_throw(vmid);
  if (!svc.runtime(vmid).running) throw Error("VM " + std::to_string(vmid) + " not running", 500);
  gq::ShutdownOptions o{.force_stop = false};
  if (auto t = ctx.opt_integer("timeout")) o.timeout = std::chrono::seconds(*t);
  return spawn_vm_task(ctx, "qmreboot", vmid, [&svc, vmid, o](tasks::TaskContext& task) { svc.reboot(vmid, task, o); });
}

Json reset_vm(RequestContext& ctx) {
  auto& svc = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  check_skiplock(ctx);
  svc.load_or_throw(vmid);
  if (!svc.runtime(vmid).running) throw Error("VM " + std::to_string(vmid) + " not running", 500);
  const bool skiplock = ctx.flag("skiplock");
  return spawn_vm_task(ctx, "qmreset", vmid, [&svc, vmid, skiplock](tasks::TaskContext&) { svc.reset(vmid, skiplock); });
}

Json suspend_vm(RequestContext& ctx) {
  auto& svc = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  check_skiplock(ctx);
  const bool todisk = ctx.flag("todisk");
  std::string statestorage = ctx.opt_str("statestorage").value_or("");
  auto loaded = svc.load_or_throw(vmid);
  if (todisk) {
    ctx.check("/vms/" + std::to_string(vmid), {"VM.Config.Disk"});
    std::string sid = statestorage.empty() ? loaded.config.main.get_or("vmstatestorage", "") : statestorage;
    if (!sid.empty()) ctx.check("/storage/" + sid, {"Datastore.AllocateSpace"});
  }
  if (!svc.runtime(vmid).running) throw Error("VM " + std::to_string(vmid) + " not running", 500);
  const bool skiplock = ctx.flag("skiplock");
  return spawn_vm_task(ctx, "qmsuspend", vmid, [&svc, vmid, todisk, statestorage, skiplock](tasks::TaskContext& task) {
    svc.suspend(vmid, task, todisk, statestorage, skiplock);
  });
}

Json resume_vm(RequestContext& ctx) {
  auto& svc = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  check_skiplock(ctx);
  auto loaded = svc.load_or_throw(vmid);
  const bool from_disk = loaded.config.main.get_or("lock", "") == "suspended";
  if (!from_disk && !svc.runtime(vmid).running) throw Error("VM " + std::to_string(vmid) + " not running", 500);
  const bool skiplock = ctx.flag("skiplock");
  return spawn_vm_task(ctx, "qmresume", vmid,
                       [&svc, vmid, skiplock](tasks::TaskContext& task) { svc.resume(vmid, task, skiplock); });
}

Schema status_returns() {
  return object({
      {"vmid", std_opt::vmid()},
      {"status", enumeration({"stopped", "running"}, "QEMU process status.")},
      {"qmpstatus", string("VM run state from the 'query-status' QMP monitor command.").opt()},
      {"name", string("VM (host)name.").opt()},
      {"pid", integer("PID of the QEMU process, if the VM is running.").opt()},
      {"uptime", integer("Uptime in seconds.").render("duration").opt()},
      {"cpu", number("Current CPU usage.").opt()},
      {"cpus", number("Maximum usable CPUs.").opt()},
      {"mem", integer("Currently used memory in bytes.").render("bytes").opt()},
      {"maxmem", integer("Maximum memory in bytes.").render("bytes").opt()},
      {"disk", integer("Currently used root disk space in bytes.").render("bytes").opt()},
      {"maxdisk", integer("Root disk size in bytes.").render("bytes").opt()},
      {"netin", integer("The amount of traffic in bytes that was sent to the guest over the network since it was started.").opt()},
      {"netout", integer("The amount of traffic in bytes that was sent from the guest over the network since it was started.").opt()},
      {"diskread", integer("The amount of bytes the guest read from it's block devices since the guest was started.").opt()},
      {"diskwrite", integer("The amount of bytes the guest wrote from it's block devices since the guest was started.").opt()},
      {"ha", object({}, "HA manager service status.").additional()},
      {"agent", boolean("QEMU Guest Agent is enabled in config.").opt()},
      {"lock", string("The current config lock, if any.").opt()},
      {"tags", string("The current configured tags, if any").opt()},
      {"template", boolean("Determines if the guest is a template.").def(0).opt()},
      {"serial", boolean("Guest has serial device configured.").opt()},
      {"spice", boolean("QEMU VGA configuration supports spice.").opt()},
      {"clipboard", enumeration({"vnc"}, "Enable a specific clipboard. If not set, depending on the display type the "
                                         "SPICE one will be added.")
                        .opt()},
      {"running-machine", string("The currently running machine type (if running).").opt()},
      {"running-qemu", string("The QEMU version the VM is currently using (if running).").opt()},
  });
}

Schema timeout_param(const char* d) { return integer(d).min(0).opt(); }

Permission power() { return perm("/vms/{vmid}", {"VM.PowerMgmt"}); }

}  // namespace

void register_qemu_status(Router& r) {
  r.add({
      .name = "vmcmdidx",
      .verb = Verb::Get,
      .path = "/nodes/{node}/qemu/{vmid}/status",
      .description = "Directory index",
      .parameters = ref(base_params()),
      .returns = ref(dir_index_returns()),
      .permission = all(),
      .proxyto = "node",
      .handler = [](RequestContext&) {
        return dir_index({"current", "stop", "start", "reset", "shutdown", "suspend", "reboot", "resume"});
      },
  });
  r.add({
      .name = "vm_status",
      .verb = Verb::Get,
      .path = "/nodes/{node}/qemu/{vmid}/status/current",
      .description = "Get virtual machine status.",
      .parameters = ref(base_params()),
      .returns = ref(status_returns()),
      .permission = perm("/vms/{vmid}", {"VM.Audit"}),
      .protected_ = true,
      .proxyto = "node",
      .blocking = true,
      .handler = current_status,
      .cli = {{"qm", "status", {"vmid"}, {}, "", "qm-status"}},
  });
  r.add({
      .name = "vm_start",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/status/start",
      .description = "Start virtual machine.",
      .parameters = ref(base_params({
          {"skiplock", std_opt::skiplock()},
          {"stateuri", string("Some command save/restore state from this location.").max_len(128).opt()},
          {"migratedfrom", std_opt::node().opt()},
          {"migration_type", enumeration({"secure", "insecure"},
                                         "Migration traffic is encrypted using an SSH tunnel by default. On secure, "
                                         "completely private networks this can be disabled to increase performance.")
                                 .opt()},
          {"migration_network", string("CIDR of the (sub) network that is used for migration.").fmt("CIDR").opt()},
          {"machine", string("Specify the QEMU machine.").opt()},
          {"force-cpu", string("Override QEMU's -cpu argument with the given string.").opt()},
          {"targetstorage", string("Mapping from source to target storages. Providing only a single storage ID maps "
                                   "all source storages to that storage. Providing the special value '1' will map each "
                                   "source storage to itself.")
                                .fmt("storage-pair-list")
                                .opt()},
          {"timeout", timeout_param("Wait maximal timeout seconds.").def("max(30, vm memory in GiB)")},
          {"nets-host-mtu", string("Used for migration compat. List of VirtIO network devices and their effective "
                                   "host_mtu setting according to the QEMU object model on the source side of the "
                                   "migration. A value of 0 means that the host_mtu parameter is to be avoided for the "
                                   "corresponding device.")
                                .pat("net\\d+=\\d+(,net\\d+=\\d+)*")
                                .opt()},
          {"with-conntrack-state", boolean("Whether to migrate conntrack entries for running VMs.").def(0).opt()},
      })),
      .returns = ref(string()),
      .permission = power(),
      .protected_ = true,
      .proxyto = "node",
      .handler = start_vm,
      .cli = {{"qm", "start", {"vmid"}}},
  });
  r.add({
      .name = "vm_stop",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/status/stop",
      .description = "Stop virtual machine. The qemu process will exit immediately. This is akin to pulling the power "
                     "plug of a running computer and may damage the VM data.",
      .parameters = ref(base_params({
          {"skiplock", std_opt::skiplock()},
          {"migratedfrom", std_opt::node().opt()},
          {"timeout", timeout_param("Wait maximal timeout seconds.")},
          {"keepActive", boolean("Do not deactivate storage volumes.").def(0).opt()},
          {"overrule-shutdown", boolean("Try to abort active 'qmshutdown' tasks before stopping.").def(0).opt()},
      })),
      .returns = ref(string()),
      .permission = power(),
      .protected_ = true,
      .proxyto = "node",
      .handler = stop_vm,
      .cli = {{"qm", "stop", {"vmid"}}},
  });
  r.add({
      .name = "vm_reset",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/status/reset",
      .description = "Reset virtual machine.",
      .parameters = ref(base_params({{"skiplock", std_opt::skiplock()}})),
      .returns = ref(string()),
      .permission = power(),
      .protected_ = true,
      .proxyto = "node",
      .handler = reset_vm,
      .cli = {{"qm", "reset", {"vmid"}}},
  });
  r.add({
      .name = "vm_shutdown",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/status/shutdown",
      .description = "Shutdown virtual machine. This is similar to pressing the power button on a physical machine. "
                     "This will send an ACPI event for the guest OS, which should then proceed to a clean shutdown.",
      .parameters = ref(base_params({
          {"skiplock", std_opt::skiplock()},
          {"timeout", timeout_param("Wait maximal timeout seconds.")},
          {"forceStop", boolean("Make sure the VM stops.").def(0).opt()},
          {"keepActive", boolean("Do not deactivate storage volumes.").def(0).opt()},
      })),
      .returns = ref(string()),
      .permission = power(),
      .protected_ = true,
      .proxyto = "node",
      .handler = shutdown_vm,
      .cli = {{"qm", "shutdown", {"vmid"}}},
  });
  r.add({
      .name = "vm_reboot",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/status/reboot",
      .description = "Reboot the VM by shutting it down, and starting it again. Applies pending changes.",
      .parameters = ref(base_params({{"timeout", timeout_param("Wait maximal timeout seconds for the shutdown.")}})),
      .returns = ref(string()),
      .permission = power(),
      .protected_ = true,
      .proxyto = "node",
      .handler = reboot_vm,
      .cli = {{"qm", "reboot", {"vmid"}}},
  });
  r.add({
      .name = "vm_suspend",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/status/suspend",
      .description = "Suspend virtual machine.",
      .parameters = ref(base_params({
          {"skiplock", std_opt::skiplock()},
          {"todisk", boolean("If set, suspends the VM to disk. Will be resumed on next VM start.").def(0).opt()},
          {"statestorage", std_opt::storage_id().desc("The storage for the VM state").req("todisk").opt()},
      })),
      .returns = ref(string()),
      .permission = power().describe("You need 'VM.PowerMgmt' on /vms/{vmid}, and if you have set 'todisk', you need "
                                     "also 'VM.Config.Disk' on /vms/{vmid} and 'Datastore.AllocateSpace' on the "
                                     "storage for the vmstate."),
      .protected_ = true,
      .proxyto = "node",
      .handler = suspend_vm,
      .cli = {{"qm", "suspend", {"vmid"}}},
  });
  r.add({
      .name = "vm_resume",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/status/resume",
      .description = "Resume virtual machine.",
      .parameters = ref(base_params({{"skiplock", std_opt::skiplock()}, {"nocheck", boolean().opt()}})),
      .returns = ref(string()),
      .permission = power(),
      .protected_ = true,
      .proxyto = "node",
      .handler = resume_vm,
      .cli = {{"qm", "resume", {"vmid"}}},
  });
}

}  // namespace pvx::api::handlers
