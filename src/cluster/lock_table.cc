#include "cluster/lock_table.h"

#include "base/error.h"

namespace pvx::cluster {

class LockTable::Guard final : public LockGuard {
 public:
  Guard(std::shared_ptr<LockTable> table, std::string name) : table_(std::move(table)), name_(std::move(name)) {}
  ~Guard() override { table_->release(name_); }

 private:
  std::shared_ptr<LockTable> table_;
  std::string name_;
};

LockGuardPtr LockTable::acquire(std::string_view name, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  bool free = released_.wait_for(lock, timeout, [&] { return !held_.contains(name); });
  if (!free) throw Error("can't lock '" + std::string(name) + "' - got timeout", 500);
  held_.emplace(name);
  return std::make_unique<Guard>(shared_from_this(), std::string(name));
}

void LockTable::release(const std::string& name) {
  {
    std::lock_guard lock(mutex_);
    held_.erase(name);
  }
  released_.notify_all();
}

}  // namespace pvx::cluster
