#include "cluster/store_notifier.h"

#include <algorithm>
#include <exception>

#include "base/log.h"
#include "cluster/store_path.h"

namespace pvx::cluster {

struct StoreNotifier::Watcher {
  std::string prefix;
  Callback fn;
  // Held while fn runs; recursive so that a callback may drop its own subscription.
  std::recursive_mutex running;
  bool active = true;
};

class StoreNotifier::Handle final : public Subscription {
 public:
  Handle(std::weak_ptr<StoreNotifier> owner, std::shared_ptr<Watcher> w) : owner_(std::move(owner)), w_(std::move(w)) {}
  ~Handle() override {
    {
      std::lock_guard lock(w_->running);
      w_->active = false;
    }
    if (auto owner = owner_.lock()) owner->unsubscribe(w_);
  }

 private:
  std::weak_ptr<StoreNotifier> owner_;
  std::shared_ptr<Watcher> w_;
};

std::shared_ptr<StoreNotifier> StoreNotifier::create() {
  std::shared_ptr<StoreNotifier> n(new StoreNotifier());
  // The thread owns a reference until it ends, so a store destroyed from inside a callback
  // (stop() then detaches) cannot pull the notifier out from under run().
  n->thread_ = std::thread([n] { n->run(); });
  return n;
}

StoreNotifier::~StoreNotifier() { stop(); }

SubscriptionPtr StoreNotifier::subscribe(std::string prefix, Callback fn) {
  auto w = std::make_shared<Watcher>();
  w->prefix = std::move(prefix);
  w->fn = std::move(fn);
  {
    std::lock_guard lock(watchers_mutex_);
    watchers_.push_back(w);
  }
  return std::make_unique<Handle>(weak_from_this(), std::move(w));
}

void StoreNotifier::unsubscribe(const std::shared_ptr<Watcher>& w) {
  std::lock_guard lock(watchers_mutex_);
  std::erase(watchers_, w);
}

void StoreNotifier::publish(std::vector<StoreChange> changes) {
  {
    std::lock_guard lock(queue_mutex_);
    for (auto& c : changes) queue_.push_back(std::move(c));
  }
  queue_cv_.notify_one();
}

void StoreNotifier::stop() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_cv_.notify_one();
  if (!thread_.joinable()) return;
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();  // the last owner went away inside a callback; run() ends by itself
  } else {
    thread_.join();
  }
}

void StoreNotifier::run() {
  for (;;) {
    StoreChange change;
    {
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      change = std::move(queue_.front());
      queue_.pop_front();
    }
    std::vector<std::shared_ptr<Watcher>> targets;
    {
      std::lock_guard lock(watchers_mutex_);
      for (const auto& w : watchers_) {
        if (path_matches(w->prefix, change.path)) targets.push_back(w);
      }
    }
    for (const auto& w : targets) {
      std::lock_guard lock(w->running);
      if (!w->active) continue;
      try {
        w->fn(change.path, change.version);
      } catch (const std::exception& e) {
        log::warn(std::string("config store watcher failed: ") + e.what());
      } catch (...) {
        log::warn("config store watcher failed");
      }
    }
  }
}

}  // namespace pvx::cluster
