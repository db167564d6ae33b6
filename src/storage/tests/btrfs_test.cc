// The btrfs plugin end to end: a real btrfs filesystem on a loop device, driven through the
// plugin with the real btrfs-progs and qemu-img. Needs root; skips itself otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/plugins.h"

namespace fs = std::filesystem;

namespace pvx::storage {
namespace {

// One loop-mounted btrfs filesystem for the whole suite; each test uses its own storage path.
class BtrfsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) {
      skip_reason_ = "needs root (loop device, mount)";
      return;
    }
    for (const char* tool : {"losetup", "mkfs.btrfs", "btrfs", "mount", "umount", "qemu-img"}) {
      if (!command_exists(tool)) {
        skip_reason_ = std::string(tool) + " is not installed";
        return;
      }
    }
    root_ = fs::temp_directory_path() / ("pvx-btrfs-test-" + std::to_string(::getpid()));
    try {
      fs::create_directories(root_ / "mnt");
      {
        std::ofstream image(root_ / "fs.img");
      }
      fs::resize_file(root_ / "fs.img", 512ull << 20);  // sparse
      auto r = run_command({"losetup", "--find", "--show", (root_ / "fs.img").string()});
      loop_ = r.out.substr(0, r.out.find('\n'));
      run_command({"mkfs.btrfs", "-q", "-f", loop_});
      run_command({"mount", "-t", "btrfs", loop_, (root_ / "mnt").string()});
      mounted_ = true;
    } catch (const Error& e) {
      skip_reason_ = std::string("cannot set up a loop-mounted btrfs: ") + e.what();
      TearDownTestSuite();
    }
  }

  static void TearDownTestSuite() {
    if (mounted_) {
      run_command({"umount", (root_ / "mnt").string()}, {.check = false});
      mounted_ = false;
    }
    if (!loop_.empty()) {
      run_command({"losetup", "-d", loop_}, {.check = false});
      loop_.clear();
    }
    if (!root_.empty()) {
      std::error_code ec;
      fs::remove_all(root_, ec);
    }
  }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    plugin_ = plugins::make_btrfs();
    def_ = make_def("store", root_ / "mnt" / ::testing::UnitTest::GetInstance()->current_test_info()->name());
    plugin_->activate(def_);
  }

  StorageDef make_def(const std::string& id, const fs::path& path) {
    StorageDef def;
    def.id = id;
    def.type = "btrfs";
    def.props = {{"path", path.string()}, {"content", "images,rootdir,iso,vztmpl,backup,snippets,import"}};
    def.host = &host_;
    return def;
  }

  fs::path base() const { return def_.path(); }
  std::string path_of(const std::string& volname, const std::string& snap = {}) const {
    return plugin_->path(def_, volname, snap);
  }

  static bool is_subvolume(const fs::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_ino == 256;
  }
  static void write_at(const fs::path& file, std::string_view data, off_t offset = 0) {
    int fd = ::open(file.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << file;
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), offset), static_cast<ssize_t>(data.size()));
    ::close(fd);
  }
  static std::string read_at(const fs::path& file, std::size_t n, off_t offset = 0) {
    std::string buf(n, '\0');
    int fd = ::open(file.c_str(), O_RDONLY);
    if (fd < 0) return "<missing>";
    auto got = ::pread(fd, buf.data(), n, offset);
    ::close(fd);
    buf.resize(got < 0 ? 0 : static_cast<std::size_t>(got));
    return buf;
  }
  static bool writable(const fs::path& file) {
    int fd = ::open(file.c_str(), O_WRONLY);
    if (fd < 0) return false;
    ::close(fd);
    return true;
  }
  std::vector<std::string> volids(std::int64_t vmid = 0, const ContentSet& content = {}) const {
    std::vector<std::string> out;
    for (const auto& v : plugin_->list_volumes(def_, content, vmid)) out.push_back(v.volid);
    return out;
  }

  static inline std::string skip_reason_;
  static inline fs::path root_;
  static inline std::string loop_;
  static inline bool mounted_ = false;
  HostEnv host_;
  std::unique_ptr<StoragePlugin> plugin_;
  StorageDef def_;
};

