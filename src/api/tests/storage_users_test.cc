// Which guests use a storage or a volume: the checks behind refusing to remove a storage or
// delete a disk that a guest still references.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "api/handlers/storage_common.h"
#include "cluster/sqlite_store.h"

namespace pvx::api::handlers {
namespace {

TEST(StorageUsers, FindsGuestsByVolumeReferences) {
  auto dir = std::filesystem::temp_directory_path() / ("pvx-storage-users-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    cluster::SqliteStore store(dir / "config.db", "n1");
    store.write("nodes/n1/qemu-server/100.conf", "memory: 512\nscsi0: tank:vm-100-disk-0,size=8G\n");
    store.write("nodes/n1/qemu-server/101.conf", "ide2: none,media=cdrom\nvirtio0: file=tank:vm-101-disk-0\n");
    store.write("nodes/n2/lxc/102.conf", "rootfs: local:102/vm-102-disk-0.raw,size=8G\n");
    store.write("nodes/n1/qemu-server/103.conf", "description: uses tank: no, just text\nscsi0: tankx:vm-103-disk-0\n");
    EXPECT_EQ(guests_using_storage(store, "tank"), (std::vector<std::int64_t>{100, 101}));
    EXPECT_EQ(guests_using_storage(store, "local"), (std::vector<std::int64_t>{102}));
    EXPECT_TRUE(guests_using_storage(store, "nfs").empty());
    EXPECT_EQ(guests_using_volume(store, "tank:vm-100-disk-0"), (std::vector<std::int64_t>{100}));
    EXPECT_EQ(guests_using_volume(store, "tank:vm-101-disk-0"), (std::vector<std::int64_t>{101}));
    EXPECT_TRUE(guests_using_volume(store, "tank:vm-100-disk").empty());  // a prefix is another volume
  }
  std::filesystem::remove_all(dir);
}

TEST(StorageUsers, FullVolumeIds) {
  EXPECT_EQ(full_volid("local", "iso/x.iso"), "local:iso/x.iso");
  EXPECT_EQ(full_volid("local", "local:iso/x.iso"), "local:iso/x.iso");
  EXPECT_THROW(full_volid("local", "other:iso/x.iso"), Error);
}

}  // namespace
}  // namespace pvx::api::handlers
