#include "tasks/task_runner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <stdexcept>
#include <thread>

#include "base/error.h"
#include "tasks/task_index.h"

namespace pvx::tasks {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr auto kWait = 10s;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "pvx-tasks-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Lets a test hold a task open and release it.
class Gate {
 public:
  void open() { open_ = true; }
  // Gives up after a while so that a failed assertion cannot hang the suite.
  void wait() const {
    auto deadline = std::chrono::steady_clock::now() + kWait;
    while (!open_ && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  }

 private:
  std::atomic<bool> open_{false};
};

std::vector<std::string> texts(const std::vector<LogLine>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines) out.push_back(l.t);
  return out;
}

class TaskRunnerTest : public ::testing::Test {
 protected:
  TempDir dir_;
  TaskRunner runner_{dir_.path(), "pve1"};

  std::string run_to_end(std::function<void(TaskContext&)> fn, std::string type = "qmstart",
                         std::string id = "100", std::string user = "root@pam") {
    auto upid = runner_.spawn(std::move(type), std::move(id), std::move(user), std::move(fn)).str();
    EXPECT_TRUE(runner_.wait(upid, kWait));
    return upid;
  }
  std::string exitstatus(const std::string& upid) {
    auto info = runner_.status(upid);
    EXPECT_TRUE(info);
    EXPECT_FALSE(info->running);
    return info ? info->exitstatus : "";
  }
  std::vector<std::string> log(const std::string& upid) { return texts(runner_.read_log(upid, 0, 0).first); }
};

TEST_F(TaskRunnerTest, OkTaskHasUpidOfItsThreadAndLogFile) {
  Gate gate;
  std::promise<std::uint32_t> tid;
  std::int64_t before = std::time(nullptr);
  auto upid = runner_.spawn("qmstart", "100", "root@pam", [&](TaskContext& ctx) {
    tid.set_value(static_cast<std::uint32_t>(::gettid()));
    ctx.log("starting VM 100");
    gate.wait();
  });
  // Running right after spawn returns.
  auto info = runner_.status(upid.str());
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->running);
  EXPECT_TRUE(info->exitstatus.empty());
  EXPECT_FALSE(info->endtime);
  EXPECT_EQ(info->upid, upid);

  EXPECT_EQ(upid.node, "pve1");
  EXPECT_EQ(upid.type, "qmstart");
  EXPECT_EQ(upid.id, "100");
  EXPECT_EQ(upid.user, "root@pam");
  EXPECT_EQ(upid.pid, tid.get_future().get());
  EXPECT_NE(upid.pid, static_cast<std::uint32_t>(::getpid()));
  EXPECT_GT(upid.pstart, 0u);
  EXPECT_GE(upid.starttime, before);
  EXPECT_LE(upid.starttime, std::time(nullptr));
  EXPECT_EQ(Upid::parse(upid.str()), upid);
  EXPECT_TRUE(fs::exists(dir_.path() / "tasks.db"));

  const char hex[] = "0123456789ABCDEF";
  fs::path file = dir_.path() / std::string(1, hex[upid.starttime & 0xF]) / upid.str();
  EXPECT_TRUE(fs::exists(file));
  EXPECT_EQ(runner_.log_path(upid), file);

  gate.open();
  ASSERT_TRUE(runner_.wait(upid.str(), kWait));
  info = runner_.status(upid.str());
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->running);
  EXPECT_EQ(info->exitstatus, "OK");
  ASSERT_TRUE(info->endtime);
  EXPECT_GE(*info->endtime, upid.starttime);
  EXPECT_EQ(log(upid.str()), (std::vector<std::string>{"starting VM 100", "TASK OK"}));
}

TEST_F(TaskRunnerTest, ErrorBecomesFirstLineOfMessage) {
  auto upid = run_to_end([](TaskContext& ctx) {
    ctx.log("working");
    throw Error("unable to find configuration file for VM 100\nsecond line", 500);
  });
  EXPECT_EQ(exitstatus(upid), "unable to find configuration file for VM 100");
  EXPECT_EQ(log(upid),
            (std::vector<std::string>{"working", "TASK ERROR: unable to find configuration file for VM 100"}));

  auto other = run_to_end([](TaskContext&) { throw std::runtime_error("plain failure"); });
  EXPECT_EQ(exitstatus(other), "plain failure");
}

TEST_F(TaskRunnerTest, WarningsAreCounted) {
  auto upid = run_to_end([](TaskContext& ctx) {
    ctx.warn("first");
    ctx.log("between");
    ctx.warn("second");
  });
  EXPECT_EQ(exitstatus(upid), "WARNINGS: 2");
  EXPECT_EQ(log(upid), (std::vector<std::string>{"WARN: first", "between", "WARN: second", "TASK WARNINGS: 2"}));
}