TEST_F(BtrfsTest, ActivateNeedsBtrfsAndReportsItsSpace) {
  EXPECT_TRUE(fs::is_directory(base() / "images"));
  EXPECT_TRUE(fs::is_directory(base() / "template/iso"));
  auto st = plugin_->status(def_);
  EXPECT_TRUE(st.active);
  EXPECT_GT(st.total, 100ll << 20);
  EXPECT_GT(st.avail, 0);

  // The directory holding the image file is on whatever /tmp is, not this btrfs.
  auto other = make_def("other", root_ / "not-btrfs");
  try {
    plugin_->activate(other);
    FAIL() << "activated a non-btrfs path";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not a btrfs file system"), std::string::npos) << e.what();
  }
}

TEST_F(BtrfsTest, RawDiskIsAFileInItsOwnSubvolume) {
  auto vol = plugin_->alloc_image(def_, 100, "raw", "", 4096);
  EXPECT_EQ(vol, "100/vm-100-disk-0.raw");
  EXPECT_EQ(path_of(vol), (base() / "images/100/vm-100-disk-0/disk.raw").string());
  EXPECT_TRUE(is_subvolume(base() / "images/100/vm-100-disk-0"));
  EXPECT_EQ(fs::file_size(path_of(vol)), 4096u * 1024);
  auto size = plugin_->volume_size(def_, vol);
  EXPECT_EQ(size.size, 4096 * 1024);
  EXPECT_EQ(size.format, "raw");
  EXPECT_LT(size.used, 4096 * 1024);  // sparse

  EXPECT_EQ(plugin_->alloc_image(def_, 100, "raw", "", 1024), "100/vm-100-disk-1.raw");
  EXPECT_EQ(plugin_->alloc_image(def_, 100, "raw", "vm-100-disk-7.raw", 1024), "100/vm-100-disk-7.raw");
  EXPECT_THROW(plugin_->alloc_image(def_, 100, "raw", "vm-100-disk-7.raw", 1024), Error);  // exists
  EXPECT_THROW(plugin_->alloc_image(def_, 100, "raw", "vm-101-disk-0.raw", 1024), Error);  // other owner
  EXPECT_THROW(plugin_->alloc_image(def_, 100, "raw", "vm-100-disk-8.qcow2", 1024), Error);  // wrong suffix
  EXPECT_THROW(plugin_->alloc_image(def_, 100, "qcow2", "", 1024), Error);  // not a btrfs format
}

TEST_F(BtrfsTest, NocowFlagIsSetOnNewRawFiles) {
  def_.props["nocow"] = true;
  auto vol = plugin_->alloc_image(def_, 100, "raw", "", 1024);
  auto r = run_command({"lsattr", path_of(vol)}, {.check = false});
  if (r.exit_code != 0) GTEST_SKIP() << "lsattr unavailable";
  EXPECT_NE(r.out.substr(0, r.out.find(' ')).find('C'), std::string::npos) << r.out;
}

TEST_F(BtrfsTest, ContainerVolumeIsASubvolume) {
  auto vol = plugin_->alloc_image(def_, 200, "subvol", "", 0);
  EXPECT_EQ(vol, "200/subvol-200-disk-0.subvol");
  EXPECT_TRUE(is_subvolume(path_of(vol)));
  EXPECT_EQ(plugin_->volume_size(def_, vol).format, "subvol");
  try {
    plugin_->alloc_image(def_, 200, "subvol", "", 1024);
    FAIL() << "sized subvolume allocated";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
  }
  EXPECT_THROW(plugin_->volume_resize(def_, vol, 1 << 30), Error);
}

