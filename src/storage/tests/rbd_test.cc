// rbd: rbd/ceph argv with the cluster connection, QEMU and krbd paths, JSON parsing
// (constructed from the documented output of Ceph 17: no cluster here), naming and features,
// and the keyring file written from the sensitive `keyring` property.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/plugins.h"
#include "storage/plugins/rbd_commands.h"

namespace fs = std::filesystem;

namespace pvx::storage {
namespace {

using Argv = std::vector<std::string>;

std::string rbd_data(const std::string& name) {
  std::ifstream in(std::string(PVX_STORAGE_TESTDATA) + "/rbd/" + name);
  EXPECT_TRUE(in) << name;
  std::string line, out;
  while (std::getline(in, line)) {
    if (!line.starts_with("#")) out += line + "\n";
  }
  return out;
}

StorageDef rbd_def(Json props, const HostEnv* host = nullptr) {
  StorageDef def;
  def.id = "ceph1";
  def.type = "rbd";
  def.props = std::move(props);
  def.host = host;
  return def;
}

rbd::Connection external() {
  rbd::Connection c;
  c.pool = "vms";
  c.ns = "tenant1";
  c.mons = rbd::split_monhost("10.0.0.1 10.0.0.2:6789;[fd00::3]:3300");
  c.user = "pve";
  c.keyring = "/var/lib/pvx/priv/ceph/ceph1.keyring";
  return c;
}

TEST(RbdCommands, ArgvCarriesTheConnection) {
  EXPECT_EQ(rbd::split_monhost("10.0.0.1 10.0.0.2:6789;[fd00::3]:3300"),
            (Argv{"10.0.0.1", "10.0.0.2:6789", "[fd00::3]:3300"}));
  EXPECT_EQ(rbd::rbd_argv(external(), {"ls", "-l", "--format", "json"}),
            (Argv{"rbd", "-p", "vms", "--namespace", "tenant1", "-m", "10.0.0.1,10.0.0.2:6789,[fd00::3]:3300",
                  "--auth_supported", "cephx", "-n", "client.pve", "--keyring",
                  "/var/lib/pvx/priv/ceph/ceph1.keyring", "ls", "-l", "--format", "json"}));
  rbd::Connection local;
  EXPECT_EQ(rbd::rbd_argv(local, {"rm", "vm-1-disk-0"}), (Argv{"rbd", "-p", "rbd", "-n", "client.admin", "rm", "vm-1-disk-0"}));
  EXPECT_EQ(rbd::ceph_argv(local, {"df", "--format", "json"}), (Argv{"ceph", "-n", "client.admin", "df", "--format", "json"}));
  EXPECT_EQ(rbd::image_spec(external(), "vm-1-disk-0"), "vms/tenant1/vm-1-disk-0");
}

TEST(RbdCommands, QemuAndKernelPaths) {
  EXPECT_EQ(rbd::qemu_path(external(), "vm-100-disk-0", ""),
            "rbd:vms/tenant1/vm-100-disk-0:mon_host=10.0.0.1;10.0.0.2\\:6789;[fd00\\:\\:3]\\:3300"
            ":auth_supported=cephx:id=pve:keyring=/var/lib/pvx/priv/ceph/ceph1.keyring");
  rbd::Connection local;
  EXPECT_EQ(rbd::qemu_path(local, "vm-100-disk-0", "snap1"), "rbd:rbd/vm-100-disk-0@snap1");
  EXPECT_EQ(rbd::krbd_path(external(), "vm-100-disk-0", ""), "/dev/rbd/vms/tenant1/vm-100-disk-0");
}

TEST(RbdParse, Listing) {
  auto images = rbd::parse_ls(rbd_data("ls.json"));
  ASSERT_EQ(images.size(), 4u);  // the snapshot entry and "scratch" are skipped
  EXPECT_EQ(images[0].name, "vm-100-disk-0");
  EXPECT_EQ(images[0].size, 34359738368);
  EXPECT_EQ(images[0].vmid, 100);
  EXPECT_EQ(images[2].parent, "base-101-disk-0@__base__");
  EXPECT_EQ(images[3].parent, "vm-100-disk-0@snap1");
  EXPECT_TRUE(rbd::parse_ls("").empty());
  EXPECT_THROW(rbd::parse_ls("rbd: error opening pool"), Error);
}

TEST(RbdParse, SnapshotsInfoDuAndDf) {
  auto snaps = rbd::parse_snap_ls(rbd_data("snap_ls.json"));
  ASSERT_EQ(snaps.size(), 2u);
  EXPECT_TRUE(snaps[0].is_protected);
  EXPECT_FALSE(snaps[1].is_protected);
  auto info = rbd::parse_info(rbd_data("info.json"));
  EXPECT_EQ(info.size, 8589934592);
  EXPECT_EQ(info.format, 2);
  EXPECT_EQ(info.parent, "base-101-disk-0@__base__");
  EXPECT_FALSE(info.is_protected);
  EXPECT_EQ(rbd::parse_du(rbd_data("du.json"), "vm-100-disk-0"), 5368709120);  // not the snapshot's
  EXPECT_FALSE(rbd::parse_du(rbd_data("du.json"), "vm-9-disk-0").has_value());
  auto usage = rbd::parse_ceph_df(rbd_data("ceph_df.json"), "rbd");
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->used, 150000000000);
  EXPECT_EQ(usage->avail, 790000000000);
  EXPECT_EQ(rbd::parse_ceph_df(rbd_data("ceph_df.json"), "ecdata")->used, 60000000000);  // no "stored"
  EXPECT_FALSE(rbd::parse_ceph_df(rbd_data("ceph_df.json"), "nope"));
}

TEST(RbdPlugin, NamingPathsAndFeatures) {
  auto plugin = plugins::make_rbd();
  EXPECT_EQ(plugin->info().sensitive, (std::vector<std::string>{"keyring"}));
  EXPECT_TRUE(plugin->info().shared);
  auto def = rbd_def({{"pool", "vms"}});
  auto v = plugin->parse_volname(def, "base-101-disk-0/vm-102-disk-0");
  EXPECT_EQ(v.name, "vm-102-disk-0");
  EXPECT_EQ(v.base_name, "base-101-disk-0");
  EXPECT_EQ(v.base_vmid, 101);
  EXPECT_TRUE(plugin->parse_volname(def, "base-101-disk-0").is_base);
  for (const char* bad : {"vm-1-disk-0/vm-2-disk-0", "subvol-1-disk-0", "vm-1-disk-0@s", "-1-disk-0", "vm-1-a:b"}) {
    EXPECT_THROW(plugin->parse_volname(def, bad), Error) << bad;
  }
  EXPECT_EQ(plugin->path(def, "base-101-disk-0/vm-102-disk-0"), "rbd:vms/vm-102-disk-0");
  auto krbd = rbd_def({{"pool", "vms"}, {"krbd", true}});
  EXPECT_EQ(plugin->path(krbd, "vm-102-disk-0", "s1"), "/dev/rbd/vms/vm-102-disk-0@s1");
  EXPECT_THROW(plugin->path(def, "vm-102-disk-0", "s1:conf=/x"), Error);
  EXPECT_TRUE(plugin->has_feature(def, Feature::Clone, "vm-1-disk-0", "s"));
  EXPECT_TRUE(plugin->has_feature(def, Feature::Clone, "base-1-disk-0"));
  EXPECT_FALSE(plugin->has_feature(def, Feature::Clone, "vm-1-disk-0"));
  EXPECT_FALSE(plugin->has_feature(def, Feature::Template, "base-1-disk-0"));
  EXPECT_THROW(plugin->alloc_image(def, 1, "qcow2", "", 1024), Error);
  EXPECT_THROW(plugin->alloc_image(def, 1, "raw", "vm-2-disk-0", 1024), Error);
}

TEST(RbdPlugin, KeyringFileFromSecret) {
  HostEnv host;
  host.data_dir = fs::temp_directory_path() / ("pvx-rbd-" + std::to_string(::getpid()));
  auto def = rbd_def({{"pool", "vms"}, {"monhost", "10.0.0.1"}, {"username", "pve"}}, &host);
  def.secrets["keyring"] = "[client.pve]\n\tkey = AQBzYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eQ==\n";
  auto plugin = plugins::make_rbd();
  auto path = plugin->path(def, "vm-100-disk-0");
  auto file = host.data_dir / "priv/ceph/ceph1.keyring";
  EXPECT_EQ(path, "rbd:vms/vm-100-disk-0:mon_host=10.0.0.1:auth_supported=cephx:id=pve:keyring=" + file.string());
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, def.secrets["keyring"]);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  plugin->on_delete(def);
  EXPECT_FALSE(fs::exists(file));
  fs::remove_all(host.data_dir);
}

TEST(RbdPlugin, MissingToolIsNamed) {
  if (command_exists("rbd")) GTEST_SKIP() << "rbd is installed";
  auto plugin = plugins::make_rbd();
  try {
    plugin->list_volumes(rbd_def({{"pool", "vms"}}), {}, 0);
    FAIL() << "listing without rbd succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ceph-common"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pvx::storage
