#include "base/supervised_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace pvx {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Polls `condition` for up to `limit`.
template <typename F>
bool eventually(F condition, std::chrono::milliseconds limit = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

bool alive(int pid) { return pid > 0 && fs::exists("/proc/" + std::to_string(pid)); }
bool group_exists(int pgid) { return ::kill(-pgid, 0) == 0 || errno != ESRCH; }

std::string status_field(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      auto value = line.substr(field.size() + 1);
      return value.substr(value.find_first_not_of(" \t"));
    }
  }
  return "";
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/pvx-supervised-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

TEST(SupervisedProcess, StartsAndRestartsAKilledChild) {
  int first = 0, second = 0;
  {
    SupervisedProcess p({.name = "sleeper", .argv = {"sleep", "30"}, .min_backoff = 100ms});
    first = p.pid();
    ASSERT_GT(first, 0);
    EXPECT_TRUE(alive(first));
    EXPECT_EQ(::getpgid(first), first) << "child leads its own process group";
    EXPECT_EQ(p.restarts(), 0u);

    ASSERT_EQ(::kill(first, SIGKILL), 0);
    ASSERT_TRUE(eventually([&] { return p.pid() > 0 && p.pid() != first; })) << "not restarted";
    second = p.pid();
    EXPECT_EQ(p.restarts(), 1u);
    EXPECT_TRUE(alive(second));
    EXPECT_FALSE(alive(first)) << "the killed child was reaped";
  }
  EXPECT_FALSE(alive(second));
  EXPECT_TRUE(eventually([&] { return !group_exists(second); }, 2000ms));
}

TEST(SupervisedProcess, ChildStartsWithDefaultSignalsNullStdinAndNoInheritedFds) {
  // pvxd blocks its stop signals and ignores SIGPIPE; none of that may reach the child.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGUSR1);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
  auto old_pipe = ::signal(SIGPIPE, SIG_IGN);
  int leaked = ::open("/dev/null", O_RDONLY);  // without O_CLOEXEC on purpose
  ASSERT_GE(leaked, 0);

  {
    SupervisedProcess p({.name = "sleeper", .argv = {"sleep", "30"}});
    int pid = p.pid();
    ASSERT_GT(pid, 0);
    // Wait for exec: before it, /proc shows the parent's image.
    ASSERT_TRUE(eventually([&] { return status_field(pid, "Name") == "sleep"; }));
    EXPECT_EQ(status_field(pid, "SigBlk"), "0000000000000000");
    // Signals 32 and 33 belong to glibc (thread cancellation, setxid); libc cannot reset them and
    // glibc takes them back when it needs them. An ignore inherited from whoever started the test
    // may stay there; every other signal must be at its default.
    auto ignored = std::stoull(status_field(pid, "SigIgn"), nullptr, 16) & ~((1ull << 31) | (1ull << 32));
    EXPECT_EQ(ignored, 0u) << status_field(pid, "SigIgn");
    EXPECT_EQ(fs::read_symlink("/proc/" + std::to_string(pid) + "/fd/0"), "/dev/null");
    // sleep itself opens locale files briefly at startup; an inherited descriptor would stay.
    auto fds = [&] {
      std::vector<std::string> names;
      for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
        names.push_back(e.path().filename());
      }
      std::sort(names.begin(), names.end());
      return names;
    };
    const std::vector<std::string> standard{"0", "1", "2"};
    EXPECT_TRUE(eventually([&] { return fds() == standard; }, 2000ms)) << testing::PrintToString(fds());
  }

  ::close(leaked);
  ::signal(SIGPIPE, old_pipe);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