TEST_F(BtrfsTest, ListsDisksContainersAndFilesButNoSnapshots) {
  auto raw = plugin_->alloc_image(def_, 100, "raw", "", 2048);
  auto sub = plugin_->alloc_image(def_, 200, "subvol", "", 0);
  plugin_->snapshot_create(def_, raw, "before");
  { std::ofstream(base() / "template/iso/debian.iso") << "iso"; }

  auto all = plugin_->list_volumes(def_, {}, 0);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].volid, "store:100/vm-100-disk-0.raw");
  EXPECT_EQ(all[0].content, "images");
  EXPECT_EQ(all[0].format, "raw");
  EXPECT_EQ(all[0].size, 2048 * 1024);
  EXPECT_EQ(all[0].vmid, 100);
  EXPECT_GT(all[0].ctime, 0);
  EXPECT_EQ(all[1].volid, "store:200/subvol-200-disk-0.subvol");
  EXPECT_EQ(all[1].content, "rootdir");
  EXPECT_EQ(all[2].volid, "store:iso/debian.iso");

  EXPECT_EQ(volids(200), (std::vector<std::string>{"store:200/subvol-200-disk-0.subvol"}));
  EXPECT_EQ(volids(0, {"images"}), (std::vector<std::string>{"store:100/vm-100-disk-0.raw"}));
  EXPECT_EQ(volids(0, {"iso"}), (std::vector<std::string>{"store:iso/debian.iso"}));
  def_.props["content"] = "iso";  // content the storage does not hold is not listed
  EXPECT_EQ(volids(), (std::vector<std::string>{"store:iso/debian.iso"}));
}

TEST_F(BtrfsTest, ResizeGrowsRawOnly) {
  auto vol = plugin_->alloc_image(def_, 100, "raw", "", 1024);
  plugin_->volume_resize(def_, vol, 8 << 20);
  EXPECT_EQ(plugin_->volume_size(def_, vol).size, 8 << 20);
  EXPECT_EQ(fs::file_size(path_of(vol)), 8u << 20);
  EXPECT_THROW(plugin_->volume_resize(def_, vol, 1 << 20), Error);
}

TEST_F(BtrfsTest, RawSnapshotCreateRollbackDelete) {
  auto vol = plugin_->alloc_image(def_, 100, "raw", "", 1024);
  write_at(path_of(vol), "before");
  plugin_->snapshot_create(def_, vol, "snap1");
  const fs::path snapdir = base() / "images/100/vm-100-disk-0@snap1";
  EXPECT_TRUE(is_subvolume(snapdir));
  EXPECT_EQ(path_of(vol, "snap1"), (snapdir / "disk.raw").string());
  EXPECT_FALSE(writable(snapdir / "disk.raw"));  // read-only snapshot
  EXPECT_TRUE(plugin_->has_feature(def_, Feature::Snapshot, vol));

  write_at(path_of(vol), "after!");
  EXPECT_EQ(read_at(path_of(vol), 6), "after!");
  plugin_->snapshot_rollback(def_, vol, "snap1");
  EXPECT_EQ(read_at(path_of(vol), 6), "before");
  EXPECT_TRUE(writable(path_of(vol)));
  EXPECT_TRUE(is_subvolume(snapdir));  // the snapshot stays
  // No rollback leftovers.
  for (const auto& e : fs::directory_iterator(base() / "images/100"))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();

  plugin_->snapshot_delete(def_, vol, "snap1");
  EXPECT_FALSE(fs::exists(snapdir));
  EXPECT_THROW(plugin_->snapshot_delete(def_, vol, "snap1"), Error);
  EXPECT_THROW(plugin_->snapshot_create(def_, vol, "bad/name"), Error);
}

TEST_F(BtrfsTest, SubvolSnapshotRollback) {
  auto vol = plugin_->alloc_image(def_, 200, "subvol", "", 0);
  const fs::path dir = path_of(vol);
  { std::ofstream(dir / "etc-hostname") << "ct200"; }
  plugin_->snapshot_create(def_, vol, "clean");
  EXPECT_EQ(path_of(vol, "clean"), dir.string() + "@clean");
  fs::remove(dir / "etc-hostname");
  { std::ofstream(dir / "junk") << "x"; }
  plugin_->snapshot_rollback(def_, vol, "clean");
  EXPECT_EQ(read_at(dir / "etc-hostname", 5), "ct200");
  EXPECT_FALSE(fs::exists(dir / "junk"));
}

