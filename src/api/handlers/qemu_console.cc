// VM consoles: vncproxy and termproxy reserve a console session (a port token, a VNC ticket and
// a "vncproxy" task that lives as long as the connection), vncwebsocket checks the ticket and
// joins the WebSocket to the VM's VNC or serial unix socket (guest/qemu/console_*), and
// spiceproxy explains that SPICE is not there yet. No TCP port is opened for any of them.
#include "api/handlers/common.h"
#include "api/handlers/console_common.h"
#include "api/handlers/qemu_common.h"
#include "api/handlers/register.h"
#include "auth/auth_service.h"
#include "base/atomic_file.h"
#include "base/random.h"
#include "base/strings.h"
#include "guest/qemu/console_bridge.h"
#include "guest/qemu/console_sessions.h"
#include "guest/qemu/vm_service.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;
namespace qemu = guest::qemu;

constexpr std::size_t kCertLimit = 8192;  // PVE reads at most this much of the CA file



// The `type` of a `vga` property string ("qxl,memory=32", "type=serial0"); "" when unset.
std::string vga_type(const guest::ConfigSection& conf) {
  auto vga = conf.get("vga");
  if (!vga) return "";
  for (const std::string& item : split_any(*vga, ",")) {
    if (item.find('=') == std::string::npos) return item;
    if (item.starts_with("type=")) return item.substr(5);
  }
  return "";
}

bool is_serial_display(const std::string& type) { return type.size() == 7 && type.starts_with("serial"); }

void require_running(RequestContext& ctx, std::int64_t vmid) {
  if (!vm_service(ctx).runtime(vmid).running) throw Error("VM " + std::to_string(vmid) + " not running", 500);
}

// PVE's VNC password: 8 printable characters from '!' to '`', drawn without bias.
std::string vnc_password() {
  std::string out;
  while (out.size() < 8) {
    for (unsigned char c : random_bytes(16)) {
      // 64 values in range; 256 is a multiple of 64, so c % 64 is unbiased.
      if (out.size() < 8) out.push_back(static_cast<char>('!' + c % 64));
    }
  }
  return out;
}

Json vncproxy(RequestContext& ctx) {
  std::int64_t vmid = ctx.integer("vmid");
  auto loaded = vm_service(ctx).load_or_throw(vmid);
  std::string display = vga_type(loaded.config.main);
  if (is_serial_display(display)) {
    // PVE renders a serial display with vncterm, a VNC server of its own.
    throw Error("VNC on a serial display (vga: " + display +
                    ") is not supported by pvx yet - open the serial terminal with termproxy",
                501);
  }
  if (display == "none") throw Error("VM " + std::to_string(vmid) + " has no display (vga: none)", 500);
  require_running(ctx, vmid);
  auto paths = vm_service(ctx).paths(vmid);

  auto reserved = reserve_console(ctx, vmid, {.kind = qemu::ConsoleKind::Vnc, .socket = paths.vnc()});
  // As PVE: a password is generated and also put in front of the ticket (old clients take the
  // ticket as the VNC password). pvx authenticates the client at the WebSocket, so QEMU's VNC
  // server (reachable only through it) asks for none.
  std::string password = vnc_password();
  // The certificate the daemon serves (daemon/main.cc makes it); PVE returns its cluster CA here.
  std::string cert = read_file(ctx.services().data_dir / "ssl" / "pvx-ssl.pem").value_or("");
  if (cert.size() > kCertLimit) cert.resize(kCertLimit);
  return {{"user", ctx.who().full()},
          {"ticket", password + ":" + reserved.ticket},
          {"password", password},
          {"cert", cert},
          {"port", reserved.session->port()},
          {"upid", reserved.upid}};
}

// The serial port a terminal opens: the one asked for, the serial display, or the first
// `serialN: socket` (as `qm terminal` picks it).
std::string terminal_port(RequestContext& ctx, const guest::ConfigSection& conf) {
  std::string serial = ctx.opt_str("serial").value_or("");
  if (serial.empty() && is_serial_display(vga_type(conf))) serial = vga_type(conf);
  if (!serial.empty()) {
    auto value = conf.get(serial);
    if (!value) throw Error("serial interface '" + serial + "' is not configured", 500);
    if (*value != "socket") throw Error("wrong serial type on interface '" + serial + "'", 500);
    return serial;
  }
  for (const char* candidate : {"serial0", "serial1", "serial2", "serial3"}) {
    if (conf.get(candidate) == std::optional<std::string>("socket")) return candidate;
  }
  throw Error("unable to find a serial interface", 500);
}

Json termproxy(RequestContext& ctx) {
  std::int64_t vmid = ctx.integer("vmid");
  auto loaded = vm_service(ctx).load_or_throw(vmid);
  std::string serial = terminal_port(ctx, loaded.config.main);
  require_running(ctx, vmid);
  auto paths = vm_service(ctx).paths(vmid);
  auto reserved = reserve_console(
      ctx, vmid, {.kind = qemu::ConsoleKind::Terminal, .socket = paths.serial(serial.back() - '0'), .serial = serial});
  return {{"user", ctx.who().full()},
          {"ticket", reserved.ticket},
          {"port", reserved.session->port()},
          {"upid", reserved.upid}};
}

Json vncwebsocket(RequestContext& ctx) {
  return serve_vncwebsocket(ctx, [&] { vm_service(ctx).load_or_throw(ctx.integer("vmid")); });
}

