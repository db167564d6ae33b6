// swtpm with a real state file, and a real QEMU (TCG, paused) that attaches a TPM to it.
#include "guest/qemu/swtpm.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "base/error.h"
#include "base/process.h"
#include "guest/qemu/qemu_process.h"
#include "guest/qemu/qmp.h"

namespace pvx::guest::qemu {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class SwtpmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"swtpm", "swtpm_setup", "qemu-system-x86_64"}) {
      if (!command_exists(tool)) GTEST_SKIP() << tool << " is not installed";
    }
    char tmpl[] = "/tmp/pvx-swtpm-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    run_dir_ = tmpl;
    // A raw tpmstate volume as PVE allocates it: 4 MiB of zeros.
    state_ = run_dir_ / "vm-100-disk-0.raw";
    std::ofstream(state_).close();
    fs::resize_file(state_, 4 << 20);
  }
  void TearDown() override {
    if (run_dir_.empty()) return;
    VmPaths paths(run_dir_, 100);
    try {
      kill_vm_process(paths, 2s);
    } catch (const std::exception&) {
    }
    stop_swtpm(paths);
    fs::remove_all(run_dir_);
  }

  fs::path run_dir_;
  fs::path state_;
};

TEST_F(SwtpmTest, QemuSeesTheEmulatedTpmAndSwtpmEndsWithQemu) {
  VmPaths paths(run_dir_, 100);
  SwtpmStart start;
  start.state_path = state_.string();
  start.version = "v2.0";
  int pid = start_swtpm(paths, start);
  EXPECT_GT(pid, 0);
  EXPECT_EQ(find_swtpm_process(paths), pid);
  EXPECT_TRUE(fs::exists(paths.swtpm()));
  // swtpm_setup wrote a TPM 2.0 state into the volume.
  std::ifstream in(state_, std::ios::binary);
  std::string head(64, '\0');
  in.read(head.data(), 64);
  EXPECT_NE(head, std::string(64, '\0')) << "the state volume is still empty";

  SpawnOptions options;
  options.log_file = run_dir_ / "qemu.log";
  spawn_qemu(paths,
             {"qemu-system-x86_64", "-name", "vm100", "-accel", "tcg", "-machine", "pc", "-nodefaults", "-display",
              "none", "-S", "-chardev", "socket,id=qmp,path=" + paths.qmp().string() + ",server=on,wait=off",
              "-mon", "chardev=qmp,mode=control", "-chardev", "socket,id=tpmchar,path=" + paths.swtpm().string(),
              "-tpmdev", "emulator,id=tpmdev,chardev=tpmchar", "-device", "tpm-tis,tpmdev=tpmdev"},
             options);
  QmpClient qmp(paths.qmp(), 100);
  auto tpms = qmp.execute("query-tpm");
  ASSERT_TRUE(tpms.is_array()) << tpms.dump();
  ASSERT_EQ(tpms.size(), 1u) << tpms.dump();
  EXPECT_EQ(tpms[0].value("id", ""), "tpmdev");
  EXPECT_EQ(tpms[0].value("model", ""), "tpm-tis");
  EXPECT_EQ(tpms[0]["options"].value("type", ""), "emulator") << tpms.dump();

  // --terminate: swtpm ends when QEMU disconnects.
  qmp.execute("quit");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (find_swtpm_process(paths) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_FALSE(find_swtpm_process(paths).has_value()) << "swtpm outlived QEMU";

  // A second start keeps the state (--not-overwrite) and stop_swtpm stops it.
  const auto before = fs::last_write_time(state_);
  start.initialize = true;
  int again = start_swtpm(paths, start);
  EXPECT_GT(again, 0);
  (void)before;
  stop_swtpm(paths);
  EXPECT_FALSE(find_swtpm_process(paths).has_value());
  EXPECT_FALSE(fs::exists(paths.swtpm_pid()));
  EXPECT_FALSE(fs::exists(paths.swtpm()));
}

TEST_F(SwtpmTest, ABadStatePathIsAClearError) {
  VmPaths paths(run_dir_, 100);
  SwtpmStart start;
  start.state_path = (run_dir_ / "missing-dir" / "state.raw").string();
  try {
    start_swtpm(paths, start);
    FAIL() << "swtpm must not start without a usable state";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_TRUE(what.rfind("swtpm_setup failed: ", 0) == 0 || what.rfind("failed to start swtpm: ", 0) == 0) << what;
  }
  EXPECT_FALSE(find_swtpm_process(paths).has_value());
  EXPECT_THROW(start_swtpm(paths, SwtpmStart{.state_path = state_.string(), .version = "v3"}), Error);
}

}  // namespace
}  // namespace pvx::guest::qemu
