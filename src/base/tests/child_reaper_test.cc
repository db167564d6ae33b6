#include "base/child_reaper.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "base/proc_stat.h"
#include "base/process.h"
#include "base/strings.h"

namespace pvx {
namespace {

using namespace std::chrono_literals;

// No grace and a short interval: a child that run_command forgot to claim would be stolen
// within milliseconds, so the exit codes below would come out wrong.
void start_busy_reaper() { start_child_reaper({.interval = 5ms, .grace = 0ms}); }

bool is_alive_child_or_zombie(pid_t pid) { return read_proc_stat(pid).has_value(); }

TEST(ChildReaper, ReapsAnOrphanedGrandchild) {
  start_busy_reaper();
  // sh exits at once; its background sleep is re-parented to this process (the subreaper).
  auto r = run_command({"sh", "-c", "sleep 0.3 </dev/null >/dev/null 2>&1 & echo $!"});
  auto grandchild = to_int(trim(r.out));
  ASSERT_TRUE(grandchild.has_value()) << r.out;
  auto st = read_proc_stat(*grandchild);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->ppid, ::getpid()) << "the orphan was not re-parented to the subreaper";

  // It ends after 0.3 s and must not stay a zombie.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (is_alive_child_or_zombie(*grandchild) && std::chrono::steady_clock::now() < deadline) {
    reap_orphans_soon();
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(is_alive_child_or_zombie(*grandchild)) << "orphan " << *grandchild << " was not reaped";
}

TEST(ChildReaper, RunCommandKeepsItsExitCodesUnderABusyReaper) {
  start_busy_reaper();
  for (int i = 0; i < 200; ++i) {
    const int code = i % 7;
    // Every command leaves an orphan that dies while the reaper scans.
    auto r = run_command({"sh", "-c", "(sleep 0.01 </dev/null >/dev/null 2>&1 &); exit " + std::to_string(code)},
                         {.check = false});
    ASSERT_EQ(r.exit_code, code) << "iteration " << i;
  }
}

TEST(ChildReaper, LeavesAClaimedZombieToItsWaiter) {
  start_busy_reaper();
  pid_t pid = spawn_claimed([] {
    pid_t child = ::fork();
    if (child == 0) ::_exit(42);
    return child;
  });
  ASSERT_GT(pid, 0);
  ClaimedChild claim(pid, std::adopt_lock);
  // Many scans pass while the child is a zombie; it stays ours.
  std::this_thread::sleep_for(200ms);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 42);
}

}  // namespace
}  // namespace pvx
