#pragma once
// What the VM and container consoles share (qemu_console.cc): reserving a console session with
// its "vncproxy" task and ticket, and the vncwebsocket that joins a client to it.
#include <functional>
#include <memory>
#include <string>

#include "api/handlers/common.h"
#include "guest/qemu/console_sessions.h"

namespace pvx::api::handlers {

struct ConsoleReservation {
  std::shared_ptr<guest::qemu::ConsoleSession> session;
  std::string upid;
  std::string ticket;
};

// Reserves the session, starts the task that serves it and makes the ticket (bound to
// /vms/<vmid> and the session's port). The task is PVE's "vncproxy" for VNC and terminals.
ConsoleReservation reserve_console(RequestContext& ctx, std::int64_t vmid, guest::qemu::ConsoleTarget target);

// GET .../vncwebsocket: checks the ticket, then `check_guest` (throws when the guest is gone),
// and on a WebSocket upgrade joins the client to the reserved session.
Json serve_vncwebsocket(RequestContext& ctx, const std::function<void()>& check_guest);

}  // namespace pvx::api::handlers
