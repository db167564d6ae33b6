#pragma once
// A helper daemon pvxd keeps alive (dnsmasq now; swtpm and others later): started in its own
// process group with SIGTERM as parent-death signal, restarted with back-off when it exits, and
// stopped (SIGTERM, then SIGKILL after a grace period) on destruction. A monitor thread waits
// for the child, so the child is always reaped.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pvx {

struct SupervisedOptions {
  std::string name;                 // for log lines: "dnsmasq vmbr0"
  std::vector<std::string> argv;    // argv[0] absolute or found in PATH
  std::chrono::milliseconds min_backoff{500};
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::milliseconds stop_grace{3000};
  // Called in the monitor thread before each (re)start; may throw to skip this attempt.
  std::function<void()> before_start = {};
};

class SupervisedProcess {
 public:
  // Starts the first instance at once (returns after the first attempt); a failure to exec is
  // logged and retried like an exit.
  explicit SupervisedProcess(SupervisedOptions options);
  ~SupervisedProcess();  // stops the child and the monitor thread
  SupervisedProcess(const SupervisedProcess&) = delete;
  SupervisedProcess& operator=(const SupervisedProcess&) = delete;

  int pid() const;             // current child, 0 while none runs
  unsigned restarts() const;   // start attempts after the first (failed ones included)
  const SupervisedOptions& options() const { return options_; }

 private:
  void monitor();
  void run_once();
  void note_attempt();

  SupervisedOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;  // stop requests, child exits, the first attempt
  int pid_ = 0;
  unsigned attempts_ = 0;
  unsigned restarts_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace pvx
