// Container consoles: termproxy reserves a terminal session whose WebSocket is joined to a tty
// of the container (liblxc hands its pty over the monitor's command socket), vncwebsocket is the
// shared one of the VMs. A VNC console of a container needs a terminal-to-VNC server, which pvx
// does not have: vncproxy says so and points to termproxy.
#include "api/handlers/console_common.h"
#include "api/handlers/lxc_common.h"
#include "guest/lxc/ct_service.h"
#include "guest/lxc/lxc_runtime.h"

namespace pvx::api::handlers {
namespace {

namespace gl = guest::lxc;

Json termproxy(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  auto loaded = svc.load_or_throw(vmid);
  if (!svc.runtime(vmid).running) throw Error("CT " + std::to_string(vmid) + " not running", 500);
  // cmode: "console" is /dev/console, "tty" (the default) the first free tty, "shell" is not
  // a console of the container's own.
  const std::string cmode = loaded.config.main.get_or("cmode", "tty");
  if (cmode == "shell") throw Error("console mode 'shell' is not supported by pvx yet - use cmode tty or console", 501);
  const int ttynum = cmode == "console" ? 0 : -1;
  const auto lxcpath = svc.lxcpath();
  guest::qemu::ConsoleTarget target{.kind = guest::qemu::ConsoleKind::Terminal, .serial = "console"};
  target.open = [lxcpath, vmid, ttynum] {
    gl::LxcHandle h(lxcpath, std::to_string(vmid));
    return h.console_fd(ttynum);
  };
  auto reserved = reserve_console(ctx, vmid, std::move(target));
  return {{"user", ctx.who().full()},
          {"ticket", reserved.ticket},
          {"port", reserved.session->port()},
          {"upid", reserved.upid}};
}

Json vncproxy(RequestContext& ctx) {
  ct_service(ctx).load_or_throw(ctx.integer("vmid"));
  throw Error("a VNC console of a container is not supported by pvx yet - open its terminal with termproxy", 501);
}

Json vncwebsocket(RequestContext& ctx) {
  return serve_vncwebsocket(ctx, [&] { ct_service(ctx).load_or_throw(ctx.integer("vmid")); });
}

}  // namespace

void register_lxc_console(Router& r) {
  r.add(lxc_method("POST /nodes/{node}/lxc/{vmid}/termproxy", termproxy));
  r.add(lxc_method("POST /nodes/{node}/lxc/{vmid}/vncproxy", vncproxy));
  auto ws = lxc_method("GET /nodes/{node}/lxc/{vmid}/vncwebsocket", vncwebsocket);
  ws.websocket = true;
  r.add(std::move(ws));
}

}  // namespace pvx::api::handlers
