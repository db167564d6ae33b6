#pragma once
// The WebSocket end of a console: joins a claimed ConsoleSession to the VM's unix socket.
//   VNC:      binary RFB both ways, byte for byte, with QEMU's VNC server (noVNC on the other end).
//   Terminal: PVE's termproxy protocol (console_protocol.h) over the serial chardev: the client's
//             "<user>:<ticket>\n" is checked first and answered "OK", then input messages go to
//             the serial port and its output comes back as it is.
// Runs on the connection's strand; at most one socket read buffer (16 KiB) per direction.
#include <functional>
#include <memory>
#include <string>

#include "guest/qemu/console_sessions.h"
#include "http/websocket.h"

namespace pvx::guest::qemu {

// Checks the terminal's ticket line (user and VNC ticket) on the I/O thread: it must be cheap.
using TicketCheck = std::function<bool(const std::string& user, const std::string& ticket)>;

std::shared_ptr<http::WebSocketSession> make_console_bridge(std::shared_ptr<ConsoleSession> session,
                                                            TicketCheck check_ticket = {});

}  // namespace pvx::guest::qemu