TEST(SupervisedProcess, DestructorStopsTheWholeGroupAndKillsAfterTheGrace) {
  int pid = 0;
  auto start = std::chrono::steady_clock::now();
  {
    // The shell and its background child ignore SIGTERM: only SIGKILL after the grace ends them.
    SupervisedProcess p({.name = "stubborn",
                         .argv = {"sh", "-c", "trap '' TERM; sleep 30 & sleep 30"},
                         .stop_grace = 300ms});
    pid = p.pid();
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(eventually([&] { return status_field(pid, "Name") == "sh"; }));
    std::this_thread::sleep_for(100ms);  // let the background sleep start
    start = std::chrono::steady_clock::now();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_FALSE(alive(pid));
  EXPECT_TRUE(eventually([&] { return !group_exists(pid); }, 2000ms)) << "the background sleep survived";
}

TEST(SupervisedProcess, TermEndsAWellBehavedChildPromptly) {
  int pid = 0;
  auto start = std::chrono::steady_clock::now();
  {
    SupervisedProcess p({.name = "sleeper", .argv = {"sh", "-c", "sleep 30 & wait"}, .stop_grace = 5000ms});
    pid = p.pid();
    ASSERT_TRUE(eventually([&] { return status_field(pid, "Name") == "sh"; }));
    start = std::chrono::steady_clock::now();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "SIGTERM was not enough";
  EXPECT_TRUE(eventually([&] { return !group_exists(pid); }, 2000ms));
}

TEST(SupervisedProcess, MissingBinaryIsRetried) {
  SupervisedProcess p({.name = "missing", .argv = {"/nonexistent/pvx-no-such-tool"}, .min_backoff = 20ms,
                       .max_backoff = 40ms});
  EXPECT_EQ(p.pid(), 0);
  EXPECT_TRUE(eventually([&] { return p.restarts() >= 3; }));
  EXPECT_EQ(p.pid(), 0);
}

TEST(SupervisedProcess, ExecFailureIsRetried) {
  TempDir dir;
  auto bogus = dir.path / "not-a-program";
  std::ofstream(bogus) << "no interpreter line, not ELF\n";
  fs::permissions(bogus, fs::perms::owner_all);
  SupervisedProcess p({.name = "bogus", .argv = {bogus.string()}, .min_backoff = 20ms, .max_backoff = 40ms});
  EXPECT_TRUE(eventually([&] { return p.restarts() >= 3; }));
}

TEST(SupervisedProcess, ThrowingBeforeStartSkipsAnAttempt) {
  std::atomic<int> calls = 0;
  SupervisedProcess p({.name = "guarded",
                       .argv = {"sleep", "30"},
                       .min_backoff = 50ms,
                       .before_start = [&] {
                         if (++calls == 1) throw std::runtime_error("run directory missing");
                       }});
  EXPECT_EQ(p.pid(), 0) << "first attempt skipped";
  ASSERT_TRUE(eventually([&] { return p.pid() > 0; }));
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(p.restarts(), 1u);
}

TEST(SupervisedProcess, LogsOutputAndExitStatusAndStopsDuringBackoffAtOnce) {
  TempDir dir;
  auto marker = dir.path / "done";
  // 300 kB without a newline and 2000 short lines: the child must not block on the pipe.
  std::string script = "head -c 300000 /dev/zero | tr '\\0' x; echo; i=0; while [ $i -lt 2000 ]; do echo line $i; "
                       "i=$((i+1)); done; echo to-stderr >&2; touch " + marker.string() + "; exit 3";
  testing::internal::CaptureStderr();
  bool exited = false;
  auto stop_start = std::chrono::steady_clock::now();
  {
    SupervisedProcess p({.name = "chatty", .argv = {"sh", "-c", script}, .min_backoff = 10000ms});
    exited = eventually([&] { return p.pid() == 0; }, 10000ms);
    stop_start = std::chrono::steady_clock::now();
  }
  auto stop_time = std::chrono::steady_clock::now() - stop_start;
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(exited);
  EXPECT_TRUE(fs::exists(marker)) << "child blocked on its output";
  EXPECT_LT(stop_time, 1s) << "destruction waited for the back-off";
  EXPECT_NE(log.find("chatty: line 1999\n"), std::string::npos);
  EXPECT_NE(log.find("chatty: to-stderr\n"), std::string::npos);
  EXPECT_NE(log.find("chatty: " + std::string(4096, 'x') + "\n"), std::string::npos);
  EXPECT_NE(log.find("exited with status 3"), std::string::npos);
}

}  // namespace
}  // namespace pvx
