// Real QEMU processes (TCG, paused, no devices): spawn, QMP, find again, exit watching, kill.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "base/atomic_file.h"
#include "base/child_reaper.h"
#include "base/error.h"
#include "base/proc_stat.h"
#include "base/process.h"
#include "base/strings.h"
#include "guest/qemu/kvm_probe.h"
#include "guest/qemu/qemu_process.h"
#include "guest/qemu/qmp.h"

namespace pvx::guest::qemu {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Counts calls from the exit watcher thread and lets the test wait for them.
class ExitFlag {
 public:
  std::function<void()> callback() {
    return [this] {
      std::lock_guard lock(mutex_);
      ++count_;
      cv_.notify_all();
    };
  }
  bool wait(std::chrono::milliseconds timeout, int count = 1) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return count_ >= count; });
  }
  int count() {
    std::lock_guard lock(mutex_);
    return count_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int count_ = 0;
};

class QemuProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!command_exists("qemu-system-x86_64")) GTEST_SKIP() << "qemu-system-x86_64 is not installed";
    char tmpl[] = "/tmp/pvx-qemu-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    run_dir_ = tmpl;
  }
  void TearDown() override {
    if (run_dir_.empty()) return;
    for (auto vmid : {100, 101}) {
      try {
        kill_vm_process(VmPaths(run_dir_, vmid), 2s);
      } catch (const std::exception&) {
      }
    }
    fs::remove_all(run_dir_);
  }

  std::vector<std::string> qemu_argv(const VmPaths& paths, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {"qemu-system-x86_64", "-name", "vm" + std::to_string(paths.vmid), "-accel", "tcg",
                                     "-machine", "pc", "-nodefaults", "-display", "none", "-S",
                                     "-chardev", "socket,id=qmp,path=" + paths.qmp().string() + ",server=on,wait=off",
                                     "-mon", "chardev=qmp,mode=control"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  ProcessInfo spawn(const VmPaths& paths, ExitFlag* exited = nullptr, std::vector<std::string> extra = {}) {
    SpawnOptions options;
    options.qmp_timeout = 30s;
    options.log_file = run_dir_ / ("qemu-" + std::to_string(paths.vmid) + ".log");
    if (exited) options.on_exit = exited->callback();
    return spawn_qemu(paths, qemu_argv(paths, std::move(extra)), options);
  }

  fs::path run_dir_;
};

TEST_F(QemuProcessTest, SpawnAnswersQmpAndIsFoundByPidFileCmdlineAndSocket) {
  VmPaths paths(run_dir_, 100);
  ExitFlag exited;
  auto info = spawn(paths, &exited);
  EXPECT_GT(info.pid, 0);
  EXPECT_NEAR(static_cast<double>(info.start_time), static_cast<double>(::time(nullptr)), 5.0);
  EXPECT_EQ(trim(read_file(paths.pid()).value_or("")), std::to_string(info.pid));

  // Its own session, and pvxd's child.
  EXPECT_EQ(::getsid(info.pid), info.pid);
  EXPECT_EQ(read_proc_stat(info.pid)->ppid, ::getpid());

  QmpClient qmp(paths.qmp(), 100);
  auto status = qmp.execute("query-status");
  EXPECT_EQ(status.value("status", ""), "prelaunch");
  EXPECT_EQ(status.value("running", true), false);
  EXPECT_NE(qmp.hmp("info status").find("paused"), std::string::npos);
  try {
    qmp.execute("pvx-no-such-command");
    ADD_FAILURE() << "an unknown command must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("VM 100 qmp command 'pvx-no-such-command' failed - "), std::string::npos)
        << e.what();
  }

  // Events arrive between replies and are kept until taken.
  EXPECT_THROW(qmp.wait_event("PVX_NO_SUCH_EVENT", 200ms), Error);
  qmp.execute("cont");
  qmp.execute("stop");
  EXPECT_TRUE(qmp.wait_event("RESUME", 5s).is_object());
  qmp.wait_event("STOP", 5s);
  EXPECT_EQ(qmp.execute("query-status").value("status", ""), "paused");
  EXPECT_TRUE(qmp.take_events().empty());

  auto found = find_vm_process(paths);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->pid, info.pid);
  EXPECT_EQ(found->start_time, info.start_time);

  auto stats = process_stats(info.pid);
  ASSERT_TRUE(stats.has_value());
  EXPECT_GT(stats->rss_bytes, 1u << 20);
  EXPECT_GE(stats->cpu_seconds, 0.0);

  // The same pid file under another VMID, or in another run directory, is not that VM's QEMU:
  // the cmdline names `-id 100` and this run directory's QMP socket.
  VmPaths other_vmid(run_dir_, 101);
  write_file_atomic(other_vmid.pid(), std::to_string(info.pid) + "\n");
  EXPECT_FALSE(find_vm_process(other_vmid).has_value());
  fs::path other_dir = run_dir_ / "elsewhere";
  VmPaths other_run_dir(other_dir, 100);
  fs::create_directories(other_run_dir.dir);
  write_file_atomic(other_run_dir.pid(), std::to_string(info.pid) + "\n");
  EXPECT_FALSE(find_vm_process(other_run_dir).has_value());
  fs::remove(other_vmid.pid());

  // A second start of the same VM is refused.
  EXPECT_THROW(spawn(paths), Error);

  // `quit`: the exit watcher reaps the child and runs the callback.
  EXPECT_EQ(exited.count(), 0);
  qmp.execute("quit");
  ASSERT_TRUE(exited.wait(10s)) << "exit callback did not run after quit";
  EXPECT_FALSE(find_vm_process(paths).has_value());
  EXPECT_TRUE(wait_vm_exit(paths, info.pid, 1s));
  EXPECT_FALSE(read_proc_stat(info.pid).has_value()) << "QEMU was not reaped";
  cleanup_vm_files(paths);
  EXPECT_FALSE(fs::exists(paths.pid()));
  EXPECT_FALSE(fs::exists(paths.qmp()));
}

