#pragma once
// pvxd as a child subreaper (PR_SET_CHILD_SUBREAPER): processes orphaned below it (a guest's
// helper daemons, grandchildren of tools) become its children instead of PID 1's, which on some
// hosts reaps them late and leaves zombies that look alive. A background thread reaps such
// children, but never one whose pid is claimed: run_command, SupervisedProcess and spawn_qemu
// wait for their own children and register them here first, so the reaper never steals a status.
#include <sys/types.h>

namespace pvx {

// Makes this process a subreaper and starts the reaper thread (once; later calls do nothing).
void start_child_reaper();

// Claims `pid` for a waiter that will waitpid() it itself. Call right after fork() in the parent,
// before anything can wait; release after the waitpid() returned.
void claim_child(pid_t pid);
void release_child(pid_t pid);

// RAII form of claim/release.
class ClaimedChild {
 public:
  explicit ClaimedChild(pid_t pid) : pid_(pid) { claim_child(pid); }
  ~ClaimedChild() { release_child(pid_); }
  ClaimedChild(const ClaimedChild&) = delete;
  ClaimedChild& operator=(const ClaimedChild&) = delete;

 private:
  pid_t pid_;
};

}  // namespace pvx
