#pragma once
// QEMU processes as pvx runs them: spawned as a child in its own session (QEMU itself does not
// daemonize, so pvxd knows the pid at once), pid file + QMP socket in the run directory, found
// again after a daemon restart by pid file, /proc/<pid>/cmdline (`-id <vmid>` and the QMP socket
// path) and a QMP handshake. A zombie counts as stopped (PID 1 here reaps late).
#include <chrono>
#include <cstdint>
#include <filesystem>
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
  std::filesystem::path log_file;  // QEMU's stderr goes here (appended), for the task log on failure
};
// Starts `argv` (argv[0] = the qemu binary), writes the pid file, waits until QMP answers.
// On failure kills the process and throws Error 500 "start failed: <QEMU's last stderr lines>".
ProcessInfo spawn_qemu(const VmPaths& paths, const std::vector<std::string>& argv, const SpawnOptions& options);

// Sends SIGTERM, waits up to `timeout`, then SIGKILL; waits for exit; removes the pid file and
// sockets. No-op when not running.
void kill_vm_process(const VmPaths& paths, std::chrono::milliseconds timeout);
// Waits until the process is gone (after a QMP quit or guest poweroff); false on timeout.
bool wait_vm_exit(const VmPaths& paths, int pid, std::chrono::milliseconds timeout);
// Removes the pid file and sockets of a VM that is not running (crashed QEMU).
void cleanup_vm_files(const VmPaths& paths);

// Process statistics for /status/current: cpu seconds (utime+stime), resident memory.
struct ProcessStats {
  double cpu_seconds = 0;
  std::uint64_t rss_bytes = 0;
};
std::optional<ProcessStats> process_stats(int pid);

}  // namespace pvx::guest::qemu
