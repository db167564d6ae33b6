// Starting, finding, stopping and measuring the QEMU process of a VM.
#include "guest/qemu/qemu_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "base/atomic_file.h"
#include "base/child_exec.h"
#include "base/child_reaper.h"
#include "base/error.h"
#include "base/proc_stat.h"
#include "base/process.h"
#include "base/strings.h"
#include "base/unique_fd.h"
#include "guest/qemu/exit_watcher.h"
#include "guest/qemu/proc_util.h"
#include "guest/qemu/qmp.h"

extern char** environ;

namespace pvx::guest::qemu {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// How many of QEMU's last output lines a start failure quotes.
constexpr std::size_t kErrorLines = 5;

using Fd = UniqueFd;

// The QMP socket path names the run directory and the VMID, so it identifies the VM. Proxmox's
// QEMU also takes `-id <vmid>` (upstream QEMU rejects it); when present it must agree.
bool is_vm_cmdline(const std::vector<std::string>& args, const VmPaths& paths) {
  const std::string id = std::to_string(paths.vmid);
  bool has_qmp = false;
  const std::string qmp = paths.qmp().string();
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-id" && i + 1 < args.size() && args[i + 1] != id) return false;
    if (arg_names_path(args[i], qmp)) has_qmp = true;
  }
  return has_qmp;
}

// The last lines QEMU wrote into the log since `offset`, joined for a one-line message.
std::string log_tail(const std::filesystem::path& log, std::uint64_t offset) {
  auto text = read_file(log);
  if (!text || text->size() <= offset) return {};
  std::vector<std::string> lines;
  for (const auto& line : split_any(std::string_view(*text).substr(offset), "\n")) {
    auto t = trim(line);
    if (!t.empty()) lines.emplace_back(t);
  }
  if (lines.size() > kErrorLines) lines.erase(lines.begin(), lines.end() - kErrorLines);
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "; ") + l;
  return out;
}

// Its own session: no signal aimed at pvxd's group or terminal reaches the guest, and the VM
// keeps running when pvxd stops.
[[noreturn]] void exec_qemu(const ChildExec& exec) {
  ::setsid();
  exec_in_child(exec);
}

// Whether our (claimed) child has exited, without reaping it.
bool child_exited(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

void remove_quietly(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::remove(p, ec);
}

}  // namespace

std::optional<ProcessInfo> find_vm_process(const VmPaths& paths) {
  auto pid = read_pid_file(paths.pid());
  if (!pid) return std::nullopt;
  auto st = read_proc_stat(*pid);
  if (!st || st->gone()) return std::nullopt;
  if (!is_vm_cmdline(read_cmdline(*pid), paths)) return std::nullopt;
  return ProcessInfo{*pid, start_time_unix(st->starttime)};
}