TEST_F(QemuProcessTest, KillStopsTheProcessAndRemovesItsFiles) {
  VmPaths paths(run_dir_, 100);
  ExitFlag exited;
  auto info = spawn(paths, &exited);
  ASSERT_TRUE(find_vm_process(paths).has_value());
  EXPECT_FALSE(wait_vm_exit(paths, info.pid, 100ms));
  kill_vm_process(paths, 5s);
  EXPECT_FALSE(find_vm_process(paths).has_value());
  EXPECT_FALSE(fs::exists(paths.pid()));
  EXPECT_FALSE(fs::exists(paths.qmp()));
  EXPECT_TRUE(exited.wait(10s));
  EXPECT_TRUE(wait_vm_exit(paths, info.pid, 1s));
  // Not running any more: a no-op.
  kill_vm_process(paths, 1s);
}

TEST_F(QemuProcessTest, SpawnFailureQuotesQemusError) {
  VmPaths paths(run_dir_, 100);
  ExitFlag exited;
  try {
    spawn(paths, &exited, {"-pvx-bogus-option"});
    FAIL() << "QEMU with an unknown option must not start";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_EQ(what.rfind("start failed: ", 0), 0u) << what;
    EXPECT_NE(what.find("-pvx-bogus-option"), std::string::npos) << what;
    EXPECT_NE(what.find("invalid option"), std::string::npos) << what;
    EXPECT_EQ(e.status(), 500);
  }
  EXPECT_FALSE(fs::exists(paths.pid()));
  EXPECT_FALSE(find_vm_process(paths).has_value());
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(exited.count(), 0) << "on_exit must not run for a start that failed";

  try {
    spawn_qemu(paths, {"pvx-no-such-qemu"}, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("start failed"), std::string::npos) << e.what();
  }
}

TEST_F(QemuProcessTest, AZombieCountsAsStopped) {
  VmPaths paths(run_dir_, 100);
  fs::create_directories(paths.dir);
  auto argv = qemu_argv(paths);
  const std::string binary = find_program(argv[0]);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  // A QEMU that nobody waits for: once killed it stays a zombie with a pid file.
  pid_t pid = spawn_claimed([&] {
    pid_t child = ::fork();
    if (child == 0) {
      int devnull = ::open("/dev/null", O_RDWR);
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      ::execv(binary.c_str(), args.data());
      ::_exit(127);
    }
    return child;
  });
  ASSERT_GT(pid, 0);
  ClaimedChild claim(pid, std::adopt_lock);
  write_file_atomic(paths.pid(), std::to_string(pid) + "\n");
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!find_vm_process(paths) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(find_vm_process(paths).has_value());

  ::kill(pid, SIGKILL);
  while (read_proc_stat(pid)->state != 'Z' && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(read_proc_stat(pid)->state, 'Z');
  EXPECT_FALSE(find_vm_process(paths).has_value());
  EXPECT_FALSE(process_stats(pid).has_value());
  EXPECT_TRUE(wait_vm_exit(paths, pid, 100ms));
  ExitFlag watched;
  watch_vm_exit(pid, watched.callback());
  EXPECT_TRUE(watched.wait(5s)) << "a zombie has exited";
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
}

TEST(ExitWatcher, WatchesProcessesThatAreNotChildren) {
  // The shell's background sleep is re-parented away from this process when the shell exits.
  auto r = run_command({"sh", "-c", "sleep 0.5 </dev/null >/dev/null 2>&1 & echo $!"});
  auto pid = to_int(trim(r.out));
  ASSERT_TRUE(pid.has_value());
  ExitFlag exited;
  watch_vm_exit(*pid, exited.callback());
  EXPECT_EQ(exited.count(), 0);
  EXPECT_TRUE(exited.wait(10s));

  // Gone already: fires at once.
  ExitFlag gone;
  watch_vm_exit(*pid, gone.callback());
  EXPECT_TRUE(gone.wait(2s));
}

TEST(KvmProbe, AnswersQuicklyWithAReason) {
  const auto start = std::chrono::steady_clock::now();
  auto result = probe_kvm(2s);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 3s);
  if (!fs::exists("/dev/kvm")) {
    EXPECT_FALSE(result.usable);
    EXPECT_EQ(result.reason, "/dev/kvm does not exist");
  } else if (!result.usable) {
    EXPECT_FALSE(result.reason.empty());
  }
}

}  // namespace
}  // namespace pvx::guest::qemu
