// /cluster, /cluster/status, /cluster/resources, /cluster/nextid and /cluster/tasks.
#include <netdb.h>
#include <arpa/inet.h>

#include "api/handlers/cluster_resources.h"
#include "api/handlers/common.h"
#include "api/handlers/guest_ids.h"
#include "api/handlers/qemu_common.h"
#include "api/handlers/register.h"
#include "api/handlers/storage_common.h"
#include "api/handlers/task_json.h"
#include "api/handlers/vmid_range.h"
#include "auth/auth_service.h"
#include "auth/user_config.h"
#include "api/handlers/lxc_common.h"
#include "guest/qemu/vm_service.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;

std::string node_address(const std::string& node) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* res = nullptr;
  std::string out = "127.0.0.1";
  if (::getaddrinfo(node.c_str(), nullptr, &hints, &res) == 0 && res) {
    char buf[INET_ADDRSTRLEN];
    auto* sin = reinterpret_cast<sockaddr_in*>(res->ai_addr);
    if (::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf)) out = buf;
    ::freeaddrinfo(res);
  }
  return out;
}

}  // namespace

Json cluster_resources(RequestContext& ctx, const std::optional<std::string>& type) {
  Json out = Json::array();
  const auto& node = ctx.services().node;
  auto users = ctx.services().auth->user_config();
  // vmid -> pool, for the guests' `pool` member.
  std::map<std::string, std::string, std::less<>> pool_of;
  for (const auto& [poolid, pool] : users->pools) {
    for (const auto& vmid : pool.vms) pool_of[vmid] = poolid;
  }
  auto set_pool = [&](Json& e, std::int64_t vmid) {
    if (auto it = pool_of.find(std::to_string(vmid)); it != pool_of.end()) e["pool"] = it->second;
  };
  if ((!type || *type == "node") && ctx.allowed("/nodes/" + node, {"Sys.Audit"})) {
    Json e = local_node_entry(ctx, true);
    e["cgroup-mode"] = 1;
    out.push_back(std::move(e));
  }
  if (!type || *type == "vm") {
    if (auto* vms = ctx.services().qemu) {
      for (auto& [vmid, e] : auditable_vm_entries(ctx, *vms, false)) {
        // The listing's `cpus` is the resources' `maxcpu`.
        e["maxcpu"] = e["cpus"];
        e.erase("cpus");
        e.erase("pid");
        e.erase("serial");
        e["id"] = "qemu/" + std::to_string(vmid);
        e["type"] = "qemu";
        e["node"] = node;
        if (!e.contains("template")) e["template"] = 0;
        set_pool(e, vmid);
        out.push_back(std::move(e));
      }
    }
    if (auto* cts = ctx.services().lxc) {
      for (auto& [vmid, e] : auditable_ct_entries(ctx, *cts)) {
        e["maxcpu"] = e["cpus"];
        for (const char* k : {"cpus", "pid", "swap", "maxswap"}) e.erase(k);
        e["id"] = "lxc/" + std::to_string(vmid);
        e["node"] = node;
        if (!e.contains("template")) e["template"] = 0;
        set_pool(e, vmid);
        out.push_back(std::move(e));
      }
    }
  }
  if (!type || *type == "storage") {
    auto& svc = *ctx.services().storage;
    for (const auto& def : svc.all()) {
      if (!svc.on_this_node(def)) continue;
      if (!ctx.allowed("/storage/" + def.id, {"Datastore.Audit", "Datastore.AllocateSpace"}, true)) continue;
      Json st = storage_status_json(svc, def, false);
      Json e = {{"id", "storage/" + node + "/" + def.id},
                {"type", "storage"},
                {"storage", def.id},
                {"node", node},
                {"plugintype", def.type},
                {"content", st["content"]},
                {"shared", st["shared"]},
                {"status", st["active"] == 1 ? "available" : "unknown"},
                {"disk", st.value("used", std::uint64_t{0})},
                {"maxdisk", st.value("total", std::uint64_t{0})}};
      out.push_back(std::move(e));
    }
  }
  if (!type || *type == "pool") {
    for (const auto& [poolid, pool] : users->pools) {
      if (!ctx.allowed("/pool/" + poolid, {"Pool.Audit"})) continue;
      Json e = {{"id", "pool/" + poolid}, {"type", "pool"}, {"pool", poolid}};
      if (!pool.comment.empty()) e["comment"] = pool.comment;
      out.push_back(std::move(e));
    }
  }
  return out;
}

namespace {

Json resources(RequestContext& ctx) { return cluster_resources(ctx, ctx.opt_str("type")); }

Json cluster_tasks(RequestContext& ctx) {
  tasks::TaskFilter f;
  f.source = "all";
  f.limit = 2000;
  auto [page, total] = ctx.services().tasks->list(f);
  Json out = Json::array();
  for (const auto& t : page) {
    if (!may_see_task(ctx, t.upid, "Sys.Audit")) continue;
    Json e = task_list_entry(t);
    if (t.running) e.erase("status");
    e["saved"] = t.running ? "0" : "1";
    out.push_back(std::move(e));
  }
  return out;
}

Json next_id(RequestContext& ctx) {
  auto used = guest_ids(*ctx.services().store);
  auto range = vmid_range(*ctx.services().store);
  if (auto vmid = ctx.opt_integer("vmid")) {
    if (used.count(*vmid)) throw Error::param("vmid", "VM " + std::to_string(*vmid) + " already exists");
    return Json(std::to_string(*vmid));
  }
  for (std::int64_t id = range.lower; id < range.upper; ++id) {
    if (!used.count(id)) return Json(std::to_string(id));
  }
  throw Error("unable to get any free VMID in range [" + std::to_string(range.lower) + ", " +
              std::to_string(range.upper) + ")");
}

}  // namespace