TEST_F(TaskRunnerTest, StopAbortsTask) {
  std::atomic<bool> looping{false};
  auto upid = runner_.spawn("vzdump", "", "root@pam", [&](TaskContext& ctx) {
    while (true) {
      looping = true;
      ctx.check_abort();
      std::this_thread::sleep_for(1ms);
    }
  });
  while (!looping) std::this_thread::sleep_for(1ms);
  EXPECT_FALSE(runner_.wait(upid.str(), 20ms));
  EXPECT_TRUE(runner_.stop(upid.str()));
  ASSERT_TRUE(runner_.wait(upid.str(), kWait));
  EXPECT_EQ(exitstatus(upid.str()), "received interrupt");
  EXPECT_EQ(log(upid.str()).back(), "TASK ERROR: received interrupt");
  EXPECT_FALSE(runner_.stop(upid.str()));
  EXPECT_FALSE(runner_.stop("UPID:pve1:00000001:00000001:00000001:x::root@pam:"));
}

TEST_F(TaskRunnerTest, LogPaging) {
  auto upid = run_to_end([](TaskContext& ctx) {
    for (int i = 1; i <= 10; ++i) ctx.log("line " + std::to_string(i));
  });
  auto [first, total] = runner_.read_log(upid, 0, 3);
  EXPECT_EQ(total, 11);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0].n, 1);
  EXPECT_EQ(first[0].t, "line 1");
  EXPECT_EQ(first[2].n, 3);

  auto [tail, total2] = runner_.read_log(upid, 9, 50);
  EXPECT_EQ(total2, 11);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].n, 10);
  EXPECT_EQ(tail[0].t, "line 10");
  EXPECT_EQ(tail[1].n, 11);
  EXPECT_EQ(tail[1].t, "TASK OK");

  auto [past, total3] = runner_.read_log(upid, 20, 5);
  EXPECT_TRUE(past.empty());
  EXPECT_EQ(total3, 11);

  EXPECT_EQ(runner_.read_log(upid, 0, 0).first.size(), 11u);

  EXPECT_THROW(runner_.read_log("not-a-upid", 0, 50), Error);
  try {
    runner_.read_log("UPID:pve1:00000001:00000001:00000001:x::root@pam:", 0, 50);
    FAIL() << "unknown task must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_TRUE(e.params().contains("upid"));
  }
}

TEST_F(TaskRunnerTest, LogReadableWhileRunning) {
  Gate logged_nothing, logged_one;
  std::atomic<int> stage{0};
  auto upid = runner_.spawn("qmclone", "100", "root@pam", [&](TaskContext& ctx) {
    logged_nothing.wait();
    ctx.log("first");
    stage = 1;
    logged_one.wait();
  });
  // An empty log answers as Proxmox does.
  auto [empty, total0] = runner_.read_log(upid.str(), 0, 50);
  ASSERT_EQ(empty.size(), 1u);
  EXPECT_EQ(empty[0].n, 1);
  EXPECT_EQ(empty[0].t, "no content");
  EXPECT_EQ(total0, 1);

  logged_nothing.open();
  while (stage != 1) std::this_thread::sleep_for(1ms);
  auto [lines, total] = runner_.read_log(upid.str(), 0, 50);
  EXPECT_EQ(texts(lines), std::vector<std::string>{"first"});
  EXPECT_EQ(total, 1);
  logged_one.open();
  ASSERT_TRUE(runner_.wait(upid.str(), kWait));
}

