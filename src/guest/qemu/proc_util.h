#pragma once
// Small process helpers the QEMU, swtpm and KVM probe code share: pidfds (a handle on a process
// that a reused pid cannot fool), pid files and command lines in /proc.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace pvx::guest::qemu {

// pidfd_open(2); -1 with errno on failure (ESRCH: no such process).
int open_pidfd(pid_t pid);
// Waits until the pidfd reports the exit (a zombie counts); false on timeout.
bool wait_pidfd(int pidfd, std::chrono::milliseconds timeout);
// pidfd_send_signal when there is a pidfd, kill() otherwise.
int signal_process(int pidfd, pid_t pid, int sig);

// The first number in a pid file; nullopt when missing or not a positive number.
std::optional<int> read_pid_file(const std::filesystem::path& file);
// /proc/<pid>/cmdline split at NULs; empty for a zombie or a missing process.
std::vector<std::string> read_cmdline(pid_t pid);
// Whether `arg` names `path` as a whole option value: "path=<path>,server=on", "unix:<path>", <path>.
bool arg_names_path(const std::string& arg, const std::string& path);

}  // namespace pvx::guest::qemu
