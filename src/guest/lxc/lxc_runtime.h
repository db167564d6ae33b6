#pragma once
// liblxc's C API for one container of pvx's lxcpath (<run_dir>/lxc/<vmid>/config). A handle is
// opened per call and used by one thread only, as liblxc wants. Starting forks the container's
// monitor, which must not happen inside a multi-threaded daemon, so pvxd starts containers with
// `pvx-lxc-start <lxcpath> <vmid>` (lxc_start.cc: a small program beside pvxd that calls
// start() and exits); everything else (stop, shutdown, freeze, cgroup items) talks to the
// monitor over its command socket and runs in-process.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

struct lxc_container;

namespace pvx::guest::lxc {

class LxcHandle {
 public:
  // Error 500 when liblxc cannot open the container.
  LxcHandle(const std::filesystem::path& lxcpath, const std::string& name);
  ~LxcHandle();
  LxcHandle(const LxcHandle&) = delete;
  LxcHandle& operator=(const LxcHandle&) = delete;

  std::string state();          // "RUNNING", "STOPPED", "FROZEN", "STARTING", ...
  bool running();
  pid_t init_pid();             // -1 when not running
  void stop();                  // hard stop; Error 500 on failure
  // Sends the halt signal and waits; false when it did not stop in time.
  bool shutdown(std::chrono::seconds timeout);
  void freeze();
  void unfreeze();
  bool wait_state(const std::string& state, std::chrono::seconds timeout);
  // A cgroup value of the running container ("memory.limit_in_bytes").
  bool set_cgroup(const std::string& key, const std::string& value);
  std::string get_cgroup(const std::string& key);
  // A pty of the container's console (ttynum 0) or a tty (-1: the first free one); the caller
  // owns the returned descriptor.
  int console_fd(int ttynum);
  lxc_container* raw() { return c_; }

 private:
  lxc_container* c_ = nullptr;
  std::string name_;
};

// Runs `starter` (pvx-lxc-start); returns the init pid. Error 500 with liblxc's log lines on
// failure.
pid_t start_container(const std::filesystem::path& starter, const std::filesystem::path& lxcpath,
                      const std::string& name, const std::filesystem::path& log_file);

}  // namespace pvx::guest::lxc
