// Console sessions with the real task runner: ports handed out in turn, one claim per session,
// a session nobody connects to fails its task with PVE's message, and a task abort reaches the
// connection.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "base/error.h"
#include "guest/qemu/console_sessions.h"
#include "tasks/task_runner.h"

namespace pvx::guest::qemu {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class ConsoleSessionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pvx_console_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    runner_ = std::make_unique<tasks::TaskRunner>(dir_, "node1");
  }
  void TearDown() override {
    runner_.reset();
    fs::remove_all(dir_);
  }
  std::string spawn_serve(const std::shared_ptr<ConsoleSession>& s, std::chrono::milliseconds timeout) {
    return runner_
        ->spawn("vncproxy", std::to_string(s->vmid()), s->user(),
                [this, s, timeout](tasks::TaskContext& t) { sessions_.serve(s, t, timeout); })
        .str();
  }
  std::string finish(const std::string& upid) {
    EXPECT_TRUE(runner_->wait(upid, 10s));
    return runner_->status(upid)->exitstatus;
  }

  fs::path dir_;
  std::unique_ptr<tasks::TaskRunner> runner_;
  ConsoleSessions sessions_;
};

TEST_F(ConsoleSessionsTest, PortsInTurnAndExhaustion) {
  std::vector<std::shared_ptr<ConsoleSession>> held;
  for (int i = 0; i < 100; ++i) held.push_back(sessions_.reserve(100, "root@pam", {}));
  EXPECT_EQ(held.front()->port(), 5900);
  EXPECT_EQ(held.back()->port(), 5999);
  EXPECT_THROW(sessions_.reserve(100, "root@pam", {}), Error);
  sessions_.release(5950);
  EXPECT_EQ(sessions_.reserve(100, "root@pam", {})->port(), 5950);
  for (int p = 5900; p <= 5999; ++p) sessions_.release(p);
  // After 5950 the next one handed out is 5951, not the lowest free one.
  EXPECT_EQ(sessions_.reserve(100, "root@pam", {})->port(), 5951);
}

TEST_F(ConsoleSessionsTest, ClaimOnlyOnceAndOnlyByItsVmAndUser) {
  auto s = sessions_.reserve(100, "alice@pve", {.kind = ConsoleKind::Terminal, .serial = "serial0"});
  EXPECT_THROW(sessions_.claim(s->port(), 101, "alice@pve"), Error);
  EXPECT_THROW(sessions_.claim(s->port(), 100, "bob@pve"), Error);
  EXPECT_THROW(sessions_.claim(s->port() + 1, 100, "alice@pve"), Error);
  auto claimed = sessions_.claim(s->port(), 100, "alice@pve");
  EXPECT_EQ(claimed.get(), s.get());
  EXPECT_THROW(sessions_.claim(s->port(), 100, "alice@pve"), Error) << "one connection per session";
}

TEST_F(ConsoleSessionsTest, NobodyConnectsTaskFailsAndPortIsFreed) {
  auto vnc = sessions_.reserve(100, "root@pam", {.kind = ConsoleKind::Vnc});
  auto term = sessions_.reserve(100, "root@pam", {.kind = ConsoleKind::Terminal});
  auto a = spawn_serve(vnc, 300ms), b = spawn_serve(term, 300ms);
  EXPECT_EQ(finish(a), "connection timed out");
  EXPECT_EQ(finish(b), "failed waiting for client: timed out");
  EXPECT_EQ(sessions_.active(), 0u);
  EXPECT_THROW(sessions_.claim(vnc->port(), 100, "root@pam"), Error);
}

TEST_F(ConsoleSessionsTest, TaskLivesAsLongAsTheConnection) {
  auto s = sessions_.reserve(100, "root@pam", {});
  auto upid = spawn_serve(s, 5s);
  auto claimed = sessions_.claim(s->port(), 100, "root@pam");
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(runner_->status(upid)->running) << "connected: the task waits for the end";
  claimed->ended();
  EXPECT_EQ(finish(upid), "OK");
  EXPECT_EQ(sessions_.active(), 0u);
}

TEST_F(ConsoleSessionsTest, StoppingTheTaskAbortsTheConnection) {
  auto s = sessions_.reserve(100, "root@pam", {});
  auto upid = spawn_serve(s, 5s);
  auto claimed = sessions_.claim(s->port(), 100, "root@pam");
  std::atomic<int> aborts{0};
  // The connection's hook: here it ends the session at once, as a closed socket would.
  claimed->set_abort([&aborts, claimed] {
    ++aborts;
    std::thread([claimed] { claimed->ended(); }).detach();
  });
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(runner_->stop(upid));
  EXPECT_NE(finish(upid), "OK");
  EXPECT_EQ(aborts.load(), 1);
}

}  // namespace
}  // namespace pvx::guest::qemu
