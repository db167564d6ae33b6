#pragma once
// pvxd's qmeventd: QEMU runs with `-no-shutdown` (as in PVE), so a guest that powers off leaves
// QEMU in the "shutdown" state instead of ending it. Every QEMU pvxd starts also connects, as a
// QMP client with `reconnect`, to one unix socket of pvxd's (`<run_dir>/qmeventd.sock`); this
// listener reads the events of all VMs in one thread and answers a guest's SHUTDOWN with `quit`,
// so QEMU exits and the exit watcher cleans up. After a pvxd restart QEMU reconnects by itself.
#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace pvx::guest::qemu {

class VmEventListener {
 public:
  explicit VmEventListener(std::filesystem::path socket_path);
  ~VmEventListener();  // stops the thread; QEMUs keep running and reconnect to the next pvxd
  VmEventListener(const VmEventListener&) = delete;
  VmEventListener& operator=(const VmEventListener&) = delete;

  // Binds the socket (replacing a stale one) and starts the thread. Throws Error 500.
  void start();

  // The QEMU options that connect a VM to this listener.
  std::vector<std::string> qemu_args() const;

 private:
  void run();
  std::filesystem::path path_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: ends the thread
  std::thread thread_;
};

}  // namespace pvx::guest::qemu
