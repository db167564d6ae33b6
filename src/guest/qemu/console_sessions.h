#pragma once
// The console proxies of this host. vncproxy/termproxy reserve a port number from PVE's range
// 5900-5999 and start a task; the client then opens vncwebsocket with that port and a ticket
// bound to it. The port is only a token in pvx: nothing listens on it, the WebSocket is joined
// straight to the VM's unix socket (VNC or serial). As with PVE's one-shot proxies, a session
// takes one connection, the task lives as long as that connection, and a session nobody
// connects to within 10 s ends (the task fails with PVE's message and the port is free again).
//
// Thread-safe: handlers reserve and claim on request threads, tasks wait on their own thread,
// the WebSocket side reports from the I/O thread.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace pvx::tasks { class TaskContext; }

namespace pvx::guest::qemu {

enum class ConsoleKind { Vnc, Terminal };

struct ConsoleTarget {
  ConsoleKind kind = ConsoleKind::Vnc;
  std::filesystem::path socket;  // QEMU's VNC server or the serial chardev (unix sockets)
  std::string serial;            // "serial0" for a terminal
  // Instead of `socket`: opens the console itself and returns a descriptor the bridge owns (a
  // container's tty). Runs on the connection's I/O thread; throws on failure.
  std::function<int()> open;
};

// One reserved console. Lifecycle: reserved -> connected (claimed by one WebSocket) -> ended.
class ConsoleSession {
 public:
  ConsoleSession(int port, std::int64_t vmid, std::string user, ConsoleTarget target)
      : port_(port), vmid_(vmid), user_(std::move(user)), target_(std::move(target)) {}

  int port() const { return port_; }
  std::int64_t vmid() const { return vmid_; }
  const std::string& user() const { return user_; }
  const ConsoleTarget& target() const { return target_; }

  // The WebSocket side. `abort` ends the connection from another thread (it must only post to
  // the connection's executor); it runs at once when an abort was already asked for. Cleared by
  // ended(), which the connection calls exactly once, when it is over.
  void set_abort(std::function<void()> abort);
  void ended();

  // The task side.
  void request_abort();
  // Waits until connected or over (true), or `until` passed (false).
  bool wait_connected(std::chrono::steady_clock::time_point until);
  // Waits until ended or `until` passed; true when ended.
  bool wait_ended(std::chrono::steady_clock::time_point until);

 private:
  friend class ConsoleSessions;
  bool expire();  // reserved -> ended (nobody came); false when it was claimed meanwhile
  enum class State { Reserved, Connected, Ended };
  const int port_;
  const std::int64_t vmid_;
  const std::string user_;
  const ConsoleTarget target_;
  std::mutex mutex_;
  std::condition_variable changed_;
  State state_ = State::Reserved;
  bool abort_requested_ = false;
  std::function<void()> abort_;
};

class ConsoleSessions {
 public:
  static constexpr int kFirstPort = 5900;
  static constexpr int kLastPort = 5999;
  static constexpr std::chrono::seconds kConnectTimeout{10};

  // The host's sessions: the port range is one per host, as PVE's.
  static ConsoleSessions& host();

  // Reserves the next free port after the last one handed out, so a port that was just freed
  // (and the tickets made for it) is not reused at once. Error 500 when all 100 are taken.
  std::shared_ptr<ConsoleSession> reserve(std::int64_t vmid, std::string user, ConsoleTarget target);
  // The WebSocket side: the session reserved on `port` for this VM and user, which is then
  // connected. Error 400 when there is none (never made, already taken, or over).
  std::shared_ptr<ConsoleSession> claim(int port, std::int64_t vmid, const std::string& user);
  // The task body: waits for the client (Error "connection timed out" after kConnectTimeout),
  // then until the connection ends; an abort of the task closes it. Frees the port on return.
  void serve(const std::shared_ptr<ConsoleSession>& session, tasks::TaskContext& task,
             std::chrono::milliseconds connect_timeout = kConnectTimeout);
  // Frees the port of a session whose task could not be started.
  void release(int port);

  std::size_t active() const;

 private:
  mutable std::mutex mutex_;
  std::map<int, std::shared_ptr<ConsoleSession>> sessions_;
  int next_hint_ = kFirstPort;
};

}  // namespace pvx::guest::qemu