TEST_F(TaskRunnerTest, ListSourcesAndFilters) {
  Gate gate;
  auto ok = run_to_end([](TaskContext&) {}, "qmstart", "100", "root@pam");
  auto failed = run_to_end([](TaskContext&) { throw Error("boom"); }, "qmstop", "101", "alice@pve");
  auto warned = run_to_end([](TaskContext& ctx) { ctx.warn("w"); }, "vzdump", "", "Alice@pve!tok");
  auto running = runner_.spawn("qmstart", "102", "bob@pve", [&](TaskContext&) { gate.wait(); }).str();

  TaskFilter f;  // default: archive
  auto [archive, total] = runner_.list(f);
  EXPECT_EQ(total, 3);
  EXPECT_EQ(archive.size(), 3u);
  for (const auto& t : archive) EXPECT_FALSE(t.running);

  f.source = "active";
  auto [active, total_active] = runner_.list(f);
  EXPECT_EQ(total_active, 1);
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].upid_text, running);
  EXPECT_TRUE(active[0].running);

  f.source = "all";
  auto [all, total_all] = runner_.list(f);
  EXPECT_EQ(total_all, 4);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].upid_text, running);  // active tasks come first

  f = TaskFilter{};
  f.typefilter = "qmstop";
  auto [by_type, n_type] = runner_.list(f);
  ASSERT_EQ(n_type, 1);
  EXPECT_EQ(by_type[0].upid_text, failed);
  EXPECT_EQ(by_type[0].exitstatus, "boom");

  f = TaskFilter{};
  f.userfilter = "alice";
  EXPECT_EQ(runner_.list(f).second, 2);  // case-insensitive substring

  f = TaskFilter{};
  f.vmid = 100;
  auto [by_vmid, n_vmid] = runner_.list(f);
  ASSERT_EQ(n_vmid, 1);
  EXPECT_EQ(by_vmid[0].upid_text, ok);

  f = TaskFilter{};
  f.errors = true;
  auto [errs, n_errs] = runner_.list(f);
  EXPECT_EQ(n_errs, 2);  // Proxmox drops only OK tasks for errors=1
  for (const auto& t : errs) EXPECT_NE(t.exitstatus, "OK");

  f = TaskFilter{};
  f.statusfilter = {"warning"};
  auto [warns, n_warns] = runner_.list(f);
  ASSERT_EQ(n_warns, 1);
  EXPECT_EQ(warns[0].upid_text, warned);

  gate.open();
  ASSERT_TRUE(runner_.wait(running, kWait));
}

// Filters and ordering against rows with chosen start times.
TEST(TaskIndexTest, ListFiltersPagingAndOrder) {
  TempDir dir;
  TaskIndex index(dir.path() / "tasks.db");
  auto add = [&](std::uint32_t pid, std::int64_t start, std::string type, std::string id, std::string user,
                 std::optional<std::string> status) {
    Upid u{.node = "pve1", .pid = pid, .pstart = 1000, .starttime = start, .type = type, .id = id, .user = user};
    index.insert_running(u);
    if (status) index.finish(u.str(), start + 5, *status);
    return u.str();
  };
  auto a = add(1, 1000, "qmstart", "100", "root@pam", "OK");
  auto b = add(2, 2000, "qmstop", "100", "root@pam", "WARNINGS: 3");
  auto c = add(3, 3000, "vzdump", "101", "backup@pve", "some error");
  auto d = add(4, 4000, "qmstart", "101", "root@pam", "unexpected status");
  auto e = add(5, 5000, "qmstart", "102", "root@pam", std::nullopt);
  auto f2 = add(6, 3000, "qmstart", "103", "root@pam", "OK");  // same second as c

  auto upids = [](const std::vector<TaskInfo>& v) {
    std::vector<std::string> out;
    for (const auto& t : v) out.push_back(t.upid_text);
    return out;
  };

  TaskFilter f;
  auto [page, total] = index.list(f);
  EXPECT_EQ(total, 5);
  // Newest first; ties by UPID descending (pid 6 > pid 3).
  EXPECT_EQ(upids(page), (std::vector<std::string>{d, f2, c, b, a}));

  f.start = 1;
  f.limit = 2;
  std::tie(page, total) = index.list(f);
  EXPECT_EQ(total, 5);
  EXPECT_EQ(upids(page), (std::vector<std::string>{f2, c}));

  f.limit = 0;
  std::tie(page, total) = index.list(f);
  EXPECT_TRUE(page.empty());
  EXPECT_EQ(total, 5);

  f = TaskFilter{};
  f.since = 2000;
  f.until = 3000;
  std::tie(page, total) = index.list(f);
  EXPECT_EQ(upids(page), (std::vector<std::string>{f2, c, b}));

  f = TaskFilter{};
  f.statusfilter = {"ok"};
  EXPECT_EQ(upids(index.list(f).first), (std::vector<std::string>{f2, a}));
  f.statusfilter = {"ERROR"};
  EXPECT_EQ(upids(index.list(f).first), (std::vector<std::string>{c}));
  f.statusfilter = {"unknown"};
  EXPECT_EQ(upids(index.list(f).first), (std::vector<std::string>{d}));
  f.statusfilter = {"warning", "error"};
  EXPECT_EQ(upids(index.list(f).first), (std::vector<std::string>{c, b}));
  f.source = "all";
  f.statusfilter = {"unknown"};  // a running task counts as unknown
  EXPECT_EQ(upids(index.list(f).first), (std::vector<std::string>{e, d}));
  f.errors = true;  // overrides statusfilter
  EXPECT_EQ(upids(index.list(f).first), (std::vector<std::string>{e, d, c, b}));

  f = TaskFilter{};
  f.vmid = 101;
  EXPECT_EQ(upids(index.list(f).first), (std::vector<std::string>{d, c}));

  f = TaskFilter{};
  f.userfilter = "BACKUP";
  EXPECT_EQ(upids(index.list(f).first), (std::vector<std::string>{c}));
  f.userfilter = "%";  // no wildcard semantics
  EXPECT_EQ(index.list(f).second, 0);

  f = TaskFilter{};
  f.typefilter = "qmstart";
  f.source = "all";
  EXPECT_EQ(upids(index.list(f).first), (std::vector<std::string>{e, d, f2, a}));

  f = TaskFilter{};
  f.source = "bogus";
  EXPECT_THROW(index.list(f), Error);

  EXPECT_EQ(status_type("OK"), "ok");
  EXPECT_EQ(status_type("WARNINGS: 12"), "warning");
  EXPECT_EQ(status_type("WARNINGS: x"), "error");
  EXPECT_EQ(status_type("unexpected status"), "unknown");
  EXPECT_EQ(status_type(""), "unknown");
  EXPECT_EQ(status_type("received interrupt"), "error");
}

