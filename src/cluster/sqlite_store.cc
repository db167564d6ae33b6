#include "cluster/sqlite_store.h"

#include <sqlite3.h>

#include <atomic>
#include <ctime>
#include <mutex>

#include "base/error.h"
#include "cluster/lock_table.h"
#include "cluster/store_notifier.h"
#include "cluster/store_path.h"

namespace pvx::cluster {
namespace {

constexpr int kBusyTimeoutMs = 5000;

// One prepared statement, compiled once and reused; Use resets it after each execution.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK) {
      throw Error(std::string("config store: cannot prepare statement: ") + sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  class Use {
   public:
    explicit Use(Statement& s) : s_(s) {}
    ~Use() {
      sqlite3_reset(s_.stmt_);
      sqlite3_clear_bindings(s_.stmt_);
    }
    Use& bind(int i, std::string_view text) {
      check(sqlite3_bind_text(s_.stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC));
      return *this;
    }
    Use& bind_blob(int i, std::string_view data) {
      // A zero-length blob must still be a blob, not NULL (data.data() may be null).
      check(sqlite3_bind_blob(s_.stmt_, i, data.empty() ? "" : data.data(), static_cast<int>(data.size()),
                              SQLITE_STATIC));
      return *this;
    }
    Use& bind(int i, std::int64_t v) {
      check(sqlite3_bind_int64(s_.stmt_, i, v));
      return *this;
    }
    // True while there is a row.
    bool step() {
      int rc = sqlite3_step(s_.stmt_);
      if (rc == SQLITE_ROW) return true;
      if (rc == SQLITE_DONE) return false;
      throw Error(std::string("config store: ") + sqlite3_errmsg(s_.db_));
    }
    std::int64_t int64(int col) { return sqlite3_column_int64(s_.stmt_, col); }
    std::string text(int col) {
      const void* p = sqlite3_column_blob(s_.stmt_, col);
      int n = sqlite3_column_bytes(s_.stmt_, col);
      return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string();
    }

   private:
    void check(int rc) {
      if (rc != SQLITE_OK) throw Error(std::string("config store: bind failed: ") + sqlite3_errmsg(s_.db_));
    }
    Statement& s_;
  };

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    throw Error("config store: " + msg);
  }
}

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// The exclusive end of the key range that starts with `prefix` ("a/" -> "a0"), "" for no end.
std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last < 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return {};
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS files (
  path    TEXT PRIMARY KEY,
  data    BLOB NOT NULL,
  version INTEGER NOT NULL,
  mtime   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0);
)sql";

}  // namespace

struct SqliteStore::Impl {
  // Declared first so that it is destroyed last: the statements below finalise before close.
  struct Db {
    sqlite3* handle = nullptr;
    ~Db() { sqlite3_close_v2(handle); }
  } db;

  std::string node_name;
  std::mutex mutex;  // guards the connection and every statement

  std::unique_ptr<Statement> begin, commit, rollback;
  std::unique_ptr<Statement> get_file, get_version, get_revision, set_revision;
  std::unique_ptr<Statement> put_file, delete_file, rename_file, list_all, list_range;

  std::shared_ptr<LockTable> locks = LockTable::create();
  std::shared_ptr<StoreNotifier> notifier;
  // The last committed revision, readable without the connection: caches ask for it on every
  // request. Set after COMMIT, so a reader never pairs a new revision with old data.
  std::atomic<std::uint64_t> committed_revision{0};

  Impl(const std::filesystem::path& path, std::string node) : node_name(std::move(node)) {
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path.c_str(), &db.handle, flags, nullptr) != SQLITE_OK) {
      std::string msg = db.handle ? sqlite3_errmsg(db.handle) : "out of memory";
      throw Error("config store: cannot open '" + path.string() + "': " + msg);
    }
    sqlite3_busy_timeout(db.handle, kBusyTimeoutMs);
    exec(db.handle, "PRAGMA journal_mode=WAL");
    // FULL: every commit is fsynced before it returns, so an acknowledged write survives power loss.
    exec(db.handle, "PRAGMA synchronous=FULL");
    exec(db.handle, "PRAGMA foreign_keys=OFF");
    exec(db.handle, kSchema);

    sqlite3* h = db.handle;
    begin = std::make_unique<Statement>(h, "BEGIN IMMEDIATE");
    commit = std::make_unique<Statement>(h, "COMMIT");
    rollback = std::make_unique<Statement>(h, "ROLLBACK");
    get_file = std::make_unique<Statement>(h, "SELECT data, version, mtime FROM files WHERE path = ?1");
    get_version = std::make_unique<Statement>(h, "SELECT version FROM files WHERE path = ?1");
    get_revision = std::make_unique<Statement>(h, "SELECT value FROM meta WHERE key = 'revision'");
    set_revision = std::make_unique<Statement>(h, "UPDATE meta SET value = ?1 WHERE key = 'revision'");
    put_file = std::make_unique<Statement>(
        h, "INSERT INTO files (path, data, version, mtime) VALUES (?1, ?2, ?3, ?4) "
           "ON CONFLICT (path) DO UPDATE SET data = excluded.data, version = excluded.version, "
           "mtime = excluded.mtime");
    delete_file = std::make_unique<Statement>(h, "DELETE FROM files WHERE path = ?1");
    rename_file = std::make_unique<Statement>(h, "UPDATE files SET path = ?2, version = ?3, mtime = ?4 WHERE path = ?1");
    list_all = std::make_unique<Statement>(h, "SELECT path FROM files ORDER BY path");
    list_range = std::make_unique<Statement>(
        h, "SELECT path FROM files WHERE path >= ?1 AND path < ?2 ORDER BY path");

    committed_revision = current_revision();
    notifier = StoreNotifier::create();  // last: nothing below may throw and leak its thread
  }

  ~Impl() { notifier->stop(); }

  // Caller holds `mutex`.
  std::optional<std::uint64_t> version_of(const std::string& path) {
    Statement::Use q(*get_version);
    q.bind(1, path);
    if (!q.step()) return std::nullopt;
    return static_cast<std::uint64_t>(q.int64(0));
  }

  std::uint64_t current_revision() {
    Statement::Use q(*get_revision);
    if (!q.step()) throw Error("config store: revision row is missing");
    return static_cast<std::uint64_t>(q.int64(0));
  }

  std::uint64_t bump_revision() {
    std::uint64_t rev = current_revision() + 1;
    Statement::Use q(*set_revision);
    q.bind(1, static_cast<std::int64_t>(rev));
    q.step();
    return rev;
  }

  // Runs fn inside one IMMEDIATE transaction; fn returns the changes to publish (empty = nothing
  // changed, rolled back). Publishing happens before the mutex is released, so watchers see
  // changes in revision order.
  template <typename Fn>
  void transaction(Fn&& fn) {
    std::lock_guard lock(mutex);
    { Statement::Use(*begin).step(); }
    std::vector<StoreChange> changes;
    try {
      changes = fn();
      if (changes.empty()) {
        Statement::Use(*rollback).step();
        return;
      }
      Statement::Use(*commit).step();
      committed_revision.store(current_revision(), std::memory_order_release);
    } catch (...) {
      if (!sqlite3_get_autocommit(db.handle)) {
        try {
          Statement::Use(*rollback).step();
        } catch (...) {
          // The original error is the one to report.
        }
      }
      throw;
    }
    notifier->publish(std::move(changes));
  }
};