TEST_F(BtrfsTest, TemplateBaseAndLinkedClone) {
  auto vol = plugin_->alloc_image(def_, 100, "raw", "", 1024);
  write_at(path_of(vol), "golden");
  EXPECT_TRUE(plugin_->has_feature(def_, Feature::Template, vol));
  auto base_vol = plugin_->create_base(def_, vol);
  EXPECT_EQ(base_vol, "100/base-100-disk-0.raw");
  EXPECT_FALSE(fs::exists(base() / "images/100/vm-100-disk-0"));
  EXPECT_FALSE(writable(path_of(base_vol)));  // the base subvolume is read-only
  EXPECT_THROW(plugin_->create_base(def_, base_vol), Error);
  EXPECT_TRUE(plugin_->has_feature(def_, Feature::Clone, base_vol));

  auto clone = plugin_->clone_image(def_, base_vol, 101);
  EXPECT_EQ(clone, "101/vm-101-disk-0.raw");  // an independent subvolume, no "<base>/<clone>" name
  EXPECT_EQ(read_at(path_of(clone), 6), "golden");
  EXPECT_TRUE(writable(path_of(clone)));
  write_at(path_of(clone), "mine!!");
  EXPECT_EQ(read_at(path_of(base_vol), 6), "golden");

  // Freeing the base leaves the clone intact: btrfs snapshots do not depend on their origin.
  plugin_->free_image(def_, base_vol);
  EXPECT_FALSE(fs::exists(base() / "images/100"));
  EXPECT_EQ(read_at(path_of(clone), 6), "mine!!");

  auto sub = plugin_->alloc_image(def_, 300, "subvol", "", 0);
  auto sub_base = plugin_->create_base(def_, sub);
  EXPECT_EQ(sub_base, sub);  // PVE keeps a container volume's name and makes it read-only
  auto sub_clone = plugin_->clone_image(def_, sub_base, 301);
  EXPECT_EQ(sub_clone, "301/subvol-301-disk-0.subvol");
  EXPECT_TRUE(is_subvolume(path_of(sub_clone)));
}

TEST_F(BtrfsTest, CloneFromSnapshotAndCopy) {
  auto vol = plugin_->alloc_image(def_, 100, "raw", "", 1024);
  write_at(path_of(vol), "snap-state");
  plugin_->snapshot_create(def_, vol, "s1");
  write_at(path_of(vol), "live-state");
  auto from_snap = plugin_->clone_image(def_, vol, 102, "s1");
  EXPECT_EQ(read_at(path_of(from_snap), 10), "snap-state");
  auto copy = plugin_->copy_image(def_, vol, 103, "");
  EXPECT_EQ(copy, "103/vm-103-disk-0.raw");
  EXPECT_EQ(read_at(path_of(copy), 10), "live-state");
  auto named = plugin_->copy_image(def_, vol, 103, "vm-103-disk-5.raw");
  EXPECT_EQ(named, "103/vm-103-disk-5.raw");
}

TEST_F(BtrfsTest, FreeRemovesSnapshotsAndTheEmptyGuestDirectory) {
  auto vol = plugin_->alloc_image(def_, 100, "raw", "", 1024);
  plugin_->snapshot_create(def_, vol, "a");
  plugin_->snapshot_create(def_, vol, "b");
  auto other = plugin_->alloc_image(def_, 100, "raw", "", 1024);
  plugin_->free_image(def_, vol);
  EXPECT_FALSE(fs::exists(base() / "images/100/vm-100-disk-0"));
  EXPECT_FALSE(fs::exists(base() / "images/100/vm-100-disk-0@a"));
  EXPECT_FALSE(fs::exists(base() / "images/100/vm-100-disk-0@b"));
  EXPECT_TRUE(fs::exists(path_of(other)));
  plugin_->free_image(def_, other);
  EXPECT_FALSE(fs::exists(base() / "images/100"));
  try {
    plugin_->free_image(def_, other);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 404);
  }
}

