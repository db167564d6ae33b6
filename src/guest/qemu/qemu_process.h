#pragma once
// QEMU processes as pvx runs them: spawned as a child in its own session (QEMU itself does not
// daemonize, so pvxd knows the pid at once), pid file + QMP socket in the run directory, found
// again after a daemon restart by pid file, /proc/<pid>/cmdline (the QMP socket path, which names
// the run directory and the VMID; `-id <vmid>` must agree when given — only Proxmox's QEMU build
// has that option, upstream QEMU 7.2 rejects it) and a QMP handshake. A zombie counts as stopped
// (PID 1 here reaps late).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "guest/qemu/vm_paths.h"

namespace pvx::guest::qemu {

struct ProcessInfo {
  int pid = 0;
  std::int64_t start_time = 0;  // unix seconds the process started (from /proc/<pid>/stat)
};

// The running QEMU of a VM, or nullopt. Cheap (a pid file read and two /proc reads): fine to
// call for every VM of a listing.
std::optional<ProcessInfo> find_vm_process(const VmPaths& paths);

struct SpawnOptions {
  std::chrono::milliseconds qmp_timeout{std::chrono::seconds(30)};  // until the QMP socket answers
  std::filesystem::path log_file;  // QEMU's stdout+stderr go here (appended); "" = <dir>/<vmid>.log
  // Runs in the exit watcher thread once the started QEMU exited and was reaped (quit, guest
  // poweroff, crash, kill). Registered before spawn_qemu returns; never runs when it throws.
  std::function<void()> on_exit;
};
// Starts `argv` (argv[0] = the qemu binary) in its own session (stdin /dev/null, output to the
// log file, no other descriptors), writes the pid file, waits until QMP answers the handshake.
// On failure kills the process and throws Error 500 "start failed: <QEMU's last output lines>"
// ("start failed: QEMU exited with code N" when it printed nothing). Error 500
// "VM <vmid> already running" when find_vm_process finds one.
// The child is pvxd's: the exit watcher reaps it (claimed, so the child reaper never does).
ProcessInfo spawn_qemu(const VmPaths& paths, const std::vector<std::string>& argv, const SpawnOptions& options);

// Sends SIGTERM, waits up to `timeout`, then SIGKILL; waits for exit; removes the pid file and
// sockets. No-op when not running.
void kill_vm_process(const VmPaths& paths, std::chrono::milliseconds timeout);
// Waits until the process is gone (after a QMP quit or guest poweroff); false on timeout.
bool wait_vm_exit(const VmPaths& paths, int pid, std::chrono::milliseconds timeout);
// Removes the pid file and sockets of a VM that is not running (crashed QEMU); does nothing
// while find_vm_process still finds its QEMU.
void cleanup_vm_files(const VmPaths& paths);

// Calls `on_exit` in the exit watcher thread (one thread polling pidfds) once process `pid` has
// exited (a zombie counts); soon, in that thread, when it is gone already. Works for any process,
// children or not: for QEMUs re-adopted after a daemon restart, as for spawned ones (prefer
// SpawnOptions::on_exit there: it cannot miss an exit right after the start). Exceptions from
// `on_exit` are logged; callbacks run one after another, so keep them short (or hand long work
// to a task). Check with find_vm_process after registering that `pid` is still the VM.
void watch_vm_exit(int pid, std::function<void()> on_exit);

// Process statistics for /status/current: cpu seconds (utime+stime), resident memory.
struct ProcessStats {
  double cpu_seconds = 0;
  std::uint64_t rss_bytes = 0;
};
std::optional<ProcessStats> process_stats(int pid);

}  // namespace pvx::guest::qemu
