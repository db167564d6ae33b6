// iscsi and iscsidirect: iscsiadm output parsing (constructed: no iscsi_tcp module here), the
// LUN walk over a fake sysfs tree, libiscsi output (recorded against tgt), naming and paths, and
// a live listing through iscsi-ls against a tgtd target on 127.0.0.1 (needs root and the
// Debian packages tgt and libiscsi-bin; skipped otherwise).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/iscsi_commands.h"
#include "storage/plugins/plugins.h"
#include "storage/scan.h"

extern char** environ;
namespace fs = std::filesystem;

namespace pvx::storage {
namespace {

std::string iscsi_data(const std::string& name) {
  std::ifstream in(std::string(PVX_STORAGE_TESTDATA) + "/iscsi/" + name);
  EXPECT_TRUE(in) << name;
  std::string line, out;
  while (std::getline(in, line)) {
    if (!line.starts_with("#")) out += line + "\n";
  }
  return out;
}

StorageDef iscsi_def(const std::string& type, Json props) {
  StorageDef def;
  def.id = "san";
  def.type = type;
  def.props = std::move(props);
  return def;
}

constexpr const char* kSanTarget = "iqn.2003-01.org.linux-iscsi.san.x8664:sn.0123456789ab";

TEST(IscsiParse, DiscoveryGroupsPortalsPerTarget) {
  auto targets = scan::parse_iscsi_discovery(iscsi_data("discovery.txt"));
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(targets[0].target, kSanTarget);
  EXPECT_EQ(targets[0].portal, "10.0.0.5:3260,10.0.1.5:3260,[fd00::5]:3260");
  EXPECT_EQ(targets[1].target, "iqn.2024-01.org.example:backup");
  EXPECT_EQ(targets[1].portal, "10.0.0.5:3260");
}

TEST(IscsiParse, Sessions) {
  auto sessions = iscsi::parse_sessions(iscsi_data("session.txt"));
  ASSERT_EQ(sessions.size(), 2u);
  EXPECT_EQ(sessions[0].id, "1");
  EXPECT_EQ(sessions[0].portal, "10.0.0.5:3260");
  EXPECT_EQ(sessions[0].target, kSanTarget);
  EXPECT_EQ(sessions[1].portal, "[fd00::5]:3260");
  EXPECT_TRUE(iscsi::parse_sessions("iscsiadm: No active sessions.\n").empty());
}

TEST(IscsiParse, RecordedIscsiLs) {
  auto luns = iscsi::parse_iscsi_ls(iscsi_data("iscsi-ls.recorded.txt"));
  ASSERT_EQ(luns.size(), 5u);
  EXPECT_EQ(luns[0].target, "iqn.2024-01.org.pvx:second");
  EXPECT_EQ(luns[0].type, "STORAGE_ARRAY_CONTROLLER");
  EXPECT_EQ(luns[1].lun, 1);
  EXPECT_EQ(luns[1].type, "DIRECT_ACCESS");
  EXPECT_EQ(luns[1].size, 1023LL << 20);  // iscsi-ls prints the last LBA's offset, rounded down
  EXPECT_EQ(luns[4].target, "iqn.2024-01.org.pvx:test");
  EXPECT_EQ(luns[4].size, 63LL << 20);
  EXPECT_EQ(iscsi::parse_readcapacity16(iscsi_data("readcapacity16.recorded.txt")), 1073741824);
  EXPECT_THROW(iscsi::parse_readcapacity16("garbage"), Error);
}

TEST(IscsiParse, Portals) {
  for (const char* ok : {"10.0.0.5", "10.0.0.5:3260", "[fd00::5]:3260", "san.example.com"}) {
    EXPECT_TRUE(iscsi::is_portal(ok)) << ok;
  }
  for (const char* bad : {"", "-o x", "a b", "host/x", "10.0.0.5:"}) EXPECT_FALSE(iscsi::is_portal(bad)) << bad;
}

// A sysfs tree as the kernel builds it for one session with a disk LUN and a controller LUN.
class FakeSysfs : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("pvx-sysfs-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    auto sys = root_ / "sys";
    write(sys / "class/iscsi_session/session3/targetname", std::string(kSanTarget) + "\n");
    fs::create_directories(sys / "class/iscsi_session/session3/device/target5:0:0");
    write(sys / "bus/scsi/devices/5:0:0:1/type", "0\n");
    fs::create_directories(sys / "bus/scsi/devices/5:0:0:1/block/sdc");
    write(sys / "bus/scsi/devices/5:0:0:0/type", "12\n");  // controller, not a disk
    write(sys / "bus/scsi/devices/6:0:0:1/type", "0\n");   // another host
    fs::create_directories(sys / "bus/scsi/devices/6:0:0:1/block/sdd");
    write(sys / "block/sdc/size", "2097152\n");
    fs::create_directories(sys / "block/sdc/holders");
    write(sys / "block/sdd/size", "100\n");
    auto byid = root_ / "by-id";
    fs::create_directories(byid);
    fs::create_symlink("../../sdc", byid / "scsi-36001405abcdef");
    fs::create_symlink("../../sdc1", byid / "scsi-36001405abcdef-part1");
    fs::create_symlink("../../sdc", byid / "wwn-0x6001405abcdef");
    fs::create_symlink("../../sdd", byid / "scsi-other");
  }
  void TearDown() override { fs::remove_all(root_); }
  static void write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }
  fs::path root_;
};