void register_cluster(Router& r) {
  r.add({
      .name = "index",
      .verb = Verb::Get,
      .path = "/cluster",
      .description = "Cluster index.",
      .parameters = ref(object({})),
      .returns = ref(array(object({})).link("{name}")),
      .permission = all(),
      .handler = [](RequestContext&) {
        return dir_index({"nextid", "options", "resources", "status", "tasks"}, "name");
      },
  });
  r.add({
      .name = "get_status",
      .verb = Verb::Get,
      .path = "/cluster/status",
      .description = "Get cluster status information.",
      .parameters = ref(object({})),
      .returns = ref(array(object({
          {"type", enumeration({"cluster", "node"}, "Indicates the type, either cluster or node.")},
          {"id", string()},
          {"name", string()},
          {"nodeid", integer("[node] ID of the node from the corosync configuration.").opt()},
          {"ip", string("[node] IP of the resolved nodename.").opt()},
          {"local", boolean("[node] Indicates if this is the responding node.").opt()},
          {"online", boolean("[node] Indicates if the node is online or offline.").opt()},
          {"level", string("[node] Proxmox VE Subscription level.").opt()},
          {"nodes", integer("[cluster] Nodes count, including offline nodes.").opt()},
          {"quorate", boolean("[cluster] Indicates if there is a majority of nodes online.").opt()},
          {"version", integer("[cluster] Current version of the corosync configuration file.").opt()},
      }))),
      .permission = perm("/", {"Sys.Audit"}),
      .protected_ = true,
      .handler = [](RequestContext& ctx) {
        const auto& node = ctx.services().node;
        return Json::array({{{"type", "node"}, {"id", "node/" + node}, {"name", node}, {"nodeid", 0},
                             {"ip", node_address(node)}, {"local", 1}, {"online", 1}, {"level", ""}}});
      },
  });
  r.add({
      .name = "resources",
      .verb = Verb::Get,
      .path = "/cluster/resources",
      .description = "Resources index (cluster wide).",
      .parameters = ref(object({
          {"type", enumeration({"vm", "storage", "node", "sdn"}, "Resource type.").opt()},
      })),
      .returns = ref(array(object({
                               {"id", string("Resource id.")},
                               {"type", enumeration({"node", "storage", "pool", "qemu", "lxc", "openvz", "sdn",
                                                     "network"},
                                                    "Resource type.")},
                               {"node", string("The cluster node name (when type in node,storage,qemu,lxc).").opt()},
                               {"status", string("Resource type dependent status.").opt()},
                               {"cpu", number("CPU utilization (when type in node,qemu,lxc).").opt()},
                               {"maxcpu", number("Number of available CPUs (when type in node,qemu,lxc).").opt()},
                               {"mem", integer("Used memory in bytes (when type in node,qemu,lxc).").opt()},
                               {"maxmem", integer("Number of available memory in bytes (when type in node,qemu,lxc).")
                                              .opt()},
                               {"disk", integer("Used disk space in bytes (when type in storage), used root image "
                                                "space for VMs (type in qemu,lxc).")
                                            .opt()},
                               {"maxdisk", integer("Storage size in bytes (when type in storage), root image size "
                                                   "for VMs (type in qemu,lxc).")
                                               .opt()},
                               {"uptime", integer("Uptime of node or virtual guest in seconds (when type in "
                                                  "node,qemu,lxc).")
                                              .opt()},
                               {"level", string("Support level (when type == node).").opt()},
                               {"cgroup-mode", integer("The cgroup mode the node operates under (when type == node).")
                                                   .opt()},
                           }).additional())),
      .permission = all().describe("Resources are filtered by the caller's audit privileges."),
      .handler = resources,
  });
  r.add({
      .name = "nextid",
      .verb = Verb::Get,
      .path = "/cluster/nextid",
      .description = "Get next free VMID. Pass a VMID to assert that its free (at time of check).",
      .parameters = ref(object({{"vmid", std_opt::vmid().opt()}})),
      // PVE declares an integer but answers with a JSON string ("100"); clients depend on the
      // answer, so pvx declares what it sends.
      .returns = ref(string("The next free VMID.").pat("[1-9][0-9]{2,8}")),
      .permission = all(),
      .handler = next_id,
  });
  r.add({
      .name = "tasks",
      .verb = Verb::Get,
      .path = "/cluster/tasks",
      .description = "List recent tasks (cluster wide).",
      .parameters = ref(object({})),
      .returns = ref(array(task_list_entry_schema(true)).link("{upid}")),
      .permission = all().describe("Tasks of the caller, and all tasks of nodes the caller may audit."),
      .handler = cluster_tasks,
  });
}

}  // namespace pvx::api::handlers
