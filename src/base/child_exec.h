#pragma once
// The tail of a fork that pvx's own spawners share (supervised helpers, QEMU): it makes only
// async-signal-safe calls, so it is safe in the child of a multi-threaded daemon.

namespace pvx {

// Everything the child needs, prepared before fork.
struct ChildExec {
  const char* path;
  char* const* argv;
  char* const* envp;
  int stdin_fd;
  int output_fd;    // becomes stdout and stderr
  int exec_status;  // close-on-exec pipe: errno when exec fails
  long max_fd;      // bound of the descriptor sweep where close_range is missing
};

// Default dispositions and an empty signal mask, the three standard descriptors, every other
// descriptor closed on exec (nothing of the daemon's leaks into the child), then execve. When
// anything fails, errno goes into exec_status and the child exits 127.
[[noreturn]] void exec_in_child(const ChildExec& s);

}  // namespace pvx