SqliteStore::SqliteStore(const std::filesystem::path& db_path, std::string node_name)
    : impl_(std::make_unique<Impl>(db_path, std::move(node_name))) {}

SqliteStore::~SqliteStore() = default;

std::optional<FileEntry> SqliteStore::read(std::string_view path) {
  std::string p = normalize_path(path);
  std::lock_guard lock(impl_->mutex);
  Statement::Use q(*impl_->get_file);
  q.bind(1, p);
  if (!q.step()) return std::nullopt;
  FileEntry e;
  e.data = q.text(0);
  e.version = static_cast<std::uint64_t>(q.int64(1));
  e.mtime = q.int64(2);
  return e;
}

std::vector<std::string> SqliteStore::list(std::string_view prefix) {
  std::string dir = normalize_prefix(prefix);
  std::vector<std::string> out;
  std::lock_guard lock(impl_->mutex);
  if (dir.empty()) {
    Statement::Use q(*impl_->list_all);
    while (q.step()) out.push_back(q.text(0));
  } else {
    std::string end = prefix_end(dir);
    Statement::Use q(*impl_->list_range);
    q.bind(1, dir).bind(2, end);
    while (q.step()) out.push_back(q.text(0));
  }
  return out;
}

std::uint64_t SqliteStore::revision() { return impl_->committed_revision.load(std::memory_order_acquire); }

std::optional<std::uint64_t> SqliteStore::write(std::string_view path, std::string_view data,
                                                std::optional<std::uint64_t> expected_version) {
  std::string p = normalize_path(path);
  std::optional<std::uint64_t> result;
  impl_->transaction([&]() -> std::vector<StoreChange> {
    if (expected_version) {
      auto current = impl_->version_of(p);
      if (current.value_or(0) != *expected_version) return {};
    }
    std::uint64_t rev = impl_->bump_revision();
    Statement::Use q(*impl_->put_file);
    q.bind(1, p).bind_blob(2, data).bind(3, static_cast<std::int64_t>(rev)).bind(4, now());
    q.step();
    result = rev;
    return {{p, rev}};
  });
  return result;
}

bool SqliteStore::remove(std::string_view path, std::optional<std::uint64_t> expected_version) {
  std::string p = normalize_path(path);
  bool removed = false;
  impl_->transaction([&]() -> std::vector<StoreChange> {
    auto current = impl_->version_of(p);
    if (!current || (expected_version && *current != *expected_version)) return {};
    impl_->bump_revision();
    Statement::Use q(*impl_->delete_file);
    q.bind(1, p);
    q.step();
    removed = true;
    return {{p, 0}};
  });
  return removed;
}

bool SqliteStore::move(std::string_view from, std::string_view to) {
  std::string f = normalize_path(from);
  std::string t = normalize_path(to);
  bool moved = false;
  impl_->transaction([&]() -> std::vector<StoreChange> {
    if (f == t || !impl_->version_of(f) || impl_->version_of(t)) return {};
    std::uint64_t rev = impl_->bump_revision();
    Statement::Use q(*impl_->rename_file);
    q.bind(1, f).bind(2, t).bind(3, static_cast<std::int64_t>(rev)).bind(4, now());
    q.step();
    moved = true;
    return {{f, 0}, {t, rev}};
  });
  return moved;
}

SubscriptionPtr SqliteStore::watch(std::string_view prefix,
                                   std::function<void(const std::string&, std::uint64_t)> fn) {
  return impl_->notifier->subscribe(normalize_prefix(prefix), std::move(fn));
}

LockGuardPtr SqliteStore::lock(std::string_view name, std::chrono::milliseconds timeout) {
  return impl_->locks->acquire(name, timeout);
}

std::vector<std::string> SqliteStore::members() { return {impl_->node_name}; }

}  // namespace pvx::cluster
