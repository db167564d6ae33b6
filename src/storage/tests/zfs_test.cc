// zfspool: zfs command argv and output parsing (constructed from the documented format of
// OpenZFS 2.1: this host has no ZFS), volume naming with base/clone layouts, paths and features.
#include <gtest/gtest.h>

#include <fstream>

#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/plugins.h"
#include "storage/plugins/zfspool_commands.h"
#include "storage/scan.h"

namespace pvx::storage {
namespace {

using Argv = std::vector<std::string>;

std::string zfs_data(const std::string& name) {
  std::ifstream in(std::string(PVX_STORAGE_TESTDATA) + "/zfs/" + name);
  EXPECT_TRUE(in) << name;
  std::string line, out;
  while (std::getline(in, line)) {
    if (!line.starts_with("#")) out += line + "\n";
  }
  return out;
}

StorageDef zfs_def(Json props) {
  StorageDef def;
  def.id = "tank";
  def.type = "zfspool";
  def.props = std::move(props);
  return def;
}

TEST(ZfsCommands, ParsesChildrenOfThePool) {
  auto children = zfs::parse_children(zfs_data("children.txt"), "rpool/data");
  ASSERT_EQ(children.size(), 8u);  // the pool itself and "scratch" are not guest volumes
  EXPECT_EQ(children[0].name, "vm-100-disk-0");
  EXPECT_EQ(children[0].format, "raw");
  EXPECT_EQ(children[0].size, 34359738368);
  EXPECT_EQ(children[0].vmid, 100);
  EXPECT_EQ(children[2].origin, "base-101-disk-0@__base__");
  EXPECT_EQ(children[3].format, "subvol");
  EXPECT_EQ(children[3].size, 8589934592);
  EXPECT_EQ(children[4].size, 0);  // refquota 0 = unlimited
  EXPECT_EQ(children[5].name, "basevol-105-disk-0");
  EXPECT_TRUE(zfs::parse_children(zfs_data("children.txt"), "rpool").empty());
}

TEST(ZfsCommands, Argv) {
  EXPECT_EQ(zfs::zvol_size_kib(1), 1024);
  EXPECT_EQ(zfs::zvol_size_kib(2048), 2048);
  EXPECT_EQ(zfs::create_zvol_argv("rpool/data", "vm-1-disk-0", 1000, true, "16k"),
            (Argv{"zfs", "create", "-s", "-b", "16k", "-V", "1024k", "rpool/data/vm-1-disk-0"}));
  EXPECT_EQ(zfs::create_zvol_argv("tank", "vm-1-disk-0", 4096, false, ""),
            (Argv{"zfs", "create", "-V", "4096k", "tank/vm-1-disk-0"}));
  EXPECT_EQ(zfs::create_subvol_argv("tank", "subvol-1-disk-0", 0),
            (Argv{"zfs", "create", "-o", "acltype=posixacl", "-o", "xattr=sa", "-o", "refquota=none",
                  "tank/subvol-1-disk-0"}));
  EXPECT_EQ(zfs::clone_argv("tank/basevol-1-disk-0@__base__", "tank/subvol-2-disk-0", "8589934592"),
            (Argv{"zfs", "clone", "tank/basevol-1-disk-0@__base__", "tank/subvol-2-disk-0", "-o",
                  "refquota=8589934592"}));
  EXPECT_EQ(zfs::send_argv("tank/vm-1-disk-0", "rep2", "rep1", true),
            (Argv{"zfs", "send", "-Rpv", "-I", "rep1", "--", "tank/vm-1-disk-0@rep2"}));
  EXPECT_EQ(zfs::send_argv("tank/vm-1-disk-0", "rep1", "", false),
            (Argv{"zfs", "send", "-Rpv", "--", "tank/vm-1-disk-0@rep1"}));
  EXPECT_EQ(zfs::recv_argv("tank/vm-1-disk-0"), (Argv{"zfs", "recv", "-F", "-x", "encryption", "--", "tank/vm-1-disk-0"}));
  EXPECT_EQ(zfs::get_argv("available,used", "tank"), (Argv{"zfs", "get", "-o", "value", "-Hp", "available,used", "tank"}));
}

TEST(ZfsCommands, SnapshotsAndStats) {
  EXPECT_EQ(zfs::parse_snapshot_names(zfs_data("snapshots.txt")), (std::vector<std::string>{"first", "snap1", "last"}));
  auto st = zfs::parse_pool_stats("123456\n7890\n");
  EXPECT_EQ(st.avail, 123456);
  EXPECT_EQ(st.used, 7890);
}

TEST(ZfsScan, PoolsWithoutContainerVolumes) {
  auto pools = scan::parse_zfs_pools(zfs_data("pools.txt"));
  std::vector<std::string> names;
  for (auto& p : pools) names.push_back(p.pool);
  EXPECT_EQ(names, (std::vector<std::string>{"rpool", "rpool/ROOT", "rpool/data", "tank"}));
}

TEST(ZfsPlugin, VolumeNames) {
  auto plugin = plugins::make_zfspool();
  auto def = zfs_def({{"pool", "rpool/data"}});
  auto v = plugin->parse_volname(def, "base-100-disk-0/vm-101-disk-0");
  EXPECT_EQ(v.name, "vm-101-disk-0");
  EXPECT_EQ(v.vmid, 101);
  EXPECT_EQ(v.base_name, "base-100-disk-0");
  EXPECT_EQ(v.base_vmid, 100);
  EXPECT_FALSE(v.is_base);
  EXPECT_EQ(v.format, "raw");
  auto sub = plugin->parse_volname(def, "basevol-105-disk-0");
  EXPECT_TRUE(sub.is_base);
  EXPECT_EQ(sub.format, "subvol");
  for (const char* bad : {"vm-100-disk-0/vm-101-disk-0", "vm-1-disk-0@x", "../vm-1-disk-0", "tank/vm-1-disk-0",
                          "iso/x.iso", "vm-1-disk-0 x"}) {
    EXPECT_THROW(plugin->parse_volname(def, bad), Error) << bad;
  }
}

TEST(ZfsPlugin, Paths) {
  auto plugin = plugins::make_zfspool();
  auto def = zfs_def({{"pool", "rpool/data"}});
  EXPECT_EQ(plugin->path(def, "vm-100-disk-0"), "/dev/zvol/rpool/data/vm-100-disk-0");
  EXPECT_EQ(plugin->path(def, "base-100-disk-0/vm-101-disk-0"), "/dev/zvol/rpool/data/vm-101-disk-0");
  EXPECT_EQ(plugin->path(def, "subvol-103-disk-0"), "/rpool/data/subvol-103-disk-0");
  EXPECT_EQ(plugin->path(def, "subvol-103-disk-0", "snap1"), "/rpool/data/subvol-103-disk-0@snap1");
  auto mounted = zfs_def({{"pool", "rpool/data"}, {"mountpoint", "/srv/zfs"}});
  EXPECT_EQ(plugin->path(mounted, "subvol-103-disk-0"), "/srv/zfs/subvol-103-disk-0");
  EXPECT_THROW(plugin->path(def, "vm-100-disk-0", "a@b"), Error);
}

TEST(ZfsPlugin, FeaturesAndFormats) {
  auto plugin = plugins::make_zfspool();
  auto def = zfs_def({{"pool", "tank"}});
  EXPECT_EQ(plugin->info().formats, (std::vector<std::string>{"raw", "subvol"}));
  EXPECT_TRUE(plugin->has_feature(def, Feature::Snapshot, "vm-1-disk-0"));
  EXPECT_TRUE(plugin->has_feature(def, Feature::Snapshot, "vm-1-disk-0", "s"));
  EXPECT_FALSE(plugin->has_feature(def, Feature::Clone, "vm-1-disk-0"));
  EXPECT_TRUE(plugin->has_feature(def, Feature::Clone, "base-1-disk-0"));
  EXPECT_FALSE(plugin->has_feature(def, Feature::Clone, "base-1-disk-0", "s"));
  EXPECT_TRUE(plugin->has_feature(def, Feature::Template, "subvol-1-disk-0"));
  EXPECT_EQ(plugin->export_formats(def, "vm-1-disk-0"), (std::vector<std::string>{"zfs"}));
  // Export needs a snapshot; checked before any zfs call.
  EXPECT_THROW(plugin->volume_export(def, "vm-1-disk-0", "zfs", -1, {}), Error);
  EXPECT_THROW(plugin->volume_export(def, "vm-1-disk-0", "raw+size", -1, {.snapshot = "s"}), Error);
  EXPECT_THROW(plugin->alloc_image(def, 1, "qcow2", "", 1024), Error);
  EXPECT_THROW(plugin->alloc_image(def, 1, "raw", "vm-2-disk-0", 1024), Error);
  EXPECT_THROW(plugin->alloc_image(def, 1, "subvol", "vm-1-disk-0", 1024), Error);
}

TEST(ZfsPlugin, StatusInactiveWithoutZfs) {
  if (command_exists("zfs")) GTEST_SKIP() << "zfs is installed";
  auto plugin = plugins::make_zfspool();
  EXPECT_FALSE(plugin->status(zfs_def({{"pool", "tank"}})).active);
}

}  // namespace
}  // namespace pvx::storage
