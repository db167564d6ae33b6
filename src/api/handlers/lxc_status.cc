// /nodes/{node}/lxc/{vmid}/status: the current state and the power operations, each a task of
// PVE's type (vzstart, vzstop, vzshutdown, vzreboot, vzsuspend, vzresume).
#include "api/handlers/lxc_common.h"
#include "api/handlers/qemu_common.h"
#include "guest/lxc/ct_service.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {
namespace {

namespace gl = guest::lxc;

Json status_index(RequestContext& ctx) {
  ct_service(ctx).load_or_throw(ctx.integer("vmid"));
  return dir_index({"current", "start", "stop", "shutdown", "reboot", "suspend", "resume"}, "subdir");
}

Json current_status(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  auto loaded = svc.load_or_throw(vmid);
  auto rt = svc.runtime(vmid);
  Json e = ct_status_entry(svc, vmid, loaded, rt);
  e["ha"] = {{"managed", 0}};
  return e;
}

void check_running(gl::CtService& svc, std::int64_t vmid, bool want) {
  bool running = svc.runtime(vmid).running;
  if (running && want) return;
  if (!running && !want) return;
  throw Error("CT " + std::to_string(vmid) + (want ? " not running" : " already running"), 500);
}

Json start_ct(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  check_skiplock(ctx);
  auto loaded = svc.load_or_throw(vmid);
  if (loaded.config.main.get_or("template", "0") == "1") throw Error("cannot start a template", 500);
  check_running(svc, vmid, false);
  const bool skiplock = ctx.flag("skiplock");
  return spawn_ct_task(ctx, "vzstart", vmid, [&svc, vmid, skiplock](tasks::TaskContext& t) { svc.start(vmid, t, skiplock); });
}

Json stop_ct(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  check_skiplock(ctx);
  svc.load_or_throw(vmid);
  check_running(svc, vmid, true);
  if (ctx.flag("overrule-shutdown")) overrule_shutdown_tasks(ctx, vmid, "vzshutdown");
  const bool skiplock = ctx.flag("skiplock");
  return spawn_ct_task(ctx, "vzstop", vmid, [&svc, vmid, skiplock](tasks::TaskContext& t) { svc.stop(vmid, t, skiplock); });
}

Json shutdown_ct(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  svc.load_or_throw(vmid);
  check_running(svc, vmid, true);
  const auto timeout = std::chrono::seconds(ctx.integer_or("timeout", 60));
  const bool force = ctx.flag("forceStop");
  return spawn_ct_task(ctx, "vzshutdown", vmid,
                       [&svc, vmid, timeout, force](tasks::TaskContext& t) { svc.shutdown(vmid, t, timeout, force); });
}

Json reboot_ct(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  svc.load_or_throw(vmid);
  check_running(svc, vmid, true);
  const auto timeout = std::chrono::seconds(ctx.integer_or("timeout", 60));
  return spawn_ct_task(ctx, "vzreboot", vmid, [&svc, vmid, timeout](tasks::TaskContext& t) { svc.reboot(vmid, t, timeout); });
}

Json suspend_ct(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  svc.load_or_throw(vmid);
  check_running(svc, vmid, true);
  return spawn_ct_task(ctx, "vzsuspend", vmid, [&svc, vmid](tasks::TaskContext&) { svc.suspend(vmid); });
}

Json resume_ct(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  svc.load_or_throw(vmid);
  check_running(svc, vmid, true);
  return spawn_ct_task(ctx, "vzresume", vmid, [&svc, vmid](tasks::TaskContext&) { svc.resume(vmid); });
}

}  // namespace

void register_lxc_status(Router& r) {
  r.add(lxc_method("GET /nodes/{node}/lxc/{vmid}/status", status_index));
  r.add(lxc_method("GET /nodes/{node}/lxc/{vmid}/status/current", current_status,
                   {{"pct", "status", {"vmid"}, {}, "", "qm-status"}}));
  r.add(lxc_method("POST /nodes/{node}/lxc/{vmid}/status/start", start_ct, {{"pct", "start", {"vmid"}}}));
  r.add(lxc_method("POST /nodes/{node}/lxc/{vmid}/status/stop", stop_ct, {{"pct", "stop", {"vmid"}}}));
  r.add(lxc_method("POST /nodes/{node}/lxc/{vmid}/status/shutdown", shutdown_ct, {{"pct", "shutdown", {"vmid"}}}));
  r.add(lxc_method("POST /nodes/{node}/lxc/{vmid}/status/reboot", reboot_ct, {{"pct", "reboot", {"vmid"}}}));
  r.add(lxc_method("POST /nodes/{node}/lxc/{vmid}/status/suspend", suspend_ct, {{"pct", "suspend", {"vmid"}}}));
  r.add(lxc_method("POST /nodes/{node}/lxc/{vmid}/status/resume", resume_ct, {{"pct", "resume", {"vmid"}}}));
}

}  // namespace pvx::api::handlers
