// lvm and lvmthin: report parsing (vgs output recorded here; lvs output constructed, since
// this host has no device-mapper and so no LVs), tool argv, volume naming and features, and a
// live VG on a loop device for status and the scan when running as root.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/block_util.h"
#include "storage/plugins/lvm_commands.h"
#include "storage/plugins/plugins.h"
#include "storage/scan.h"

namespace fs = std::filesystem;

namespace pvx::storage {
namespace {

using Argv = std::vector<std::string>;

// A data file without its '#' header lines.
std::string lvm_data(const std::string& name) {
  std::ifstream in(std::string(PVX_STORAGE_TESTDATA) + "/lvm/" + name);
  EXPECT_TRUE(in) << name;
  std::string line, out;
  while (std::getline(in, line)) {
    if (!line.starts_with("#")) out += line + "\n";
  }
  return out;
}

StorageDef lvm_def(const std::string& type, Json props) {
  StorageDef def;
  def.id = "vgstore";
  def.type = type;
  def.props = std::move(props);
  return def;
}

TEST(LvmReport, ParsesRecordedVgs) {
  auto vgs = lvm::parse_vgs(lvm_data("vgs.recorded.txt"));
  ASSERT_EQ(vgs.size(), 2u);
  EXPECT_EQ(vgs[0].name, "data2");
  EXPECT_EQ(vgs[0].size, 121634816);
  EXPECT_EQ(vgs[0].free, 121634816);
  EXPECT_EQ(vgs[1].name, "pvxtestvg");
  EXPECT_EQ(vgs[1].lv_count, 0);
  auto scanned = scan::parse_vgs(lvm_data("vgs.recorded.txt"));
  ASSERT_EQ(scanned.size(), 2u);
  EXPECT_EQ(scanned[1].vg, "pvxtestvg");
  EXPECT_EQ(scanned[1].size, 205520896);
}

TEST(LvmReport, ParsesLvsWithThinPoolUsage) {
  auto lvs = lvm::parse_lvs(lvm_data("lvs.txt"));
  ASSERT_EQ(lvs.size(), 10u);
  const auto& pool = lvs[0];
  EXPECT_EQ(pool.name, "data");
  EXPECT_EQ(pool.type(), 't');
  EXPECT_TRUE(pool.active());
  EXPECT_EQ(pool.used, 34359738368 / 8);  // 12.50 %
  EXPECT_EQ(pool.metadata_used, 32212254);  // 3.00 % of 1 GiB, truncated
  const auto& thin = lvs[2];
  EXPECT_EQ(thin.name, "vm-100-disk-0");
  EXPECT_EQ(thin.type(), 'V');
  EXPECT_EQ(thin.pool_lv, "data");
  EXPECT_TRUE(thin.has_tag("pve-vm-100"));
  EXPECT_EQ(thin.ctime, 1700000100);
  EXPECT_FALSE(lvs[3].active());
  EXPECT_EQ(lvs[8].tags, (std::vector<std::string>{"pve-vm-202", "backup"}));
}

TEST(LvmReport, ThinPoolScanFiltersByVg) {
  auto pools = scan::parse_thinpools(lvm_data("lvs.txt"), "pve");
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(pools[0].lv, "data");
  EXPECT_TRUE(scan::parse_thinpools(lvm_data("lvs.txt"), "big").empty());
}

TEST(LvmCommands, Argv) {
  EXPECT_EQ(lvm::vgs_argv(), (Argv{"vgs", "--separator", ":", "--noheadings", "--units", "b", "--unbuffered",
                                   "--nosuffix", "--options", "vg_name,vg_size,vg_free,lv_count"}));
  EXPECT_EQ(lvm::lvcreate_argv("pve", "vm-100-disk-0", 4194304, {"pve-vm-100"}),
            (Argv{"lvcreate", "-aly", "-Wy", "--yes", "--size", "4194304k", "--name", "vm-100-disk-0",
                  "--setautoactivation", "n", "--addtag", "pve-vm-100", "pve"}));
  EXPECT_EQ(lvm::lvremove_argv("pve", "vm-1-disk-0"), (Argv{"lvremove", "-f", "pve/vm-1-disk-0"}));
  EXPECT_EQ(lvm::lvextend_argv("/dev/pve/vm-1-disk-0", 2048), (Argv{"lvextend", "-L", "2048k", "/dev/pve/vm-1-disk-0"}));
  EXPECT_EQ(lvm::thin_create_argv("pve", "data", "vm-1-disk-0", 1024),
            (Argv{"lvcreate", "-aly", "-V", "1024k", "--name", "vm-1-disk-0", "--thinpool", "pve/data"}));
  EXPECT_EQ(lvm::thin_snapshot_argv("pve", "vm-1-disk-0", "s1"),
            (Argv{"lvcreate", "-n", "snap_vm-1-disk-0_s1", "-pr", "-s", "pve/vm-1-disk-0"}));
  EXPECT_EQ(lvm::thin_clone_argv("pve/base-1-disk-0", "vm-2-disk-0"),
            (Argv{"lvcreate", "-n", "vm-2-disk-0", "-prw", "-kn", "-s", "pve/base-1-disk-0"}));
  EXPECT_EQ(lvm::thin_rollback_argv("pve", "vm-1-disk-0", "s1"),
            (Argv{"lvcreate", "-kn", "-n", "vm-1-disk-0", "-s", "pve/snap_vm-1-disk-0_s1"}));
  auto lvs = lvm::lvs_argv("pve");
  EXPECT_EQ(lvs.back(), "pve");
  EXPECT_EQ(lvs[9], "report/time_format=\"%s\"");
}

TEST(LvmNaming, NextDiskNameSharesNumbersWithBase) {
  std::vector<std::string> names = {"vm-100-disk-0", "base-100-disk-1", "vm-100-disk-3", "vm-1000-disk-2",
                                    "snap_vm-100-disk-2_x"};
  EXPECT_EQ(block::next_disk_name(names, 100, "vm", {"vm", "base"}), "vm-100-disk-2");
  EXPECT_EQ(block::next_disk_name(names, 1000, "vm", {"vm", "base"}), "vm-1000-disk-0");
  EXPECT_EQ(block::next_disk_name({}, 7, "subvol", {"subvol", "basevol"}), "subvol-7-disk-0");
}

TEST(LvmPlugin, InfoAndNaming) {
  auto plugin = plugins::make_lvm();
  const auto& info = plugin->info();
  EXPECT_EQ(info.type, "lvm");
  EXPECT_EQ(info.default_content, ContentSet{"images"});
  EXPECT_FALSE(info.select_existing);
  auto vgname = std::find_if(info.options.begin(), info.options.end(), [](auto& o) { return o.first == "vgname"; });
  ASSERT_NE(vgname, info.options.end());
  EXPECT_EQ(vgname->second, PluginInfo::Option::FixedRequired);

  auto def = lvm_def("lvm", {{"vgname", "big"}});
  auto v = plugin->parse_volname(def, "vm-200-disk-0");
  EXPECT_EQ(v.vtype, "images");
  EXPECT_EQ(v.vmid, 200);
  EXPECT_EQ(v.format, "raw");
  EXPECT_FALSE(v.is_base);
  EXPECT_EQ(plugin->path(def, "vm-200-disk-0"), "/dev/big/vm-200-disk-0");
  for (const char* bad : {"base-1-disk-0", "vm-1-disk-0/x", "../vm-1-disk-0", "vm-x-disk-0", "-vm-1", ""}) {
    EXPECT_THROW(plugin->parse_volname(def, bad), Error) << bad;
  }
  EXPECT_THROW(plugin->path(def, "vm-200-disk-0", "snap"), Error);
  EXPECT_TRUE(plugin->has_feature(def, Feature::Copy, "vm-200-disk-0"));
  EXPECT_TRUE(plugin->has_feature(def, Feature::Rename, "vm-200-disk-0"));
  EXPECT_FALSE(plugin->has_feature(def, Feature::Snapshot, "vm-200-disk-0"));
  EXPECT_FALSE(plugin->has_feature(def, Feature::Clone, "vm-200-disk-0"));
  EXPECT_EQ(plugin->export_formats(def, "vm-200-disk-0"), (std::vector<std::string>{"raw+size"}));
  try {
    plugin->alloc_image(def, 100, "qcow2", "", 1024);
    FAIL() << "qcow2 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_TRUE(e.params().count("format"));
  }
}

TEST(LvmThinPlugin, NamingAndFeatures) {
  auto plugin = plugins::make_lvmthin();
  EXPECT_EQ(plugin->info().default_content, (ContentSet{"images", "rootdir"}));
  auto def = lvm_def("lvmthin", {{"vgname", "pve"}, {"thinpool", "data"}});
  auto base = plugin->parse_volname(def, "base-101-disk-0");
  EXPECT_TRUE(base.is_base);
  EXPECT_EQ(base.vmid, 101);
  EXPECT_EQ(plugin->path(def, "vm-100-disk-0", "before"), "/dev/pve/snap_vm-100-disk-0_before");
  EXPECT_THROW(plugin->path(def, "vm-100-disk-0", "-rf"), Error);
  EXPECT_THROW(plugin->path(def, "vm-100-disk-0", "a b"), Error);
  EXPECT_THROW(plugin->parse_volname(def, "snap_vm-100-disk-0_before"), Error);

  EXPECT_TRUE(plugin->has_feature(def, Feature::Snapshot, "vm-100-disk-0"));
  EXPECT_FALSE(plugin->has_feature(def, Feature::Snapshot, "base-101-disk-0"));
  EXPECT_TRUE(plugin->has_feature(def, Feature::Clone, "base-101-disk-0"));
  EXPECT_TRUE(plugin->has_feature(def, Feature::Clone, "vm-100-disk-0", "before"));
  EXPECT_FALSE(plugin->has_feature(def, Feature::Clone, "vm-100-disk-0"));
  EXPECT_TRUE(plugin->has_feature(def, Feature::Template, "vm-100-disk-0"));
  EXPECT_TRUE(plugin->has_feature(def, Feature::SparseInit, "base-101-disk-0"));
}

TEST(LvmPlugin, ToolFailuresAreErrors) {
  // Without the VG (or without LVM) allocation must fail with an Error, never succeed silently.
  auto plugin = plugins::make_lvm();
  auto def = lvm_def("lvm", {{"vgname", "pvx-no-such-vg-" + std::to_string(::getpid())}});
  EXPECT_THROW(plugin->alloc_image(def, 100, "raw", "", 1024), Error);
  EXPECT_FALSE(plugin->status(def).active);
}

// A real VG on a loop device: vgcreate and vgs work without device-mapper, lvcreate does not.
class LvmLiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (loop device, pvcreate)";
    for (const char* tool : {"losetup", "pvcreate", "vgcreate", "vgremove", "vgs"}) {
      if (!command_exists(tool)) GTEST_SKIP() << tool << " not installed (package lvm2)";
    }
    dir_ = fs::temp_directory_path() / ("pvx-lvm-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    auto image = dir_ / "pv.img";
    std::ofstream(image).close();
    fs::resize_file(image, 64 << 20);
    CommandOptions opts;
    opts.check = false;
    auto res = run_command({"losetup", "-f", "--show", image.string()}, opts);
    if (res.exit_code != 0) GTEST_SKIP() << "no loop device: " << res.err;
    loop_ = std::string(trim(res.out));
    vg_ = "pvxtest" + std::to_string(::getpid());
    opts.env = {"LVM_SUPPRESS_FD_WARNINGS=1"};
    if (run_command({"pvcreate", "-q", loop_}, opts).exit_code != 0 ||
        run_command({"vgcreate", "-q", vg_, loop_}, opts).exit_code != 0) {
      GTEST_SKIP() << "vgcreate failed on " << loop_;
    }
  }
  void TearDown() override {
    CommandOptions opts;
    opts.check = false;
    opts.env = {"LVM_SUPPRESS_FD_WARNINGS=1"};
    if (!vg_.empty()) run_command({"vgremove", "-q", "-f", vg_}, opts);
    if (!loop_.empty()) {
      run_command({"pvremove", "-q", loop_}, opts);
      run_command({"losetup", "-d", loop_}, opts);
    }
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \n");
    auto e = s.find_last_not_of(" \n");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
  }
  fs::path dir_;
  std::string loop_, vg_;
};

TEST_F(LvmLiveTest, StatusAndScanSeeTheVolumeGroup) {
  auto plugin = plugins::make_lvm();
  auto def = lvm_def("lvm", {{"vgname", vg_}});
  plugin->activate(def);
  auto st = plugin->status(def);
  EXPECT_TRUE(st.active);
  EXPECT_GT(st.total, 50 << 20);
  EXPECT_EQ(st.used, 0);
  EXPECT_EQ(st.avail, st.total);
  auto vgs = scan::lvm();
  EXPECT_TRUE(std::any_of(vgs.begin(), vgs.end(), [&](const auto& v) { return v.vg == vg_ && v.size == st.total; }));
  EXPECT_TRUE(plugin->list_volumes(def, {}, 0).empty());
  EXPECT_TRUE(scan::lvmthin(vg_).empty());
  // Larger than the VG: refused before lvcreate runs.
  EXPECT_THROW(plugin->alloc_image(def, 100, "raw", "", 1 << 20), Error);
}

}  // namespace
}  // namespace pvx::storage