Json spiceproxy(RequestContext& ctx) {
  std::int64_t vmid = ctx.integer("vmid");
  auto loaded = vm_service(ctx).load_or_throw(vmid);
  std::string display = vga_type(loaded.config.main);
  if (display.starts_with("qxl")) throw Error("SPICE is not supported by pvx yet", 501);
  require_running(ctx, vmid);
  // What PVE answers when QEMU has no SPICE server, with the reason spelled out.
  throw Error("no spice port - VM " + std::to_string(vmid) + " has no SPICE display (vga: " +
                  (display.empty() ? std::string("std") : display) + ")",
              500);
}

Permission console_permission() { return perm("/vms/{vmid}", {"VM.Console"}); }

}  // namespace

// Reserves the session, starts the task that serves it and makes the ticket. The task is
// PVE's "vncproxy" for both VNC and terminals.
ConsoleReservation reserve_console(RequestContext& ctx, std::int64_t vmid, qemu::ConsoleTarget target) {
  const std::string user = ctx.who().full();
  auto& sessions = qemu::ConsoleSessions::host();
  auto session = sessions.reserve(vmid, user, std::move(target));
  try {
    std::string ticket = ctx.services().auth->assemble_vnc_ticket(user, "/vms/" + std::to_string(vmid), session->port());
    auto upid = ctx.services().tasks->spawn("vncproxy", std::to_string(vmid), user,
                                            [session](tasks::TaskContext& task) {
                                              qemu::ConsoleSessions::host().serve(session, task);
                                            });
    return {session, upid.str(), std::move(ticket)};
  } catch (...) {
    sessions.release(session->port());
    throw;
  }
}

Json serve_vncwebsocket(RequestContext& ctx, const std::function<void()>& check_guest) {
  std::int64_t vmid = ctx.integer("vmid");
  int port = static_cast<int>(ctx.integer("port"));
  const std::string user = ctx.who().full();
  const std::string path = "/vms/" + std::to_string(vmid);
  auth::AuthService* auth = ctx.services().auth;
  if (!auth->verify_vnc_ticket(ctx.str("vncticket"), user, path, port)) {
    throw Error("permission denied - invalid PVEVNC ticket", 401);
  }
  check_guest();
  if (ctx.websocket_requested()) {
    auto session = qemu::ConsoleSessions::host().claim(port, vmid, user);
    // A terminal client proves itself again with its first line, as to PVE's termproxy; the
    // line must name the user this WebSocket was opened by.
    ctx.accept_websocket(qemu::make_console_bridge(
        session, [auth, user, path, port](const std::string& line_user, const std::string& ticket) {
          return line_user == user && auth->verify_vnc_ticket(ticket, user, path, port);
        }));
  }
  return {{"port", std::to_string(port)}};
}

void register_qemu_console(Router& r) {
  r.add({
      .name = "vncproxy",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/vncproxy",
      .description = "Creates a TCP VNC proxy connections.",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"vmid", std_opt::vmid()},
          {"websocket", boolean("Prepare for websocket upgrade (only required when using serial terminal, "
                                "otherwise upgrade is always possible).")
                            .opt()},
          {"generate-password", boolean("Deprecated, do not use. Password is generated when required.")
                                    .def(0)
                                    .opt()},
      })),
      .returns = ref(object({
          {"user", string()},
          {"ticket", string()},
          {"password", string("Password used for authentication within the VNC protocol. Consists of printable "
                              "ASCII characters ('!' .. '~').")
                           .opt()},
          {"cert", string()},
          {"port", integer()},
          {"upid", string()},
      })),
      .permission = console_permission(),
      .protected_ = true,
      .handler = vncproxy,
  });
  r.add({
      .name = "termproxy",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/termproxy",
      .description = "Creates a TCP proxy connections.",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"vmid", std_opt::vmid()},
          {"serial", enumeration({"serial0", "serial1", "serial2", "serial3"},
                                 "opens a serial terminal (defaults to display)")
                         .opt()},
      })),
      .returns = ref(object({
          {"user", string()},
          {"ticket", string()},
          {"port", integer()},
          {"upid", string()},
      })),
      .permission = console_permission(),
      .protected_ = true,
      .handler = termproxy,
  });
  r.add({
      .name = "vncwebsocket",
      .verb = Verb::Get,
      .path = "/nodes/{node}/qemu/{vmid}/vncwebsocket",
      .description = "Opens a websocket for VNC traffic.",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"vmid", std_opt::vmid()},
          {"vncticket", string("Ticket from previous call to vncproxy.").max_len(512)},
          {"port", integer("Port number returned by previous vncproxy call.").min(5900).max(5999)},
      })),
      .returns = ref(object({{"port", string()}}).additional()),
      .permission = console_permission().describe("You also need to pass a valid ticket (vncticket)."),
      .websocket = true,
      .handler = vncwebsocket,
  });
  r.add({
      .name = "spiceproxy",
      .verb = Verb::Post,
      .path = "/nodes/{node}/qemu/{vmid}/spiceproxy",
      .description = "Returns a SPICE configuration to connect to the VM.",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"vmid", std_opt::vmid()},
          {"proxy", string("SPICE proxy server. This can be used by the client to specify the proxy server. All "
                           "nodes in a cluster runs 'spiceproxy', so it is up to the client to choose one. By "
                           "default, we return the node where the VM is currently running. As reasonable "
                           "setting is to use same node you use to connect to the API (This is "
                           "window.location.hostname for the JS GUI).")
                        .fmt("address")
                        .opt()},
      })),
      .returns = ref(object({
                         {"host", string().opt()},
                         {"password", string().opt()},
                         {"proxy", string().opt()},
                         {"tls-port", integer().opt()},
                         {"type", string().opt()},
                     },
                     "Returned values can be directly passed to the 'remote-viewer' application.")
                         .additional()),
      .permission = console_permission(),
      .protected_ = true,
      .proxyto = "node",
      .handler = spiceproxy,
  });
}

}  // namespace pvx::api::handlers
