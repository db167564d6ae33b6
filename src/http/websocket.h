#pragma once
// WebSocket sessions: what a request that upgrades to a WebSocket runs once the server has
// answered "101 Switching Protocols". A handler answers such a request with a Response whose
// `websocket` is set (see message.h); the server then runs the session's coroutine on the
// connection's strand. The server implements WebSocket over Beast (server.cc); sessions are plain
// Asio coroutines and never see Beast types.
#include <boost/asio/awaitable.hpp>

#include <string>
#include <string_view>

namespace pvx::http {

// One accepted WebSocket as a session sees it. Lives until the session's run() returns; every
// call is made on the connection's strand (the executor run() starts on). At most one read()
// and one write() may be pending at any time, so a session that pumps both ways reads in one
// coroutine and writes in another. Pings are answered inside; the server pings an idle peer and
// ends the connection when it stays silent (a pending read then returns false).
class WebSocket {
 public:
  virtual ~WebSocket() = default;
  // The next message's payload (text or binary, fragments joined) replaces `out`. False once the
  // peer closed, the connection failed or timed out, or close() was called.
  virtual boost::asio::awaitable<bool> read(std::string& out) = 0;
  // Sends one binary message; false when the connection is gone.
  virtual boost::asio::awaitable<bool> write(std::string_view data) = 0;
  // Sends the close frame (1000, normal closure) once; a pending read then ends. Counts as a
  // write: never while a write() is pending.
  virtual boost::asio::awaitable<void> close() = 0;
};

// What the upgraded connection runs. Owned by the Response, then by the server's connection.
class WebSocketSession {
 public:
  virtual ~WebSocketSession() = default;
  // The subprotocol answered in Sec-WebSocket-Protocol, chosen from the client's offer (the
  // comma-separated request header, "" when it offered none). The default takes "binary" when
  // offered, else the first offer, as PVE's proxy (which echoes the request) in effect does.
  // Inline, as is the whole class: modules that implement sessions (guest/qemu) need no link
  // dependency on the server.
  virtual std::string choose_subprotocol(std::string_view offered) const {
    std::string first;
    while (!offered.empty()) {
      auto comma = offered.find(',');
      std::string_view item = offered.substr(0, comma);
      offered = comma == std::string_view::npos ? std::string_view{} : offered.substr(comma + 1);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (item == "binary") return std::string(item);
      if (first.empty()) first = item;
    }
    return first;
  }
  // Runs until the session is over; the server closes the connection afterwards.
  virtual boost::asio::awaitable<void> run(WebSocket& socket) = 0;
};

// True when the request asks for a WebSocket upgrade (GET, "Connection: upgrade",
// "Upgrade: websocket"). The key and version are checked by the server's handshake.
struct Request;
bool is_websocket_upgrade(const Request& request);

}  // namespace pvx::http