TEST_F(TaskRunnerTest, ManyQuickTasksHaveDistinctUpids) {
  constexpr int kThreads = 4, kPerThread = 50;
  std::vector<std::vector<std::string>> made(kThreads);
  std::vector<std::thread> spawners;
  for (int t = 0; t < kThreads; ++t) {
    spawners.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        made[t].push_back(
            runner_.spawn("qmstart", std::to_string(100 + i), "root@pam", [](TaskContext& ctx) { ctx.log("x"); }).str());
      }
    });
  }
  for (auto& s : spawners) s.join();
  std::set<std::string> unique;
  for (const auto& v : made) {
    for (const auto& u : v) {
      unique.insert(u);
      ASSERT_TRUE(runner_.wait(u, kWait));
      EXPECT_EQ(exitstatus(u), "OK");
    }
  }
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(kThreads * kPerThread));
  TaskFilter f;
  f.source = "all";
  EXPECT_EQ(runner_.list(f).second, kThreads * kPerThread);
}

TEST(TaskRunnerLifecycle, DestructorAbortsRunningTasks) {
  TempDir dir;
  std::string upid;
  {
    TaskRunner runner(dir.path(), "pve1");
    upid = runner
               .spawn("qmshutdown", "100", "root@pam",
                      [](TaskContext& ctx) {
                        while (true) {
                          ctx.check_abort();
                          std::this_thread::sleep_for(1ms);
                        }
                      })
               .str();
  }
  TaskRunner again(dir.path(), "pve1");
  auto info = again.status(upid);
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->running);
  EXPECT_EQ(info->exitstatus, "received interrupt");
}

TEST(TaskRunnerLifecycle, ReconcileClosesTasksOfADeadDaemon) {
  TempDir a_dir, b_dir;
  Gate gate;
  std::atomic<bool> logged{false};
  TaskRunner a(a_dir.path(), "pve1");
  auto upid = a.spawn("qmstart", "100", "root@pam", [&](TaskContext& ctx) {
                 ctx.log("partial output");
                 logged = true;
                 gate.wait();
               }).str();
  while (!logged) std::this_thread::sleep_for(1ms);
  // A's own running task survives A's reconcile.
  a.reconcile();
  ASSERT_TRUE(a.status(upid)->running);

  // Simulate a crash: B sees the database (with its WAL) and logs as A left them while running.
  fs::copy(a_dir.path(), b_dir.path(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  fs::remove(b_dir.path() / "tasks.db-shm");
  {
    TaskRunner b(b_dir.path(), "pve1");
    ASSERT_TRUE(b.status(upid));
    EXPECT_TRUE(b.status(upid)->running);
    b.reconcile();
    auto info = b.status(upid);
    ASSERT_TRUE(info);
    EXPECT_FALSE(info->running);
    EXPECT_EQ(info->exitstatus, "unexpected status");
    EXPECT_TRUE(info->endtime);
    auto lines = texts(b.read_log(upid, 0, 0).first);
    EXPECT_EQ(lines, (std::vector<std::string>{"partial output", "TASK ERROR: unexpected status"}));
    EXPECT_TRUE(b.wait(upid, 1ms));
    TaskFilter f;
    f.statusfilter = {"unknown"};
    EXPECT_EQ(b.list(f).second, 1);
  }
  gate.open();
  ASSERT_TRUE(a.wait(upid, kWait));
  EXPECT_EQ(a.status(upid)->exitstatus, "OK");
}

}  // namespace
}  // namespace pvx::tasks
