#pragma once
// Named in-process locks with a timed wait, for stores whose only writer is this process
// (SqliteStore). Not re-entrant: a second lock() of a held name waits, even on the same thread,
// as PVE's cfs_lock does.
//
// Lifetime: guards keep the table alive (shared_ptr), so a guard may outlive its store.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "cluster/config_store.h"

namespace pvx::cluster {

class LockTable : public std::enable_shared_from_this<LockTable> {
 public:
  static std::shared_ptr<LockTable> create() { return std::shared_ptr<LockTable>(new LockTable()); }

  // Throws Error 500 "can't lock '<name>' - got timeout" when `name` stays held for `timeout`.
  LockGuardPtr acquire(std::string_view name, std::chrono::milliseconds timeout);

 private:
  class Guard;
  LockTable() = default;
  void release(const std::string& name);

  std::mutex mutex_;
  std::condition_variable released_;
  std::set<std::string, std::less<>> held_;
};

}  // namespace pvx::cluster