TEST_F(BtrfsTest, SendReceiveWithSnapshots) {
  auto vol = plugin_->alloc_image(def_, 100, "raw", "", 1024);
  write_at(path_of(vol), "first");
  plugin_->snapshot_create(def_, vol, "old");
  write_at(path_of(vol), "second");
  plugin_->snapshot_create(def_, vol, "repl");
  EXPECT_EQ(plugin_->export_formats(def_, vol).front(), "btrfs");

  const fs::path stream = root_ / "send.stream";
  {
    int fd = ::open(stream.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    EXPECT_THROW(plugin_->volume_export(def_, vol, "btrfs", fd, {}), Error);  // needs a snapshot
    plugin_->volume_export(def_, vol, "btrfs", fd, {.snapshot = "repl", .with_snapshots = true});
    ::close(fd);
  }
  auto target = make_def("target", base().string() + "-target");
  plugin_->activate(target);
  int fd = ::open(stream.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto imported = plugin_->volume_import(target, vol, "btrfs", fd, {.snapshot = "repl"});
  ::close(fd);
  EXPECT_EQ(imported, vol);
  EXPECT_EQ(read_at(plugin_->path(target, vol), 6), "second");
  EXPECT_TRUE(writable(plugin_->path(target, vol)));
  EXPECT_EQ(read_at(plugin_->path(target, vol, "old"), 5), "first");
  EXPECT_EQ(read_at(plugin_->path(target, vol, "repl"), 6), "second");
  EXPECT_FALSE(fs::exists(target.path() / "images/100/recv.100.tmp"));
  std::vector<std::string> listed;
  for (const auto& v : plugin_->list_volumes(target, {}, 0)) listed.push_back(v.volid);
  EXPECT_EQ(listed, (std::vector<std::string>{"target:100/vm-100-disk-0.raw"}));

  // Receiving again needs a new name.
  fd = ::open(stream.c_str(), O_RDONLY);
  EXPECT_THROW(plugin_->volume_import(target, vol, "btrfs", fd, {.snapshot = "repl"}), Error);
  ::close(fd);
  fd = ::open(stream.c_str(), O_RDONLY);
  EXPECT_EQ(plugin_->volume_import(target, vol, "btrfs", fd, {.snapshot = "repl", .allow_rename = true}),
            "100/vm-100-disk-1.raw");
  ::close(fd);
}

TEST_F(BtrfsTest, RawPlusSizeRoundTrip) {
  auto vol = plugin_->alloc_image(def_, 100, "raw", "", 2048);
  write_at(path_of(vol), "head");
  write_at(path_of(vol), "tail", (2048 * 1024) - 4);
  plugin_->snapshot_create(def_, vol, "s");
  write_at(path_of(vol), "HEAD");
  const fs::path stream = root_ / "raw.stream";
  int fd = ::open(stream.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
  plugin_->volume_export(def_, vol, "raw+size", fd, {.snapshot = "s"});
  ::close(fd);
  EXPECT_EQ(fs::file_size(stream), 8u + 2048 * 1024);

  fd = ::open(stream.c_str(), O_RDONLY);
  auto imported = plugin_->volume_import(def_, "104/vm-104-disk-0.raw", "raw+size", fd, {});
  ::close(fd);
  EXPECT_EQ(imported, "104/vm-104-disk-0.raw");
  EXPECT_EQ(plugin_->volume_size(def_, imported).size, 2048 * 1024);
  EXPECT_EQ(read_at(path_of(imported), 4), "head");  // the snapshot's state
  EXPECT_EQ(read_at(path_of(imported), 4, (2048 * 1024) - 4), "tail");
  EXPECT_TRUE(is_subvolume(fs::path(path_of(imported)).parent_path()));
}

TEST_F(BtrfsTest, TarPlusSizeRoundTripOfAContainerVolume) {
  auto vol = plugin_->alloc_image(def_, 200, "subvol", "", 0);
  { std::ofstream(fs::path(path_of(vol)) / "hostname") << "ct200"; }
  const fs::path stream = root_ / "tar.stream";
  int fd = ::open(stream.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
  plugin_->volume_export(def_, vol, "tar+size", fd, {});
  ::close(fd);
  fd = ::open(stream.c_str(), O_RDONLY);
  auto imported = plugin_->volume_import(def_, vol, "tar+size", fd, {.allow_rename = true});
  ::close(fd);
  EXPECT_EQ(imported, "200/subvol-200-disk-1.subvol");
  EXPECT_TRUE(is_subvolume(path_of(imported)));
  EXPECT_EQ(read_at(fs::path(path_of(imported)) / "hostname", 5), "ct200");
}

}  // namespace
}  // namespace pvx::storage
