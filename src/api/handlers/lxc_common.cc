#include "api/handlers/lxc_common.h"

#include <set>

#include "api/handlers/qemu_common.h"
#include "guest/lxc/ct_config.h"
#include "guest/lxc/ct_service.h"
#include "storage/volume_id.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {

extern const std::string_view kLxcApiJson;  // lxc_api.json, embedded by cmake/embed_text.cmake

namespace gl = guest::lxc;

gl::CtService& ct_service(RequestContext& ctx) {
  auto* svc = ctx.services().lxc;
  if (!svc) throw Error("container support is not available on this node", 501);
  return *svc;
}

namespace {
// The declarations, parsed only while the container methods are registered (register_lxc_cts):
// the method table keeps what it needs, the parsed document is not kept.
const Json* g_declarations = nullptr;
}  // namespace

LxcDeclarations::LxcDeclarations() : data_(Json::parse(kLxcApiJson)) { g_declarations = &data_; }
LxcDeclarations::~LxcDeclarations() { g_declarations = nullptr; }

ApiMethod lxc_method(const std::string& key, Handler handler, std::vector<CliAlias> cli) {
  if (g_declarations == nullptr) throw std::logic_error("lxc_method outside register_lxc_cts");
  return reference_method(*g_declarations, key, std::move(handler), std::move(cli));
}

namespace {

void check_mount_perm(RequestContext& ctx, const std::string& vmpath, const std::string& key, const std::string& value) {
  ctx.check(vmpath, {"VM.Config.Disk"});
  auto mp = gl::parse_mount_point(key, value);
  if (mp.kind != gl::MountKind::Volume) {
    if (ctx.who().full() != "root@pam") throw Error("only root can set '" + key + "' as a bind or device mount", 403);
    return;
  }
  if (mp.is_new_volume()) {
    ctx.check("/storage/" + mp.new_volume_storage(), {"Datastore.AllocateSpace"});
  } else if (auto id = storage::VolumeId::try_parse(mp.volume)) {
    ctx.check("/storage/" + id->storage, {"Datastore.AllocateSpace", "Datastore.Audit"}, true);
  }
}

void check_key_perm(RequestContext& ctx, const std::string& vmpath, const std::string& key, const std::string* value,
                    bool creating) {
  static const std::set<std::string> kCpu = {"cores", "cpulimit", "cpuunits"};
  static const std::set<std::string> kMemory = {"memory", "swap"};
  static const std::set<std::string> kNetwork = {"nameserver", "searchdomain", "hostname"};
  static const std::set<std::string> kRootOnly = {"lock", "hookscript", "entrypoint"};
  if (gl::is_mount_key(key)) {
    if (value) {
      check_mount_perm(ctx, vmpath, key, *value);
      return;
    }
    return ctx.check(vmpath, {"VM.Config.Disk"});
  }
  if (key.starts_with("unused")) return ctx.check(vmpath, {"VM.Config.Disk"});
  if (kCpu.count(key)) return ctx.check(vmpath, {"VM.Config.CPU"});
  if (kMemory.count(key)) return ctx.check(vmpath, {"VM.Config.Memory"});
  if (gl::is_net_key(key) || kNetwork.count(key)) return ctx.check(vmpath, {"VM.Config.Network"});
  if (key == "unprivileged") {
    // Chosen at create (VM.Allocate, checked there); the id map of existing files cannot change.
    if (!creating) throw Error::param(key, "unable to modify read-only option: 'unprivileged'");
    return;
  }
  if (key == "features") {
    // Only nesting may be toggled without root, as in PVE.
    if (value && (*value == "nesting=1" || *value == "nesting=0")) return ctx.check(vmpath, {"VM.Allocate"});
    if (ctx.who().full() != "root@pam") throw Error("only root can set 'features' other than nesting", 403);
    return;
  }
  if (key.starts_with("dev") || kRootOnly.count(key) || key.starts_with("lxc.")) {
    if (ctx.who().full() != "root@pam") throw Error("only root can set '" + key + "' config", 403);
    return;
  }
  ctx.check(vmpath, {"VM.Config.Options"});
}

}  // namespace

void check_ct_config_perm(RequestContext& ctx, std::int64_t vmid,
                          const std::vector<std::pair<std::string, std::string>>& set,
                          const std::vector<std::string>& deleted, bool creating) {
  const std::string vmpath = "/vms/" + std::to_string(vmid);
  for (const auto& [k, v] : set) check_key_perm(ctx, vmpath, k, &v, creating);
  for (const auto& k : deleted) check_key_perm(ctx, vmpath, k, nullptr, creating);
}

std::string spawn_ct_task(RequestContext& ctx, const std::string& type, std::int64_t vmid,
                          std::function<void(tasks::TaskContext&)> fn) {
  return ctx.services().tasks->spawn(type, std::to_string(vmid), ctx.who().full(), std::move(fn)).str();
}

Json ct_status_entry(gl::CtService& svc, std::int64_t vmid, const guest::LoadedGuestConfig& loaded,
                     const gl::CtRuntime& rt) {
  const auto& conf = loaded.config.main;
  const auto fig = svc.figures(vmid, conf);
  return ct_status_entry(svc, vmid, loaded, fig, rt);
}

Json ct_status_entry(gl::CtService& svc, std::int64_t vmid, const guest::LoadedGuestConfig& loaded,
                     const gl::CtFigures& fig, const gl::CtRuntime& rt) {
  const auto& conf = loaded.config.main;
  const std::int64_t cores = fig.cpus;
  Json e = {{"vmid", vmid},
            {"status", rt.running ? "running" : "stopped"},
            {"type", "lxc"},
            {"cpus", cores},
            {"maxmem", fig.maxmem},
            {"maxswap", fig.maxswap},
            {"maxdisk", fig.maxdisk},
            {"disk", 0},
            {"cpu", 0},
            {"mem", 0},
            {"swap", 0},
            {"uptime", 0},
            {"netin", 0},
            {"netout", 0},
            {"diskread", 0},
            {"diskwrite", 0}};
  e["name"] = fig.name;
  if (auto tags = conf.get("tags")) e["tags"] = *tags;
  if (auto lock = conf.get("lock")) e["lock"] = *lock;
  if (conf.get_or("template", "0") == "1") e["template"] = 1;
  if (rt.running) {
    auto u = svc.usage(vmid, loaded, rt);
    e["pid"] = rt.pid;
    e["uptime"] = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::time(nullptr)) - rt.start_time);
    e["cpu"] = cores > 0 ? u.cpu_seconds / static_cast<double>(cores) : u.cpu_seconds;
    e["mem"] = u.mem;
    e["swap"] = u.swap;
    e["netin"] = u.netin;
    e["netout"] = u.netout;
    e["disk"] = u.disk;
  }
  return e;
}

std::vector<std::pair<std::int64_t, Json>> auditable_ct_entries(RequestContext& ctx, gl::CtService& svc) {
  const auto configs = svc.all_configs();
  const auto running = svc.runtimes();
  std::vector<std::pair<std::int64_t, Json>> out;
  out.reserve(configs.size());
  for (const auto& [vmid, loaded] : configs) {
    if (!ctx.allowed("/vms/" + std::to_string(vmid), {"VM.Audit"})) continue;
    auto it = running.find(vmid);
    out.emplace_back(vmid, ct_status_entry(svc, vmid, *loaded, loaded->figures,
                                           it == running.end() ? gl::CtRuntime{} : it->second));
  }
  return out;
}

}  // namespace pvx::api::handlers
