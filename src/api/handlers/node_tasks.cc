// /nodes/{node}/tasks: the task list, one task's status and log, and stopping a task.
// Users see their own tasks; Sys.Audit on /nodes/{node} shows everyone's.
#include "api/handlers/common.h"
#include "api/handlers/register.h"
#include "api/handlers/task_json.h"
#include "base/strings.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;

tasks::TaskInfo find_task(RequestContext& ctx, const std::string& priv) {
  std::string text = ctx.str("upid");
  auto upid = tasks::Upid::parse(text);
  if (!upid) throw Error::param("upid", "unable to parse worker upid '" + text + "'");
  if (upid->node != ctx.str("node")) throw Error::param("upid", "task belongs to node '" + upid->node + "'");
  auto info = ctx.services().tasks->status(text);
  if (!info) throw Error::param("upid", "no such task");
  if (!may_see_task(ctx, info->upid, priv)) {
    throw Error("Permission check failed (/nodes/" + upid->node + ", " + priv + ")", 403);
  }
  return *info;
}

Schema upid_params() { return object({{"node", std_opt::node()}, {"upid", std_opt::upid()}}); }

Json list_tasks(RequestContext& ctx) {
  tasks::TaskFilter f;
  f.start = ctx.integer_or("start", 0);
  f.limit = ctx.integer_or("limit", 50);
  f.vmid = ctx.opt_integer("vmid");
  f.typefilter = ctx.opt_str("typefilter").value_or("");
  f.userfilter = ctx.opt_str("userfilter").value_or("");
  f.source = ctx.opt_str("source").value_or("archive");
  f.errors = ctx.flag("errors");
  f.since = ctx.opt_integer("since");
  f.until = ctx.opt_integer("until");
  if (auto s = ctx.opt_str("statusfilter")) f.statusfilter = split_any(*s, ",; \t");
  bool auditor = ctx.allowed("/nodes/" + ctx.str("node"), {"Sys.Audit"});
  if (!auditor) {
    // Only the caller's own tasks: filter in the index, then keep exact matches.
    f.userfilter = ctx.who().user;
  }
  auto [page, total] = ctx.services().tasks->list(f);
  Json out = Json::array();
  for (const auto& t : page) {
    if (!auditor && task_owner(t.upid.user) != ctx.who().user) continue;
    out.push_back(task_list_entry(t));
  }
  ctx.set_total(total);
  return out;
}

}  // namespace

void register_node_tasks(Router& r) {
  r.add({
      .name = "node_tasks",
      .verb = Verb::Get,
      .path = "/nodes/{node}/tasks",
      .description = "Read task list for one node (finished tasks).",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"start", integer("List tasks beginning from this offset.").min(0).def(0).opt()},
          {"limit", integer("Only list this number of tasks.").min(0).def(50).opt()},
          {"vmid", std_opt::vmid().desc("Only list tasks for this VM.").opt()},
          {"typefilter", string("Only list tasks of this type (e.g., vzstart, vzdump).").opt()},
          {"userfilter", string("Only list tasks from this user.").opt()},
          {"errors", boolean("Only list tasks with a status of ERROR.").def(0).opt()},
          {"source", enumeration({"archive", "active", "all"}, "List archived, active or all tasks.")
                         .def("archive").opt()},
          {"since", integer("Only list tasks since this UNIX epoch.").opt()},
          {"until", integer("Only list tasks until this UNIX epoch.").opt()},
          {"statusfilter", string("List of Task States that should be returned.")
                               .fmt("pve-task-status-type-list").opt()},
      })),
      .returns = ref(array(task_list_entry_schema()).link("{upid}")),
      .permission = all().describe(
          "List task associated with the current user, or all task the user has 'Sys.Audit' permissions on "
          "/nodes/<node> (the <node> the task runs on)."),
      .proxyto = "node",
      .handler = list_tasks,
  });
  r.add({
      .name = "upid_index",
      .verb = Verb::Get,
      .path = "/nodes/{node}/tasks/{upid}",
      .description = "",
      .parameters = ref(upid_params()),
      .returns = ref(dir_index_returns("name")),
      .permission = all(),
      .handler = [](RequestContext& ctx) {
        find_task(ctx, "Sys.Audit");
        return dir_index({"log", "status"}, "name");
      },
  });
  r.add({
      .name = "stop_task",
      .verb = Verb::Delete,
      .path = "/nodes/{node}/tasks/{upid}",
      .description = "Stop a task.",
      .parameters = ref(upid_params()),
      .returns = ref(null_type()),
      .permission = all().describe(
          "The user needs 'Sys.Modify' permissions on '/nodes/<node>' if they aren't the owner of the task."),
      .protected_ = true,
      .proxyto = "node",
      .handler = [](RequestContext& ctx) {
        auto info = find_task(ctx, "Sys.Modify");
        if (info.running) ctx.services().tasks->stop(info.upid_text);
        return Json(nullptr);
      },
  });
  r.add({
      .name = "read_task_status",
      .verb = Verb::Get,
      .path = "/nodes/{node}/tasks/{upid}/status",
      .description = "Read task status.",
      .parameters = ref(upid_params()),
      .returns = ref(task_status_schema()),
      .permission = all().describe(
          "The user needs 'Sys.Audit' permissions on '/nodes/<node>' if they aren't the owner of the task."),
      .proxyto = "node",
      .handler = [](RequestContext& ctx) { return task_status_entry(find_task(ctx, "Sys.Audit")); },
  });
  r.add({
      .name = "read_task_log",
      .verb = Verb::Get,
      .path = "/nodes/{node}/tasks/{upid}/log",
      .description = "Read task log.",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"upid", std_opt::upid()},
          {"start", integer("Start at this line when reading the tasklog").min(0).def(0).opt()},
          {"limit", integer("The amount of lines to read from the tasklog.").min(0).def(50).opt()},
          {"download", boolean("Whether the tasklog file should be downloaded. This parameter can't be used in "
                               "conjunction with other parameters")
                           .opt()},
      })),
      .returns = ref(array(object({
          {"n", integer("Line number")},
          {"t", string("Line text")},
      }))),
      .permission = all().describe(
          "The user needs 'Sys.Audit' permissions on '/nodes/<node>' if they aren't the owner of the task."),
      .proxyto = "node",
      .handler = [](RequestContext& ctx) {
        auto info = find_task(ctx, "Sys.Audit");
        // download=1 asks for the whole log (limit 0 = to the end).
        std::int64_t limit = ctx.flag("download") ? 0 : ctx.integer_or("limit", 50);
        auto [lines, total] = ctx.services().tasks->read_log(info.upid_text, ctx.integer_or("start", 0), limit);
        Json out = Json::array();
        for (const auto& l : lines) out.push_back({{"n", l.n}, {"t", l.t}});
        ctx.set_total(total);
        return out;
      },
  });
}

}  // namespace pvx::api::handlers