TEST_F(FakeSysfs, ListsDiskLunsOfLoggedInTargets) {
  auto devices = iscsi::device_list(root_ / "sys", root_ / "by-id");
  ASSERT_EQ(devices.size(), 1u);
  const auto& luns = devices.at(kSanTarget);
  ASSERT_EQ(luns.size(), 1u);
  EXPECT_EQ(luns[0].volname, "0.0.1.scsi-36001405abcdef");
  EXPECT_EQ(luns[0].size, 1073741824);
  EXPECT_EQ(luns[0].lun, 1);
  EXPECT_TRUE(iscsi::device_list(root_ / "missing", root_ / "by-id").empty());
}

TEST(IscsiPlugin, NamingAndCapabilities) {
  auto plugin = plugins::make_iscsi();
  EXPECT_TRUE(plugin->info().select_existing);
  EXPECT_TRUE(plugin->info().shared);
  auto def = iscsi_def("iscsi", {{"portal", "10.0.0.5"}, {"target", kSanTarget}});
  auto v = plugin->parse_volname(def, "0.0.1.scsi-36001405abcdef");
  EXPECT_EQ(v.name, "scsi-36001405abcdef");
  EXPECT_EQ(v.vmid, 0);
  EXPECT_EQ(plugin->path(def, "0.0.1.scsi-36001405abcdef"), "/dev/disk/by-id/scsi-36001405abcdef");
  for (const char* bad : {"0.0.1.../x", "0.0.1..", "lun1", "0.0.scsi-x", "0.0.1.a/b"}) {
    EXPECT_THROW(plugin->parse_volname(def, bad), Error) << bad;
  }
  EXPECT_THROW(plugin->path(def, "0.0.1.scsi-x", "snap"), Error);
  EXPECT_THROW(plugin->alloc_image(def, 100, "raw", "", 1024), Error);
  EXPECT_THROW(plugin->free_image(def, "0.0.1.scsi-x"), Error);
  EXPECT_TRUE(plugin->has_feature(def, Feature::Copy, "0.0.1.scsi-x"));
  EXPECT_FALSE(plugin->has_feature(def, Feature::Snapshot, "0.0.1.scsi-x"));
  EXPECT_TRUE(plugin->list_volumes(def, {}, 100).empty());  // LUNs belong to no guest
  auto bad_portal = iscsi_def("iscsi", {{"portal", "-oProxyCommand=x"}, {"target", kSanTarget}});
  EXPECT_THROW(plugin->on_add(bad_portal), Error);
}

TEST(IscsiDirectPlugin, NamingAndPaths) {
  auto plugin = plugins::make_iscsidirect();
  auto def = iscsi_def("iscsidirect", {{"portal", "10.0.0.5:3260"}, {"target", kSanTarget}});
  EXPECT_EQ(plugin->path(def, "lun3"), std::string("iscsi://10.0.0.5:3260/") + kSanTarget + "/3");
  EXPECT_THROW(plugin->parse_volname(def, "lun"), Error);
  EXPECT_THROW(plugin->parse_volname(def, "0.0.1.scsi-x"), Error);
  EXPECT_THROW(plugin->path(def, "lun1", "s"), Error);
  EXPECT_TRUE(plugin->status(def).active);
}

