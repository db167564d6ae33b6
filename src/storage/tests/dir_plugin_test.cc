// The dir plugin against a real directory and the real qemu-img.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "base/error.h"
#include "base/process.h"
#include "storage/plugin_registry.h"

namespace fs = std::filesystem;

namespace pvx::storage {
namespace {

class DirPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!command_exists("qemu-img")) GTEST_SKIP() << "qemu-img is not installed";
    root_ = fs::temp_directory_path() / ("pvx-dir-test-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    host_.node = "test";
    host_.data_dir = root_;
    def_.id = "store";
    def_.type = "dir";
    def_.props = {{"path", (root_ / "store").string()},
                  {"content", "images,rootdir,iso,vztmpl,backup,snippets,import"}};
    def_.host = &host_;
    plugin_ = &plugin_for("dir");
    plugin_->activate(def_);
  }
  void TearDown() override {
    if (!root_.empty()) {
      std::error_code ec;
      // Bases are made read-only; the directory tree is still removable by its owner.
      fs::remove_all(root_, ec);
    }
  }
  void touch(const fs::path& p, std::size_t bytes = 10) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << std::string(bytes, 'x');
  }

  fs::path root_;
  HostEnv host_;
  StorageDef def_;
  const StoragePlugin* plugin_ = nullptr;
};

TEST_F(DirPluginTest, ActivateCreatesPveLayout) {
  for (const char* d : {"images", "template/iso", "template/cache", "dump", "snippets", "import"}) {
    EXPECT_TRUE(fs::is_directory(root_ / "store" / d)) << d;
  }
  auto st = plugin_->status(def_);
  EXPECT_TRUE(st.active);
  EXPECT_GT(st.total, 0);
  EXPECT_GE(st.total, st.avail);
}

TEST_F(DirPluginTest, AllocatesListsResizesAndFreesImages) {
  auto v0 = plugin_->alloc_image(def_, 100, "qcow2", "", 1024);
  auto v1 = plugin_->alloc_image(def_, 100, "raw", "", 2048);
  EXPECT_EQ(v0, "100/vm-100-disk-0.qcow2");
  EXPECT_EQ(v1, "100/vm-100-disk-1.raw");
  EXPECT_TRUE(fs::exists(root_ / "store/images/100/vm-100-disk-0.qcow2"));
  EXPECT_EQ(plugin_->volume_size(def_, v0).size, 1024 * 1024);

  auto list = plugin_->list_volumes(def_, {"images"}, 0);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].volid, "store:100/vm-100-disk-0.qcow2");
  EXPECT_EQ(list[0].size, 1024 * 1024);  // read from the qcow2 header
  EXPECT_EQ(list[0].format, "qcow2");
  EXPECT_EQ(list[0].vmid, 100);
  EXPECT_EQ(list[1].size, 2048 * 1024);

  plugin_->volume_resize(def_, v0, 4 << 20);
  EXPECT_EQ(plugin_->volume_size(def_, v0).size, 4 << 20);
  EXPECT_THROW(plugin_->volume_resize(def_, v0, 1 << 20), Error);  // no shrinking

  // An explicit name that exists is refused; a wrong extension names the parameter.
  EXPECT_THROW(plugin_->alloc_image(def_, 100, "qcow2", "vm-100-disk-0.qcow2", 1024), Error);
  try {
    plugin_->alloc_image(def_, 100, "qcow2", "vm-100-disk-5.raw", 1024);
    FAIL();
  } catch (const Error& e) {
    EXPECT_TRUE(e.params().count("filename"));
  }
  EXPECT_THROW(plugin_->alloc_image(def_, 100, "qcow2", "vm-101-disk-5.qcow2", 1024), Error);

  plugin_->free_image(def_, v0);
  plugin_->free_image(def_, v1);
  EXPECT_FALSE(fs::exists(root_ / "store/images/100"));
  EXPECT_THROW(plugin_->free_image(def_, v0), Error);
}

TEST_F(DirPluginTest, ParallelAllocationsNeverShareAName) {
  std::vector<std::thread> threads;
  std::vector<std::string> names(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { names[i] = plugin_->alloc_image(def_, 200, "raw", "", 64); });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), 8u);
}

TEST_F(DirPluginTest, SnapshotsTemplatesAndLinkedClones) {
  auto v = plugin_->alloc_image(def_, 100, "qcow2", "", 1024);
  EXPECT_TRUE(plugin_->has_feature(def_, Feature::Snapshot, v));
  plugin_->snapshot_create(def_, v, "before");
  EXPECT_THROW(plugin_->create_base(def_, v), Error);  // a base must not carry snapshots
  plugin_->snapshot_rollback(def_, v, "before");
  plugin_->snapshot_delete(def_, v, "before");

  auto base = plugin_->create_base(def_, v);
  EXPECT_EQ(base, "100/base-100-disk-0.qcow2");
  EXPECT_TRUE(plugin_->has_feature(def_, Feature::Clone, base));
  auto clone = plugin_->clone_image(def_, base, 101);
  EXPECT_EQ(clone, "100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2");
  auto parsed = plugin_->parse_volname(def_, clone);
  EXPECT_EQ(parsed.vmid, 101);
  EXPECT_EQ(parsed.base_vmid, 100);

  auto list = plugin_->list_volumes(def_, {}, 101);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].volid, "store:" + clone);
  EXPECT_EQ(list[0].parent, "store:100/base-100-disk-0.qcow2");

  auto raw = plugin_->alloc_image(def_, 102, "raw", "", 1024);
  EXPECT_FALSE(plugin_->has_feature(def_, Feature::Snapshot, raw));
  EXPECT_THROW(plugin_->snapshot_create(def_, raw, "x"), Error);
  auto copy = plugin_->copy_image(def_, raw, 103, "");
  EXPECT_EQ(copy, "103/vm-103-disk-0.raw");
  EXPECT_EQ(plugin_->volume_size(def_, copy).size, 1024 * 1024);
}

