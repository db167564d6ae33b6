#pragma once
// The SQLite index of all tasks of this node (<dir>/tasks.db, WAL): one row per UPID with its
// end time and exit status once it ended. It answers status lookups and the filtered, paged
// task list without touching the log files. Thread-safe: one connection behind a mutex.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tasks/task_runner.h"
#include "tasks/upid.h"

struct sqlite3;

namespace pvx::tasks {

// Proxmox's status classes for filtering: "ok", "warning", "error" or "unknown" (running tasks
// and "unexpected status").
std::string status_type(const std::string& exitstatus);

class TaskIndex {
 public:
  explicit TaskIndex(const std::filesystem::path& db_path);
  ~TaskIndex();
  TaskIndex(const TaskIndex&) = delete;
  TaskIndex& operator=(const TaskIndex&) = delete;

  void insert_running(const Upid& upid);
  void finish(const std::string& upid, std::int64_t endtime, const std::string& exitstatus);
  std::optional<TaskInfo> get(const std::string& upid);
  // UPIDs of all rows without an end time.
  std::vector<std::string> running();
  std::pair<std::vector<TaskInfo>, std::int64_t> list(const TaskFilter& filter);

 private:
  std::mutex mutex_;
  sqlite3* db_ = nullptr;
};

}  // namespace pvx::tasks
