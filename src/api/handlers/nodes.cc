// /nodes, /nodes/{node} and the node's status, version, time, startall and stopall.
#include <ctime>

#include "api/handlers/common.h"
#include "api/handlers/register.h"
#include "base/strings.h"
#include "guest/qemu/vm_service.h"
#include "metrics/host_stats.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;

Schema node_only() { return object({{"node", std_opt::node()}}); }

Json node_status(RequestContext& ctx) {
  auto st = metrics::read_host_status("/");
  const auto& c = st.cpuinfo;
  Json out = {
      {"cpu", st.cpu},
      {"wait", st.wait},
      {"idle", st.idle},
      {"loadavg", {st.loadavg[0], st.loadavg[1], st.loadavg[2]}},
      {"memory", {{"total", st.memory.total}, {"used", st.memory.used}, {"free", st.memory.free},
                  {"available", st.memory.available}}},
      {"swap", {{"total", st.swap.total}, {"used", st.swap.used}, {"free", st.swap.free}}},
      {"rootfs", {{"total", st.rootfs_total}, {"used", st.rootfs_used}, {"avail", st.rootfs_avail},
                  {"free", st.rootfs_free}}},
      {"ksm", {{"shared", st.ksm_shared}}},
      {"uptime", st.uptime},
      {"kversion", st.kversion},
      {"current-kernel", {{"sysname", st.sysname}, {"release", st.release}, {"version", st.version},
                          {"machine", st.machine}}},
      {"boot-info", {{"mode", st.boot_mode}}},
      {"cpuinfo", {{"model", c.model}, {"cpus", c.cpus}, {"sockets", c.sockets}, {"cores", c.cores},
                   {"mhz", c.mhz}, {"flags", c.flags}, {"hvm", c.hvm ? "1" : "0"}, {"user_hz", c.user_hz}}},
      {"pveversion", std::string("pve-manager/") + kPveVersion + "/" + repoid()},
      {"node", ctx.services().node},
  };
  // pvx's addition: whether VMs get hardware virtualization here, and why not.
  if (auto* qemu = ctx.services().qemu) {
    out["kvm"] = {{"usable", qemu->kvm_usable() ? 1 : 0}};
    if (!qemu->kvm_usable()) out["kvm"]["reason"] = qemu->kvm_reason();
  }
  return out;
}

Json node_time() {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  std::string tz = "UTC";
  if (const char* env = std::getenv("TZ"); env && *env) {
    tz = env;
  } else if (auto f = std::fopen("/etc/timezone", "r")) {
    char buf[128] = {};
    if (std::fgets(buf, sizeof buf, f)) {
      tz = buf;
      while (!tz.empty() && (tz.back() == '\n' || tz.back() == ' ')) tz.pop_back();
    }
    std::fclose(f);
  }
  return {{"timezone", tz}, {"time", now}, {"localtime", now + local.tm_gmtoff}};
}

Schema max_workers_param() {
  return integer("Defines the maximum number of tasks running concurrently. If not set, uses 'max_workers' from "
                 "the datacenter config.")
      .min(1)
      .opt();
}

Permission power_permission() {
  return all().describe("The 'VM.PowerMgmt' permission is required on '/' or on '/vms/<ID>' for each ID passed "
                        "via the 'vms' parameter.");
}

// VM.PowerMgmt on "/", or on every guest named in `vms`.
void check_power(RequestContext& ctx) {
  if (ctx.allowed("/", {"VM.PowerMgmt"})) return;
  auto vms = ctx.opt_str("vms");
  if (!vms) ctx.check("/", {"VM.PowerMgmt"});
  for (const auto& id : split_any(*vms, ",; ")) ctx.check("/vms/" + id, {"VM.PowerMgmt"});
}

// startall/stopall: a task over the guests of this node. Guests come with the VM and container
// work; until then the task finds none and says so.
Json bulk_power_task(RequestContext& ctx, const char* type) {
  check_power(ctx);
  std::string verb = std::string(type) == "startall" ? "start" : "stop";
  auto upid = ctx.services().tasks->spawn(type, "", ctx.who().full(), [verb](tasks::TaskContext& task) {
    task.log("no guests to " + verb + " on this node");
  });
  return upid.str();
}

}  // namespace

