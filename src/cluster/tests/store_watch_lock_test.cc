#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/error.h"
#include "cluster/sqlite_store.h"
#include "cluster/tests/temp_dir.h"

namespace pvx::cluster {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

// Collects watch events and lets the test wait for a count of them.
class Recorder {
 public:
  void operator()(const std::string& path, std::uint64_t version) {
    {
      std::lock_guard lock(mutex_);
      events_.emplace_back(path, version);
      thread_ = std::this_thread::get_id();
    }
    cv_.notify_all();
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
  }
  std::vector<std::pair<std::string, std::uint64_t>> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::thread::id thread() {
    std::lock_guard lock(mutex_);
    return thread_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, std::uint64_t>> events_;
  std::thread::id thread_;
};

class StoreWatchTest : public ::testing::Test {
 protected:
  TempDir dir_;
  SqliteStore store_{dir_.db(), "pve1"};
};

TEST_F(StoreWatchTest, DeliversWritesRemovesAndMovesBelowPrefix) {
  Recorder rec;
  auto sub = store_.watch("nodes/pve1/", std::ref(rec));
  auto v1 = *store_.write("nodes/pve1/qemu-server/100.conf", "a");
  store_.write("nodes/pve10/qemu-server/100.conf", "ignored");  // other directory
  store_.write("storage.cfg", "ignored");
  store_.remove("nodes/pve1/qemu-server/100.conf");
  store_.write("nodes/pve1/lxc/200.conf", "b");
  store_.move("nodes/pve1/lxc/200.conf", "nodes/pve1/lxc/201.conf");
  ASSERT_TRUE(rec.wait_for(5));
  auto rev = store_.revision();
  std::vector<std::pair<std::string, std::uint64_t>> expected{
      {"nodes/pve1/qemu-server/100.conf", v1},
      {"nodes/pve1/qemu-server/100.conf", 0},
      {"nodes/pve1/lxc/200.conf", rev - 1},
      {"nodes/pve1/lxc/200.conf", 0},
      {"nodes/pve1/lxc/201.conf", rev},
  };
  EXPECT_EQ(rec.events(), expected);
  EXPECT_NE(rec.thread(), std::this_thread::get_id());  // store-owned thread
}

TEST_F(StoreWatchTest, WatchOnASingleFileAndOnEverything) {
  Recorder file, all;
  auto s1 = store_.watch("user.cfg", std::ref(file));
  auto s2 = store_.watch("", std::ref(all));
  store_.write("user.cfg.bak", "x");
  store_.write("user.cfg", "y");
  ASSERT_TRUE(all.wait_for(2));
  ASSERT_TRUE(file.wait_for(1));
  EXPECT_EQ(file.events().size(), 1u);
  EXPECT_EQ(file.events()[0].first, "user.cfg");
}

TEST_F(StoreWatchTest, ConcurrentWritersAreDeliveredInRevisionOrder) {
  Recorder rec;
  auto sub = store_.watch("", std::ref(rec));
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([this, t] {
      for (int i = 0; i < 20; ++i) store_.write("w/" + std::to_string(t) + "/" + std::to_string(i), "x");
    });
  }
  for (auto& w : writers) w.join();
  ASSERT_TRUE(rec.wait_for(60));
  auto ev = rec.events();
  ASSERT_EQ(ev.size(), 60u);
  for (std::size_t i = 0; i < ev.size(); ++i) EXPECT_EQ(ev[i].second, i + 1);
}

TEST_F(StoreWatchTest, UnsubscribeStopsDelivery) {
  Recorder kept, dropped;
  auto keep = store_.watch("", std::ref(kept));
  auto drop = store_.watch("", std::ref(dropped));
  store_.write("a", "1");
  ASSERT_TRUE(dropped.wait_for(1));
  drop.reset();
  store_.write("b", "2");
  ASSERT_TRUE(kept.wait_for(2));
  EXPECT_EQ(dropped.events().size(), 1u);
}

TEST_F(StoreWatchTest, CallbackMayWriteToTheStoreAndDropItsOwnSubscription) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  SubscriptionPtr sub;
  std::atomic<int> calls{0};
  {
    std::lock_guard lock(m);
    sub = store_.watch("in/", [&](const std::string&, std::uint64_t) {
      ++calls;
      // Not under the DB mutex, so writing from here must not deadlock.
      store_.write("out/echo", "x");
      std::lock_guard lock(m);
      sub.reset();
      done = true;
      cv.notify_all();
    });
  }
  store_.write("in/a", "1");
  std::unique_lock lock(m);
  ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return done; }));
  lock.unlock();
  store_.write("in/b", "2");
  EXPECT_TRUE(store_.read("out/echo"));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(StoreWatchTest, SubscriptionMayOutliveTheStore) {
  TempDir dir;
  SubscriptionPtr sub;
  {
    SqliteStore store(dir.db(), "pve1");
    sub = store.watch("", [](const std::string&, std::uint64_t) {});
    store.write("a", "1");
  }
  sub.reset();  // must not touch the destroyed store
  SUCCEED();
}

TEST_F(StoreWatchTest, LockTimesOutWith500AndTheExactMessage) {
  auto guard = store_.lock("vm-100", 100ms);
  auto start = std::chrono::steady_clock::now();
  try {
    store_.lock("vm-100", 50ms);
    FAIL() << "second lock succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 500);
    EXPECT_STREQ(e.what(), "can't lock 'vm-100' - got timeout");
  }
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  // Other names are independent.
  EXPECT_TRUE(store_.lock("vm-101", 10ms));
}

TEST_F(StoreWatchTest, ReleasingALockWakesAWaiter) {
  auto guard = store_.lock("storage-local", 100ms);
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto g = store_.lock("storage-local", 5s);
    got = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(got.load());
  guard.reset();
  waiter.join();
  EXPECT_TRUE(got.load());
  // Released again by the waiter's guard.
  EXPECT_TRUE(store_.lock("storage-local", 10ms));
}

TEST_F(StoreWatchTest, WithLockSerialisesCriticalSections) {
  int inside = 0, max_inside = 0, total = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        with_lock(store_, "vm-100", 5s, [&] {
          ++inside;
          max_inside = std::max(max_inside, inside);
          ++total;
          std::this_thread::yield();
          --inside;
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(max_inside, 1);
  EXPECT_EQ(total, 100);
}

}  // namespace
}  // namespace pvx::cluster