// tgtd with two file-backed LUNs on its own port and control socket, for the life of a test.
class TgtdTarget : public ::testing::Test {
 protected:
  static constexpr int kPort = 13260;
  static constexpr const char* kControl = "7";
  static constexpr const char* kTarget = "iqn.2024-01.org.pvx:unit";

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "tgtd needs root";
    for (const char* tool : {"tgtd", "tgtadm", "iscsi-ls", "iscsi-readcapacity16"}) {
      if (!command_exists(tool)) GTEST_SKIP() << tool << " not installed (packages tgt, libiscsi-bin)";
    }
    dir_ = fs::temp_directory_path() / ("pvx-tgt-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    for (auto [name, size] : {std::pair{"a.img", 64 << 20}, std::pair{"b.img", 16 << 20}}) {
      std::ofstream(dir_ / name).close();
      fs::resize_file(dir_ / name, size);
    }
    std::vector<std::string> args = {"tgtd", "-f", "-C", kControl, "--iscsi",
                                     "portal=127.0.0.1:" + std::to_string(kPort)};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(&pid_, "tgtd", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) GTEST_SKIP() << "could not start tgtd";
    CommandOptions quiet;
    quiet.check = false;
    bool up = false;
    for (int i = 0; i < 50 && !up; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      up = run_command(tgtadm({"--op", "show", "--mode", "target"}), quiet).exit_code == 0;
    }
    if (!up) GTEST_SKIP() << "tgtd did not come up";
    run_command(tgtadm({"--op", "new", "--mode", "target", "--tid", "1", "-T", kTarget}));
    run_command(tgtadm({"--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b",
                        (dir_ / "a.img").string()}));
    run_command(tgtadm({"--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "2", "-b",
                        (dir_ / "b.img").string()}));
    run_command(tgtadm({"--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"}));
  }

  void TearDown() override {
    if (pid_ > 0) {
      // tgtd refuses a plain shutdown while targets exist; it holds no state worth keeping.
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  static std::vector<std::string> tgtadm(std::vector<std::string> args) {
    std::vector<std::string> argv = {"tgtadm", "-C", kControl, "--lld", "iscsi"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  pid_t pid_ = -1;
  fs::path dir_;
};

TEST_F(TgtdTarget, IscsiDirectListsAndSizesLuns) {
  auto plugin = plugins::make_iscsidirect();
  auto def = iscsi_def("iscsidirect", {{"portal", "127.0.0.1:" + std::to_string(kPort)}, {"target", kTarget}});
  plugin->activate(def);
  auto vols = plugin->list_volumes(def, {}, 0);
  ASSERT_EQ(vols.size(), 2u);  // the controller LUN 0 is not a volume
  EXPECT_EQ(vols[0].volid, "san:lun1");
  EXPECT_EQ(vols[1].volid, "san:lun2");
  EXPECT_EQ(vols[0].format, "raw");
  EXPECT_GT(vols[0].size, 60 << 20);
  EXPECT_EQ(plugin->volume_size(def, "lun1").size, 64 << 20);
  EXPECT_EQ(plugin->volume_size(def, "lun2").size, 16 << 20);
  auto other = iscsi_def("iscsidirect", {{"portal", "127.0.0.1:" + std::to_string(kPort)}, {"target", "iqn.x:none"}});
  EXPECT_TRUE(plugin->list_volumes(other, {}, 0).empty());
}

TEST(IscsiDirectLive, UnreachablePortalFails) {
  if (!command_exists("iscsi-ls")) GTEST_SKIP() << "iscsi-ls not installed (package libiscsi-bin)";
  auto plugin = plugins::make_iscsidirect();
  // Port 1 on loopback refuses at once.
  auto def = iscsi_def("iscsidirect", {{"portal", "127.0.0.1:1"}, {"target", kSanTarget}});
  EXPECT_THROW(plugin->list_volumes(def, {}, 0), Error);
}

}  // namespace
}  // namespace pvx::storage
