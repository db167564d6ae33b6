#include "base/child_exec.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace pvx {
namespace {

[[noreturn]] void fail(int exec_status) {
  int e = errno;
  (void)!::write(exec_status, &e, sizeof e);
  ::_exit(127);
}

}  // namespace

void exec_in_child(const ChildExec& s) {
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  if (::dup2(s.stdin_fd, 0) < 0 || ::dup2(s.output_fd, 1) < 0 || ::dup2(s.output_fd, 2) < 0) fail(s.exec_status);
  // The status pipe is close-on-exec already, so it survives until execve and no longer.
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
#endif
  {
    for (int fd = 3; fd < s.max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  ::execve(s.path, s.argv, s.envp);
  fail(s.exec_status);
}

}  // namespace pvx
