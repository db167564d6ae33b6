#pragma once
// pvxd as a child subreaper (PR_SET_CHILD_SUBREAPER): processes orphaned below it (a guest's
// helper daemons, grandchildren of tools) become its children instead of PID 1's, which on some
// hosts reaps them late and leaves zombies that look alive. A background thread reaps such
// children, but never one whose pid is claimed: run_command, SupervisedProcess and spawn_qemu
// wait for their own children and register them here first, so the reaper never steals a status.
//
// The race between a child that exits at once and its claim is closed by the fork lock: a
// spawner holds it across fork()/posix_spawn() and claim_child(), and the reaper holds it while
// it picks and reaps zombies. Code outside pvx that forks and waits (liblxc, libraries) cannot
// claim; for it, an unclaimed zombie is only reaped after it stayed a zombie for a grace period.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <mutex>

namespace pvx {

struct ChildReaperOptions {
  std::chrono::milliseconds interval{1000};  // between scans for zombie children
  std::chrono::milliseconds grace{2000};     // an unclaimed zombie is left this long to its waiter
};

// Makes this process a subreaper and starts the reaper thread (once; later calls do nothing).
void start_child_reaper(ChildReaperOptions options = {});

// Claims `pid` for a waiter that will waitpid() it itself. Call right after fork() in the parent,
// before anything can wait, with the fork lock held; release after the waitpid() returned.
void claim_child(pid_t pid);
void release_child(pid_t pid);

// Held across fork()/posix_spawn() and claim_child() so that the reaper cannot see the new child
// before it is claimed.
std::unique_lock<std::mutex> lock_for_fork();

// Runs `start` (a fork() or posix_spawn() returning the child's pid, or <= 0 on failure) under
// the fork lock and claims the pid it returned before the lock is released. The caller releases
// it (ClaimedChild with std::adopt_lock) after its waitpid().
pid_t spawn_claimed(const std::function<pid_t()>& start);

// Asks the reaper thread for a scan now (e.g. after stopping a daemonized helper).
void reap_orphans_soon();

// RAII form of claim/release. With std::adopt_lock it only releases (the pid was claimed by
// spawn_claimed or under lock_for_fork()).
class ClaimedChild {
 public:
  explicit ClaimedChild(pid_t pid) : pid_(pid) { claim_child(pid); }
  ClaimedChild(pid_t pid, std::adopt_lock_t) : pid_(pid) {}
  ~ClaimedChild() {
    if (pid_ > 0) release_child(pid_);
  }
  ClaimedChild(const ClaimedChild&) = delete;
  ClaimedChild& operator=(const ClaimedChild&) = delete;

 private:
  pid_t pid_;
};

}  // namespace pvx
