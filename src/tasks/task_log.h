#pragma once
// Task log files in Proxmox's layout: <dir>/<last hex digit of starttime>/<UPID>, one line per
// message, the last line "TASK OK", "TASK WARNINGS: <n>" or "TASK ERROR: <msg>".
// Nothing of a log is kept in memory: each line goes straight to the file, and reads stream
// through the file keeping only the requested page.
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <utility>
#include <vector>

#include "tasks/task_runner.h"
#include "tasks/upid.h"

namespace pvx::tasks {

std::filesystem::path task_log_path(const std::filesystem::path& dir, const Upid& upid);

// Appends whole lines to one task's log; each line is one write(2), so readers see it at once.
// Thread-safe (O_APPEND); move-only.
class TaskLogWriter {
 public:
  // Creates the file (and its directory); throws pvx::Error if it already exists, since a UPID
  // names exactly one task.
  static TaskLogWriter create(const std::filesystem::path& path);
  // Opens an existing log (or creates a missing one) to append to it, e.g. to close a task that
  // a dead daemon left running. Starts a fresh line if the file ends mid-line.
  static TaskLogWriter append_to(const std::filesystem::path& path);

  TaskLogWriter(TaskLogWriter&& other) noexcept;
  TaskLogWriter& operator=(TaskLogWriter&&) = delete;
  ~TaskLogWriter();

  // Write errors are swallowed: a full disk must not turn a finished guest start into a failure.
  void line(std::string_view text);

 private:
  explicit TaskLogWriter(int fd) : fd_(fd) {}
  int fd_;
};

// Lines [start, start + limit) with 1-based numbers, and the total line count; limit 0 reads to
// the end. An empty log gives one line {1, "no content"} and total 1, as Proxmox answers (its
// web UI cannot page an empty store). Throws pvx::Error 400 (upid) when the file is missing.
std::pair<std::vector<LogLine>, std::int64_t> read_log_page(const std::filesystem::path& path,
                                                            std::int64_t start, std::int64_t limit);

}  // namespace pvx::tasks