ProcessInfo spawn_qemu(const VmPaths& paths, const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) throw Error("start failed: empty QEMU command line");
  if (find_vm_process(paths)) throw Error("VM " + std::to_string(paths.vmid) + " already running");
  std::filesystem::create_directories(paths.dir);
  // Leftovers of a QEMU that died: a stale socket would accept no connection anyway.
  remove_quietly(paths.pid());
  remove_quietly(paths.qmp());

  const std::string path = find_program(argv[0]);
  if (path.empty()) throw Error("start failed: command '" + argv[0] + "' not found");
  const std::filesystem::path log_path = options.log_file.empty() ? paths.file(".log") : options.log_file;
  if (log_path.has_parent_path()) std::filesystem::create_directories(log_path.parent_path());
  Fd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (log.fd < 0) throw Error("start failed: cannot open log file '" + log_path.string() + "': " + std::strerror(errno));
  struct stat log_stat {};
  ::fstat(log.fd, &log_stat);
  const auto log_offset = static_cast<std::uint64_t>(log_stat.st_size);
  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int status_pipe[2];
  if (devnull.fd < 0 || ::pipe2(status_pipe, O_CLOEXEC) != 0) throw Error(std::string("start failed: pipe: ") + std::strerror(errno));
  Fd status_read(status_pipe[0]), status_write(status_pipe[1]);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) env_strings.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const long max_fd = ::sysconf(_SC_OPEN_MAX);
  const ChildExec setup{path.c_str(), args.data(), envp.data(), devnull.fd, log.fd, status_write.fd,
                        max_fd > 0 ? max_fd : 1024};

  Fd pidfd;
  const pid_t pid = spawn_claimed([&] {
    pid_t child = ::fork();
    if (child == 0) exec_qemu(setup);
    if (child > 0) pidfd.fd = open_pidfd(child);
    return child;
  });
  if (pid < 0) throw Error(std::string("start failed: fork: ") + std::strerror(errno));
  status_write.reset();
  devnull.reset();
  log.reset();

  // Until the exit watcher takes the child, failures here kill and reap it themselves.
  bool handed_over = false;
  auto reap = [&](int sig) -> int {
    if (sig) ::kill(pid, sig);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    release_child(pid);
    remove_quietly(paths.pid());
    remove_quietly(paths.qmp());
    return status;
  };
  try {
    int exec_errno = 0;
    ssize_t n;
    do n = ::read(status_read.fd, &exec_errno, sizeof exec_errno);
    while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(sizeof exec_errno)) {
      reap(0);
      handed_over = true;
      throw Error("start failed: unable to run " + path + ": " + std::strerror(exec_errno));
    }
    write_file_atomic(paths.pid(), std::to_string(pid) + "\n");

    const auto deadline = Clock::now() + options.qmp_timeout;
    for (;;) {
      if (child_exited(pid)) {
        int status = reap(0);
        handed_over = true;
        std::string why = log_tail(log_path, log_offset);
        if (why.empty()) {
          why = WIFEXITED(status) ? "QEMU exited with code " + std::to_string(WEXITSTATUS(status))
                                  : "QEMU was killed by signal " + std::to_string(WTERMSIG(status));
        }
        throw Error("start failed: " + why);
      }
      try {
        QmpClient probe(paths.qmp(), paths.vmid, std::chrono::seconds(5));
        break;
      } catch (const Error&) {
        // Not listening yet (no socket, or refused): try again until the deadline.
      }
      if (Clock::now() >= deadline) {
        reap(SIGKILL);
        handed_over = true;
        std::string why = log_tail(log_path, log_offset);
        throw Error("start failed: QEMU did not answer on its QMP socket within " +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(options.qmp_timeout).count()) +
                    " s" + (why.empty() ? "" : ": " + why));
      }
      if (pidfd.fd >= 0) wait_pidfd(pidfd.fd, 50ms);
      else std::this_thread::sleep_for(50ms);
    }
  } catch (...) {
    if (!handed_over) reap(SIGKILL);
    throw;
  }

  auto st = read_proc_stat(pid);
  ProcessInfo info{pid, st ? start_time_unix(st->starttime) : static_cast<std::int64_t>(::time(nullptr))};
  // From here the watcher owns the child: it stays a zombie until the watcher reaps it, so an
  // exit right now is still seen.
  watch_process_exit(pid, pidfd.release(), true, options.on_exit);
  return info;
}

bool wait_vm_exit(const VmPaths& paths, int pid, std::chrono::milliseconds timeout) {
  Fd pidfd(open_pidfd(pid));
  if (pidfd.fd < 0) {
    if (errno == ESRCH) return true;
    // No pidfd support: poll /proc.
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      auto found = find_vm_process(paths);
      if (!found || found->pid != pid) return true;
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(50ms);
    }
  }
  // The pid may have been reused since the caller looked: then the VM is gone.
  auto found = find_vm_process(paths);
  if (!found || found->pid != pid) return true;
  return wait_pidfd(pidfd.fd, timeout);
}

void kill_vm_process(const VmPaths& paths, std::chrono::milliseconds timeout) {
  auto found = find_vm_process(paths);
  if (!found) return;
  const int pid = found->pid;
  Fd pidfd(open_pidfd(pid));
  if (pidfd.fd < 0 && errno == ESRCH) {
    cleanup_vm_files(paths);
    return;
  }
  // Re-checked with the pidfd held: the signals below cannot reach a reused pid.
  found = find_vm_process(paths);
  if (!found || found->pid != pid) return;

  auto exited = [&](std::chrono::milliseconds t) {
    if (pidfd.fd >= 0) return wait_pidfd(pidfd.fd, t);
    return wait_vm_exit(paths, pid, t);
  };
  signal_process(pidfd.fd, pid, SIGTERM);
  if (!exited(timeout)) {
    signal_process(pidfd.fd, pid, SIGKILL);
    if (!exited(30s)) {
      throw Error("VM " + std::to_string(paths.vmid) + " (pid " + std::to_string(pid) +
                  ") did not exit after SIGKILL");
    }
  }
  cleanup_vm_files(paths);
}

void cleanup_vm_files(const VmPaths& paths) {
  if (find_vm_process(paths)) return;
  for (const auto& p : {paths.pid(), paths.qmp(), paths.qga(), paths.vnc()}) remove_quietly(p);
  for (int n = 0; n < 4; ++n) remove_quietly(paths.serial(n));
}

std::optional<ProcessStats> process_stats(int pid) {
  auto st = read_proc_stat(pid);
  if (!st || st->gone()) return std::nullopt;
  ProcessStats stats;
  stats.cpu_seconds = static_cast<double>(st->utime + st->stime) / static_cast<double>(clock_ticks_per_second());
  if (auto statm = read_file("/proc/" + std::to_string(pid) + "/statm")) {
    auto fields = split_any(*statm, " \n");
    if (fields.size() >= 2) {
      stats.rss_bytes = std::strtoull(fields[1].c_str(), nullptr, 10) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    }
  }
  return stats;
}

}  // namespace pvx::guest::qemu
