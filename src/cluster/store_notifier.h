#pragma once
// Delivers store changes to watchers from one thread owned by the store, in the order they were
// published (the store publishes while it still holds its write mutex, so that order is revision
// order), and never while the store's database mutex is held.
//
// Lifetime: the store owns the notifier and must call stop() before closing (the thread holds a
// reference until then); subscriptions hold only a weak reference, so they may outlive the store. A subscription destroyed from another thread
// waits for a callback of it that is running; destroyed from inside its own callback it does not.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/config_store.h"

namespace pvx::cluster {

struct StoreChange {
  std::string path;
  std::uint64_t version = 0;  // 0 = removed
};

class StoreNotifier : public std::enable_shared_from_this<StoreNotifier> {
 public:
  using Callback = std::function<void(const std::string&, std::uint64_t)>;

  static std::shared_ptr<StoreNotifier> create();
  ~StoreNotifier();

  // `prefix` is normalised (see store_path.h).
  SubscriptionPtr subscribe(std::string prefix, Callback fn);
  void publish(std::vector<StoreChange> changes);
  // Delivers what is queued, then ends the thread. Idempotent.
  void stop();

 private:
  struct Watcher;
  class Handle;
  StoreNotifier() = default;
  void run();
  void unsubscribe(const std::shared_ptr<Watcher>& w);

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<StoreChange> queue_;
  bool stopping_ = false;

  std::mutex watchers_mutex_;
  std::vector<std::shared_ptr<Watcher>> watchers_;

  std::thread thread_;
};

}  // namespace pvx::cluster
