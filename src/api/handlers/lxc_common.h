#pragma once
// What the container handlers (lxc_*.cc) share: the service, their declarations from PVE's own
// (lxc_api.json through reference_method), PVE's per-key permission checks, and spawning a task.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "api/handlers/common.h"
#include "api/reference_method.h"
#include "guest/guest_configs.h"

namespace pvx::guest::lxc { class CtService; struct CtRuntime; struct CtFigures; }
namespace pvx::tasks { class TaskContext; }

namespace pvx::api::handlers {

guest::lxc::CtService& ct_service(RequestContext& ctx);  // Error 501 without container support

// A method of /nodes/{node}/lxc declared as PVE declares it; only while an LxcDeclarations lives.
ApiMethod lxc_method(const std::string& key, Handler handler, std::vector<CliAlias> cli = {});
class LxcDeclarations {
 public:
  LxcDeclarations();
  ~LxcDeclarations();
  LxcDeclarations(const LxcDeclarations&) = delete;
  LxcDeclarations& operator=(const LxcDeclarations&) = delete;

 private:
  Json data_;
};

// PVE's check_ct_modify_config_perm: rootfs/mpN need VM.Config.Disk (plus Datastore.AllocateSpace
// on the storage of a new volume; bind and device mount points are root's), memory/swap
// VM.Config.Memory, netN/nameserver/searchdomain/hostname VM.Config.Network, cores/cpulimit/
// cpuunits VM.Config.CPU, features root (nesting alone: VM.Allocate), `unprivileged` only at
// create, the rest VM.Config.Options; deleting needs what setting needs.
void check_ct_config_perm(RequestContext& ctx, std::int64_t vmid,
                          const std::vector<std::pair<std::string, std::string>>& set,
                          const std::vector<std::string>& deleted, bool creating = false);

// A task on a container ("vzstart"), id = the vmid.
std::string spawn_ct_task(RequestContext& ctx, const std::string& type, std::int64_t vmid,
                          std::function<void(tasks::TaskContext&)> fn);

// One container as listings and /status/current show it.
Json ct_status_entry(guest::lxc::CtService& svc, std::int64_t vmid, const guest::LoadedGuestConfig& loaded,
                     const guest::lxc::CtRuntime& rt);
Json ct_status_entry(guest::lxc::CtService& svc, std::int64_t vmid, const guest::LoadedGuestConfig& loaded,
                     const guest::lxc::CtFigures& figures, const guest::lxc::CtRuntime& rt);

// The containers the caller may audit, with their listing entries (/nodes/{node}/lxc, /cluster/resources).
std::vector<std::pair<std::int64_t, Json>> auditable_ct_entries(RequestContext& ctx, guest::lxc::CtService& svc);

void register_lxc_status(Router& r);
void register_lxc_config(Router& r);
void register_lxc_snapshots(Router& r);
void register_lxc_console(Router& r);

}  // namespace pvx::api::handlers
