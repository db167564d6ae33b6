#include "tasks/task_index.h"

#include <sqlite3.h>

#include <cctype>
#include <variant>

#include "base/error.h"

namespace pvx::tasks {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS tasks (
  upid TEXT PRIMARY KEY NOT NULL,
  node TEXT NOT NULL,
  pid INTEGER NOT NULL,
  pstart INTEGER NOT NULL,
  starttime INTEGER NOT NULL,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  user TEXT NOT NULL,
  endtime INTEGER,
  status TEXT,
  statustype TEXT NOT NULL DEFAULT 'unknown'
);
CREATE INDEX IF NOT EXISTS tasks_by_start ON tasks (starttime DESC, upid DESC);
CREATE INDEX IF NOT EXISTS tasks_by_type ON tasks (type, starttime);
CREATE INDEX IF NOT EXISTS tasks_by_id ON tasks (id, starttime);
CREATE INDEX IF NOT EXISTS tasks_by_statustype ON tasks (statustype, starttime);
CREATE INDEX IF NOT EXISTS tasks_running ON tasks (starttime) WHERE endtime IS NULL;
)sql";

constexpr const char* kColumns =
    "upid, node, pid, pstart, starttime, type, id, user, endtime, status";

using Value = std::variant<std::int64_t, std::string>;

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  throw Error("task index: " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) fail(db, "prepare");
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void bind(int index, const Value& value) {
    int rc;
    if (auto* i = std::get_if<std::int64_t>(&value)) {
      rc = sqlite3_bind_int64(stmt_, index, *i);
    } else {
      const auto& s = std::get<std::string>(value);
      rc = sqlite3_bind_text(stmt_, index, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
    if (rc != SQLITE_OK) fail(db_, "bind");
  }
  void bind_all(const std::vector<Value>& values) {
    for (std::size_t i = 0; i < values.size(); ++i) bind(static_cast<int>(i + 1), values[i]);
  }
  // True while there is a row.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, "step");
  }
  std::int64_t int64(int col) { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw Error("task index: " + msg);
  }
}

// Reads a row selected with kColumns.
TaskInfo row_to_info(Statement& st) {
  TaskInfo info;
  info.upid_text = st.text(0);
  info.upid.node = st.text(1);
  info.upid.pid = static_cast<std::uint32_t>(st.int64(2));
  info.upid.pstart = static_cast<std::uint64_t>(st.int64(3));
  info.upid.starttime = st.int64(4);
  info.upid.type = st.text(5);
  info.upid.id = st.text(6);
  info.upid.user = st.text(7);
  info.running = st.is_null(8);
  if (!info.running) {
    info.endtime = st.int64(8);
    info.exitstatus = st.text(9);
  }
  return info;
}

bool is_warnings_status(const std::string& s) {
  constexpr std::string_view kPrefix = "WARNINGS: ";
  if (!s.starts_with(kPrefix) || s.size() == kPrefix.size()) return false;
  for (std::size_t i = kPrefix.size(); i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string status_type(const std::string& exitstatus) {
  if (exitstatus.empty() || exitstatus == "unexpected status") return "unknown";
  if (exitstatus == "OK") return "ok";
  if (is_warnings_status(exitstatus)) return "warning";
  return "error";
}

TaskIndex::TaskIndex(const std::filesystem::path& db_path) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(db_path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw Error("task index: cannot open " + db_path.string() + ": " + msg);
  }
  try {
    sqlite3_busy_timeout(db_, 5000);
    exec(db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    exec(db_, kSchema);
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

TaskIndex::~TaskIndex() { sqlite3_close(db_); }

void TaskIndex::insert_running(const Upid& upid) {
  std::lock_guard lock(mutex_);
  Statement st(db_,
               "INSERT INTO tasks (upid, node, pid, pstart, starttime, type, id, user, statustype) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'unknown')");
  st.bind_all({upid.str(), upid.node, std::int64_t{upid.pid}, static_cast<std::int64_t>(upid.pstart),
               upid.starttime, upid.type, upid.id, upid.user});
  st.step();
}

void TaskIndex::finish(const std::string& upid, std::int64_t endtime, const std::string& exitstatus) {
  std::lock_guard lock(mutex_);
  Statement st(db_, "UPDATE tasks SET endtime = ?, status = ?, statustype = ? WHERE upid = ?");
  st.bind_all({endtime, exitstatus, status_type(exitstatus), upid});
  st.step();
}

std::optional<TaskInfo> TaskIndex::get(const std::string& upid) {
  std::lock_guard lock(mutex_);
  Statement st(db_, std::string("SELECT ") + kColumns + " FROM tasks WHERE upid = ?");
  st.bind(1, upid);
  if (!st.step()) return std::nullopt;
  return row_to_info(st);
}

std::vector<std::string> TaskIndex::running() {
  std::lock_guard lock(mutex_);
  Statement st(db_, "SELECT upid FROM tasks WHERE endtime IS NULL");
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.text(0));
  return out;
}

std::pair<std::vector<TaskInfo>, std::int64_t> TaskIndex::list(const TaskFilter& filter) {
  std::string where = " WHERE 1";
  std::vector<Value> args;
  if (filter.source == "archive") {
    where += " AND endtime IS NOT NULL";
  } else if (filter.source == "active") {
    where += " AND endtime IS NULL";
  } else if (filter.source != "all") {
    throw Error::param("source", "value '" + filter.source + "' does not have a value in the enumeration 'archive, active, all'");
  }
  if (!filter.typefilter.empty()) {
    where += " AND type = ?";
    args.emplace_back(filter.typefilter);
  }
  if (!filter.userfilter.empty()) {
    // Case-insensitive substring, like Proxmox's m/\Q$userfilter\E/i (instr: no LIKE wildcards).
    where += " AND instr(lower(user), ?) > 0";
    args.emplace_back(lower(filter.userfilter));
  }
  if (filter.vmid) {
    where += " AND id = ?";
    args.emplace_back(std::to_string(*filter.vmid));
  }
  if (filter.since) {
    where += " AND starttime >= ?";
    args.emplace_back(*filter.since);
  }
  if (filter.until) {
    where += " AND starttime <= ?";
    args.emplace_back(*filter.until);
  }
  // As Proxmox: `errors` drops only OK tasks and overrides statusfilter; statusfilter names the
  // classes to keep, unknown names match nothing.
  if (filter.errors) {
    where += " AND statustype <> 'ok'";
  } else if (!filter.statusfilter.empty()) {
    where += " AND statustype IN (";
    for (std::size_t i = 0; i < filter.statusfilter.size(); ++i) {
      where += i ? ", ?" : "?";
      args.emplace_back(lower(filter.statusfilter[i]));
    }
    where += ")";
  }

  std::lock_guard lock(mutex_);
  std::int64_t total = 0;
  {
    Statement st(db_, "SELECT count(*) FROM tasks" + where);
    st.bind_all(args);
    if (st.step()) total = st.int64(0);
  }
  std::vector<TaskInfo> page;
  if (filter.limit <= 0) return {std::move(page), total};
  // Running tasks first (Proxmox lists the active ones before the archive), then newest first.
  Statement st(db_, std::string("SELECT ") + kColumns + " FROM tasks" + where +
                        " ORDER BY (endtime IS NULL) DESC, starttime DESC, upid DESC LIMIT ? OFFSET ?");
  args.emplace_back(filter.limit);
  args.emplace_back(filter.start < 0 ? std::int64_t{0} : filter.start);
  st.bind_all(args);
  while (st.step()) page.push_back(row_to_info(st));
  return {std::move(page), total};
}

}  // namespace pvx::tasks