void register_nodes(Router& r) {
  r.add({
      .name = "index",
      .verb = Verb::Get,
      .path = "/nodes",
      .description = "Cluster node index.",
      .parameters = ref(object({})),
      .returns = ref(array(object({
                               {"node", string("The cluster node name.")},
                               {"status", enumeration({"unknown", "online", "offline"}, "Node status.")},
                               {"cpu", number("CPU utilization.").opt()},
                               {"maxcpu", integer("Number of available CPUs.").opt()},
                               {"mem", integer("Used memory in bytes.").opt()},
                               {"maxmem", integer("Number of available memory in bytes.").opt()},
                               {"disk", integer("Used disk space in bytes.").opt()},
                               {"maxdisk", integer("Size of the root file system in bytes.").opt()},
                               {"uptime", integer("Node uptime in seconds.").opt()},
                               {"level", string("Support level.").opt()},
                               {"ssl_fingerprint", string("The SSL fingerprint for the node certificate.").opt()},
                               {"id", string().opt()},
                               {"type", string().opt()},
                           }))
                         .link("{node}")),
      .permission = all().describe("Nodes are listed for every user; their figures need Sys.Audit on /nodes/{node}."),
      .handler = [](RequestContext& ctx) {
        bool audit = ctx.allowed("/nodes/" + ctx.services().node, {"Sys.Audit"});
        return Json::array({local_node_entry(ctx, audit)});
      },
  });
  r.add({
      .name = "index",
      .verb = Verb::Get,
      .path = "/nodes/{node}",
      .description = "Node index.",
      .parameters = ref(node_only()),
      .returns = ref(dir_index_returns("name")),
      .permission = all(),
      .handler = [](RequestContext&) {
        return dir_index({"capabilities", "network", "qemu", "startall", "status", "stopall", "storage", "tasks", "time", "version"},
                         "name");
      },
  });
  r.add({
      .name = "status",
      .verb = Verb::Get,
      .path = "/nodes/{node}/status",
      .description = "Read node status",
      .parameters = ref(node_only()),
      .returns = ref(object({
                             {"cpu", number("The current cpu usage.")},
                             {"loadavg", array(string(), "An array of load avg for 1, 5 and 15 minutes respectively.")},
                             {"memory", object({}).additional()},
                             {"swap", object({}).additional().opt()},
                             {"rootfs", object({}).additional()},
                             {"uptime", integer("Node uptime in seconds.")},
                             {"kversion", string("The running kernel version.")},
                             {"cpuinfo", object({}).additional()},
                             {"pveversion", string("The PVE version string.")},
                             {"current-kernel", object({}).additional()},
                             {"boot-info", object({}).additional()},
                             {"kvm", object({{"usable", boolean("Hardware virtualization (KVM) works for VMs.")},
                                             {"reason", string("Why VMs run with TCG instead.").opt()}},
                                            "pvx extension: the KVM probe's result at pvxd's start.")
                                         .opt()},
                         })
                         .additional()),
      .permission = perm("/nodes/{node}", {"Sys.Audit"}),
      .proxyto = "node",
      .handler = [](RequestContext& ctx) { return node_status(ctx); },
  });
  r.add({
      .name = "version",
      .verb = Verb::Get,
      .path = "/nodes/{node}/version",
      .description = "API version details",
      .parameters = ref(node_only()),
      .returns = ref(object({
          {"version", string("The full pve-manager package version of this node.")},
          {"release", string("The current Proxmox VE point release in `x.y` format.")},
          {"repoid", string("The short git revision from which this version was build.")},
      })),
      .permission = all(),
      .proxyto = "node",
      .handler = [](RequestContext&) {
        return Json{{"version", kPveVersion}, {"release", kPveRelease}, {"repoid", repoid()}};
      },
  });
  r.add({
      .name = "time",
      .verb = Verb::Get,
      .path = "/nodes/{node}/time",
      .description = "Read server time and time zone settings.",
      .parameters = ref(node_only()),
      .returns = ref(object({
          {"timezone", string("Time zone")},
          {"time", integer("Seconds since 1970-01-01 00:00:00 UTC.").min(1297163644).render("timestamp")},
          {"localtime", integer("Seconds since 1970-01-01 00:00:00 (local time)").min(1297163644)
                            .render("timestamp_gmt")},
      })),
      .permission = perm("/nodes/{node}", {"Sys.Audit"}),
      .proxyto = "node",
      .handler = [](RequestContext&) { return node_time(); },
  });
  r.add({
      .name = "startall",
      .verb = Verb::Post,
      .path = "/nodes/{node}/startall",
      .description = "Start all VMs and containers located on this node (by default only those with onboot=1).",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"force", boolean("Issue start command even if virtual guest have 'onboot' not set or set to off.")
                        .def(1).opt()},
          {"vms", string("Only consider guests from this comma separated list of VMIDs.").fmt("pve-vmid-list").opt()},
          {"max-workers", max_workers_param()},
      })),
      .returns = ref(string()),
      .permission = power_permission(),
      .protected_ = true,
      .proxyto = "node",
      .handler = [](RequestContext& ctx) { return bulk_power_task(ctx, "startall"); },
  });
  r.add({
      .name = "stopall",
      .verb = Verb::Post,
      .path = "/nodes/{node}/stopall",
      .description = "Stop all VMs and Containers.",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"force-stop", boolean("Force a hard-stop after the timeout.").def(1).opt()},
          {"timeout", integer("Timeout for each guest shutdown task. Depending on `force-stop`, the shutdown gets "
                              "then simply aborted or a hard-stop is forced.")
                          .min(0).max(7200).def(180).opt()},
          {"vms", string("Only consider Guests with these IDs.").fmt("pve-vmid-list").opt()},
          {"max-workers", max_workers_param()},
      })),
      .returns = ref(string()),
      .permission = power_permission(),
      .protected_ = true,
      .proxyto = "node",
      .handler = [](RequestContext& ctx) { return bulk_power_task(ctx, "stopall"); },
  });
}

}  // namespace pvx::api::handlers