TEST_F(DirPluginTest, ContainerSubvolumesAreDirectories) {
  auto v = plugin_->alloc_image(def_, 300, "subvol", "", 0);
  EXPECT_EQ(v, "300/subvol-300-disk-0.subvol");
  EXPECT_TRUE(fs::is_directory(plugin_->path(def_, v)));
  auto list = plugin_->list_volumes(def_, {"rootdir"}, 300);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].content, "rootdir");
  EXPECT_THROW(plugin_->alloc_image(def_, 300, "subvol", "", 1024), Error);
  plugin_->free_image(def_, v);
  EXPECT_FALSE(fs::exists(root_ / "store/images/300"));
}

TEST_F(DirPluginTest, ListsFilesNotesAndProtection) {
  touch(root_ / "store/template/iso/debian.iso", 100);
  touch(root_ / "store/template/iso/readme.txt");
  touch(root_ / "store/template/cache/debian-12.tar.zst");
  touch(root_ / "store/snippets/user.yaml");
  const std::string backup = "vzdump-qemu-100-2024_03_05-10_20_30.vma.zst";
  touch(root_ / "store/dump" / backup);
  touch(root_ / "store/dump/vzdump-qemu-100-2024_03_05-10_20_30.log");

  auto all = plugin_->list_volumes(def_, {}, 0);
  std::vector<std::string> ids;
  for (const auto& v : all) ids.push_back(v.volid);
  EXPECT_EQ(ids, (std::vector<std::string>{"store:backup/" + backup, "store:iso/debian.iso", "store:snippets/user.yaml",
                                           "store:vztmpl/debian-12.tar.zst"}));
  EXPECT_EQ(all[1].size, 100);
  EXPECT_EQ(all[0].vmid, 100);

  const std::string vol = "backup/" + backup;
  plugin_->set_notes(def_, vol, "nightly\nsecond line");
  EXPECT_EQ(plugin_->get_notes(def_, vol), "nightly\nsecond line");
  plugin_->set_protected(def_, vol, true);
  auto backups = plugin_->list_volumes(def_, {"backup"}, 100);
  ASSERT_EQ(backups.size(), 1u);
  EXPECT_EQ(backups[0].notes, "nightly");
  EXPECT_TRUE(backups[0].is_protected);
  EXPECT_THROW(plugin_->free_image(def_, vol), Error);  // protected
  plugin_->set_protected(def_, vol, false);
  plugin_->free_image(def_, vol);
  EXPECT_FALSE(fs::exists(root_ / "store/dump" / backup));
  EXPECT_FALSE(fs::exists(root_ / "store/dump/vzdump-qemu-100-2024_03_05-10_20_30.log"));
  EXPECT_THROW(plugin_->set_notes(def_, "iso/debian.iso", "x"), Error);  // notes are for backups
}

TEST_F(DirPluginTest, RefusesBadVolumeNames) {
  for (const char* bad : {"iso/../../etc/passwd", "100/../../x.raw", "100/vm-101-disk-0.raw", "iso/x.txt",
                          "100/vm-100-disk-0.exe", "images/100", "snippets/.hidden"}) {
    EXPECT_THROW(plugin_->parse_volname(def_, bad), Error) << bad;
  }
}

TEST_F(DirPluginTest, ExportAndImportRoundTrip) {
  auto v = plugin_->alloc_image(def_, 100, "raw", "", 64);
  {
    std::fstream f(plugin_->path(def_, v), std::ios::in | std::ios::out | std::ios::binary);
    f << "hello-export";
  }
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  std::thread writer([&] {
    plugin_->volume_export(def_, v, "raw+size", p[1], {});
    ::close(p[1]);
  });
  auto imported = plugin_->volume_import(def_, "104/vm-104-disk-0.raw", "raw+size", p[0], {});
  writer.join();
  ::close(p[0]);
  EXPECT_EQ(imported, "104/vm-104-disk-0.raw");
  std::ifstream in(plugin_->path(def_, imported), std::ios::binary);
  std::string head(12, '\0');
  in.read(head.data(), 12);
  EXPECT_EQ(head, "hello-export");
  EXPECT_EQ(plugin_->volume_size(def_, imported).size, 64 * 1024);
}

TEST_F(DirPluginTest, IsMountpointRefusesAPlainDirectory) {
  def_.props["is_mountpoint"] = "yes";
  EXPECT_THROW(plugin_->activate(def_), Error);
}

}  // namespace
}  // namespace pvx::storage
