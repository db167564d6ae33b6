#include "base/supervised_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/child_exec.h"
#include "base/child_reaper.h"
#include "base/error.h"
#include "base/log.h"
#include "base/process.h"
#include "base/strings.h"
#include "base/unique_fd.h"

extern char** environ;

namespace pvx {
namespace {

using Clock = std::chrono::steady_clock;

// A child that ran this long is considered healthy again: the next back-off starts from the minimum.
constexpr auto kStableRun = std::chrono::seconds(10);
// Longer output lines are logged in pieces of this size.
constexpr std::size_t kMaxLine = 4096;

using Fd = UniqueFd;

// The parent's half of the child's start: its own process group, and it dies with pvxd.
[[noreturn]] void exec_child(pid_t parent, const ChildExec& exec) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  // The parent may have died before the death signal was armed.
  if (::getppid() != parent) ::_exit(127);
  exec_in_child(exec);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status)) +
                                  " (" + strsignal(WTERMSIG(status)) + ")";
  return "ended with wait status " + std::to_string(status);
}

// Collects the child's output and logs it line by line.
class OutputLogger {
 public:
  explicit OutputLogger(std::string prefix) : prefix_(std::move(prefix)) {}
  void add(std::string_view data) {
    buffer_.append(data);
    std::size_t start = 0;
    for (;;) {
      auto nl = buffer_.find('\n', start);
      if (nl == std::string::npos) break;
      emit(std::string_view(buffer_).substr(start, nl - start));
      start = nl + 1;
    }
    buffer_.erase(0, start);
    while (buffer_.size() >= kMaxLine) {
      emit(std::string_view(buffer_).substr(0, kMaxLine));
      buffer_.erase(0, kMaxLine);
    }
  }
  void flush() {
    if (!buffer_.empty()) emit(buffer_);
    buffer_.clear();
  }

 private:
  void emit(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) return;
    log::info(prefix_ + ": " + std::string(line));
  }
  std::string prefix_;
  std::string buffer_;
};

// Reads what is available; false on end of file or error.
bool drain(int fd, OutputLogger& out) {
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.add(std::string_view(buf, static_cast<std::size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN;
  }
}

}  // namespace

SupervisedProcess::SupervisedProcess(SupervisedOptions options) : options_(std::move(options)) {
  if (options_.argv.empty()) throw Error("supervised process '" + options_.name + "': empty command");
  if (options_.name.empty()) options_.name = options_.argv[0];
  if (options_.min_backoff.count() <= 0) options_.min_backoff = std::chrono::milliseconds(1);
  options_.max_backoff = std::max(options_.max_backoff, options_.min_backoff);
  thread_ = std::thread([this] { monitor(); });
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return attempts_ > 0; });
}

SupervisedProcess::~SupervisedProcess() {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  cv_.notify_all();
  // pid_ is cleared only after the child is reaped, under this mutex: while it is set, its
  // process group cannot belong to anyone else.
  if (pid_ > 0) {
    if (::kill(-pid_, SIGTERM) != 0) ::kill(pid_, SIGTERM);
    if (!cv_.wait_for(lock, options_.stop_grace, [this] { return pid_ == 0; })) {
      log::warn(options_.name + " (pid " + std::to_string(pid_) + ") did not stop within " +
                std::to_string(options_.stop_grace.count()) + " ms; killing it");
      if (::kill(-pid_, SIGKILL) != 0) ::kill(pid_, SIGKILL);
    }
  }
  lock.unlock();
  thread_.join();
}

int SupervisedProcess::pid() const {
  std::lock_guard lock(mutex_);
  return pid_;
}

unsigned SupervisedProcess::restarts() const {
  std::lock_guard lock(mutex_);
  return restarts_;
}

void SupervisedProcess::note_attempt() {
  std::lock_guard lock(mutex_);
  ++attempts_;
  cv_.notify_all();
}

