#pragma once
// Long-running work as Proxmox tasks: each task gets a UPID, a log file and, when it ends, an
// exit status: "OK", "WARNINGS: <n>", the error text, or "unexpected status" for a task that was
// running when a previous pvxd died.
//
// Each task runs on its own thread (the thread id is the UPID's pid, its start time the pstart),
// never on the I/O threads. The task index lives in an SQLite database beside the logs, so
// listings with filters stay fast with many thousands of tasks.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tasks/upid.h"

namespace pvx::tasks {

// Given to the task function; thread-affine to the task's thread except abort_requested().
class TaskContext {
 public:
  virtual ~TaskContext() = default;
  virtual const Upid& upid() const = 0;
  virtual void log(std::string_view line) = 0;
  // Logs "WARN: <line>" and counts it; a task with warnings ends as "WARNINGS: <n>".
  virtual void warn(std::string_view line) = 0;
  virtual bool abort_requested() const = 0;
  // Throws pvx::Error("received interrupt") once an abort was requested.
  virtual void check_abort() const = 0;
};

struct TaskInfo {
  Upid upid;
  std::string upid_text;
  bool running = false;
  std::optional<std::int64_t> endtime;
  std::string exitstatus;  // empty while running
};

struct TaskFilter {
  std::int64_t start = 0;
  std::int64_t limit = 50;
  std::optional<std::int64_t> vmid;
  std::string typefilter;
  std::string userfilter;
  std::string source = "archive";  // archive | active | all
  bool errors = false;
  std::optional<std::int64_t> since, until;
  std::vector<std::string> statusfilter;  // ok | error | warning | unknown
};

struct LogLine {
  std::int64_t n;  // 1-based line number
  std::string t;
};

class TaskRunner {
 public:
  // `dir` holds the index database and the log files; `node` goes into each UPID.
  TaskRunner(std::filesystem::path dir, std::string node);
  ~TaskRunner();  // requests abort of running tasks and joins them

  // Closes every task that is "running" in the index but not alive in this process as
  // "unexpected status". Call once at start, before serving.
  void reconcile();

  // Starts fn on a new thread and returns at once. An exception from fn ends the task with the
  // exception's message (first line) as its status.
  Upid spawn(std::string type, std::string id, std::string user, std::function<void(TaskContext&)> fn);

  std::optional<TaskInfo> status(const std::string& upid);
  // Newest first (by starttime, then UPID; with source=all running tasks come first, as in
  // Proxmox). Returns the page and the total number matching the filter. Filter semantics are
  // those of GET /nodes/{node}/tasks: errors drops only "OK" and overrides statusfilter; a
  // running task's status class is "unknown"; userfilter is a case-insensitive substring.
  std::pair<std::vector<TaskInfo>, std::int64_t> list(const TaskFilter& filter);
  // Lines [start, start+limit) of the task log (0-based start; limit 0 = to the end), numbered
  // from 1, and the total line count. An empty log answers {1, "no content"} with total 1, as
  // Proxmox does. Throws pvx::Error 400 (upid) for a malformed or unknown UPID.
  std::pair<std::vector<LogLine>, std::int64_t> read_log(const std::string& upid, std::int64_t start,
                                                         std::int64_t limit);
  // Requests an abort; false when the task is not running here.
  bool stop(const std::string& upid);
  // Blocks until the task ended (for tests and the CLI's synchronous mode); false on timeout.
  bool wait(const std::string& upid, std::chrono::milliseconds timeout);

  // Where the task's log lives (<dir>/<last hex digit of starttime>/<UPID>), e.g. for download.
  std::filesystem::path log_path(const Upid& upid) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pvx::tasks
