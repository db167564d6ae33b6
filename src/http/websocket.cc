// Upgrade detection: whether a request asks for a WebSocket.
#include "http/websocket.h"

#include "base/strings.h"
#include "http/message.h"

namespace pvx::http {

bool is_websocket_upgrade(const Request& request) {
  if (request.method != "GET") return false;
  if (to_lower(trim(request.header("upgrade"))) != "websocket") return false;
  // "Connection: keep-alive, Upgrade" (Firefox) as well as "Upgrade".
  for (const std::string& token : split_any(request.header("connection"), ",")) {
    if (to_lower(trim(token)) == "upgrade") return true;
  }
  return false;
}

}  // namespace pvx::http