void SupervisedProcess::monitor() {
  // The monitor thread takes no signals, and children start with all of them blocked until
  // their dispositions are reset.
  sigset_t all;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, nullptr);

  auto backoff = options_.min_backoff;
  bool first = true;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
      if (!first) ++restarts_;
    }
    first = false;
    const auto started = Clock::now();
    try {
      run_once();
    } catch (const std::exception& e) {
      log::error(options_.name + ": " + e.what());
      note_attempt();
    }
    if (Clock::now() - started > kStableRun) backoff = options_.min_backoff;
    std::unique_lock lock(mutex_);
    if (cv_.wait_for(lock, backoff, [this] { return stopping_; })) break;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  // A constructor waiting for the first attempt must not wait forever.
  note_attempt();
}

void SupervisedProcess::run_once() {
  const std::string& name = options_.name;
  if (options_.before_start) {
    try {
      options_.before_start();
    } catch (const std::exception& e) {
      log::warn(name + " not started: " + e.what());
      note_attempt();
      return;
    }
  }
  // PATH is searched before fork: execvp's own search is not async-signal-safe.
  const std::string path = find_program(options_.argv[0]);
  if (path.empty()) {
    log::warn(name + " not started: command '" + options_.argv[0] + "' not found");
    note_attempt();
    return;
  }

  std::vector<char*> argv;
  for (const auto& a : options_.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) env_strings.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int out_pipe[2], status_pipe[2];
  if (devnull.fd < 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
  Fd status_read(status_pipe[0]), status_write(status_pipe[1]);
  long max_fd = ::sysconf(_SC_OPEN_MAX);

  const pid_t parent = ::getpid();
  const ChildExec setup{path.c_str(), argv.data(), envp.data(), devnull.fd, out_write.fd, status_write.fd,
                        max_fd > 0 ? max_fd : 1024};
  pid_t pid;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    // Claimed under the fork lock until the waitpid() below: the child reaper leaves it alone.
    pid = spawn_claimed([&] {
      pid_t child = ::fork();
      if (child == 0) exec_child(parent, setup);
      return child;
    });
    if (pid < 0) throw Error(std::string("fork: ") + std::strerror(errno));
    // Also set here, so that a stop right after fork finds the group.
    ::setpgid(pid, pid);
    pid_ = pid;
  }
  out_write.reset();
  status_write.reset();
  devnull.reset();

  int exec_errno = 0;
  ssize_t n;
  do n = ::read(status_read.fd, &exec_errno, sizeof exec_errno);
  while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    log::warn(name + ": could not run " + path + ": " + std::strerror(exec_errno));
  } else {
    log::info(name + " started (pid " + std::to_string(pid) + ")");
  }
  status_read.reset();
  note_attempt();

  // Wait for the exit without reaping (WNOWAIT): the zombie keeps pid and group reserved until
  // they are released under the mutex.
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  ::fcntl(out_read.fd, F_SETFL, ::fcntl(out_read.fd, F_GETFL) | O_NONBLOCK);
  OutputLogger output(name);
  bool output_open = true;
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) break;
    pollfd fds[2];
    nfds_t count = 0;
    if (output_open) fds[count++] = {out_read.fd, POLLIN, 0};
    if (pidfd.fd >= 0) fds[count++] = {pidfd.fd, POLLIN, 0};
    // Without a pidfd (old kernels) the exit is noticed by polling.
    int timeout = pidfd.fd >= 0 ? 1000 : 100;
    if (::poll(fds, count, timeout) > 0 && output_open && fds[0].revents) output_open = drain(out_read.fd, output);
  }
  if (output_open) drain(out_read.fd, output);

  int status = 0;
  bool stopping;
  {
    std::lock_guard lock(mutex_);
    // Helpers the child left behind in its group go with it.
    ::kill(-pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    release_child(pid);
    pid_ = 0;
    stopping = stopping_;
    cv_.notify_all();
  }
  output.flush();
  std::string message = name + " (pid " + std::to_string(pid) + ") " + describe_status(status);
  if (stopping) log::info(message);
  else log::warn(message);
}

}  // namespace pvx
