#pragma once
// What /proc/<pid>/stat says about a process: its state, parent, cpu times and start time.
// Shared by the child reaper (zombie children) and the QEMU process code (liveness, statistics).
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace pvx {

struct ProcStat {
  pid_t pid = 0;
  std::string comm;              // the executable's name as the kernel keeps it (15 chars)
  char state = '?';              // R, S, D, Z (zombie), X (dead), T, ...
  pid_t ppid = 0;
  std::uint64_t utime = 0;       // clock ticks
  std::uint64_t stime = 0;       // clock ticks
  std::uint64_t starttime = 0;   // clock ticks after boot

  bool gone() const { return state == 'Z' || state == 'X'; }
};

// nullopt when the process does not exist (or the file cannot be parsed).
std::optional<ProcStat> read_proc_stat(pid_t pid);

// The clock ticks per second of the *time fields (sysconf(_SC_CLK_TCK)).
long clock_ticks_per_second();
// When a process with this `starttime` started, in unix seconds (boot time from /proc/stat).
std::int64_t start_time_unix(std::uint64_t starttime);

}  // namespace pvx
