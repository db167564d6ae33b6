#pragma once
// An in-memory ConfigStore for the auth tests: versions, compare-and-swap, synchronous watch
// callbacks and named locks behave as the ConfigStore contract says, without SQLite.
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/error.h"
#include "cluster/config_store.h"
#include "cluster/lock_table.h"

namespace pvx::auth::testing {

class MemoryStore final : public cluster::ConfigStore {
 public:
  std::optional<cluster::FileEntry> read(std::string_view path) override {
    std::lock_guard lock(mutex_);
    auto it = files_.find(std::string(path));
    if (it == files_.end()) return std::nullopt;
    ++reads_;
    return it->second;
  }
  std::vector<std::string> list(std::string_view prefix) override {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [p, e] : files_) {
      if (p.starts_with(prefix)) out.push_back(p);
    }
    return out;
  }
  std::uint64_t revision() override {
    std::lock_guard lock(mutex_);
    return revision_;
  }
  std::optional<std::uint64_t> write(std::string_view path, std::string_view data,
                                     std::optional<std::uint64_t> expected_version) override {
    std::uint64_t version;
    {
      std::lock_guard lock(mutex_);
      auto it = files_.find(std::string(path));
      std::uint64_t current = it == files_.end() ? 0 : it->second.version;
      if (expected_version && *expected_version != current) return std::nullopt;
      version = ++revision_;
      files_[std::string(path)] = cluster::FileEntry{std::string(data), version, 0};
    }
    notify(std::string(path), version);
    return version;
  }
  bool remove(std::string_view path, std::optional<std::uint64_t> expected_version) override {
    {
      std::lock_guard lock(mutex_);
      auto it = files_.find(std::string(path));
      if (it == files_.end() || (expected_version && *expected_version != it->second.version)) return false;
      files_.erase(it);
      ++revision_;
    }
    notify(std::string(path), 0);
    return true;
  }
  bool move(std::string_view, std::string_view) override { throw Error("not used by auth", 500); }
  cluster::SubscriptionPtr watch(std::string_view prefix,
                                 std::function<void(const std::string&, std::uint64_t)> fn) override {
    std::lock_guard lock(mutex_);
    int id = ++next_watcher_;
    watchers_.push_back({id, std::string(prefix), std::move(fn)});
    return std::make_unique<Handle>(*this, id);
  }
  cluster::LockGuardPtr lock(std::string_view name, std::chrono::milliseconds timeout) override {
    return locks_->acquire(name, timeout);
  }
  bool quorate() override { return true; }
  std::vector<std::string> members() override { return {"node1"}; }

  std::uint64_t reads() {
    std::lock_guard lock(mutex_);
    return reads_;
  }

 private:
  class Handle : public cluster::Subscription {
   public:
    Handle(MemoryStore& store, int id) : store_(store), id_(id) {}
    ~Handle() override {
      std::lock_guard lock(store_.mutex_);
      std::erase_if(store_.watchers_, [this](const Watcher& w) { return w.id == id_; });
    }

   private:
    MemoryStore& store_;
    int id_;
  };
  struct Watcher {
    int id;
    std::string prefix;
    std::function<void(const std::string&, std::uint64_t)> fn;
  };
  void notify(const std::string& path, std::uint64_t version) {
    std::vector<Watcher> watchers;
    {
      std::lock_guard lock(mutex_);
      watchers = watchers_;
    }
    for (const auto& w : watchers) {
      if (path == w.prefix || path.starts_with(w.prefix + "/")) w.fn(path, version);
    }
  }

  std::mutex mutex_;
  std::map<std::string, cluster::FileEntry> files_;
  std::uint64_t revision_ = 0;
  std::uint64_t reads_ = 0;
  std::vector<Watcher> watchers_;
  int next_watcher_ = 0;
  std::shared_ptr<cluster::LockTable> locks_ = cluster::LockTable::create();
};

}  // namespace pvx::auth::testing
