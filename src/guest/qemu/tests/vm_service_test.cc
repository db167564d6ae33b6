// VmService on a real SQLite store and a real `dir` storage (qemu-img makes the disks): create
// with all PVE fills in, a failed create leaving nothing, the config lock, destroy's refusals,
// the listing cache, and the summary figures of a config.
#include "guest/qemu/vm_service.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <regex>

#include "base/error.h"
#include "base/process.h"
#include "cluster/sqlite_store.h"
#include "guest/qemu/vm_summary.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::guest::qemu {
namespace {

namespace fs = std::filesystem;

class VmServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string t = (fs::temp_directory_path() / "pvx-vms-XXXXXX").string();
    dir_ = ::mkdtemp(t.data());
    store_ = std::make_unique<cluster::SqliteStore>(dir_ / "config.db", "node1");
    storage_ = std::make_unique<storage::StorageService>(*store_, storage::HostEnv{.node = "node1", .data_dir = dir_});
    storage_->initialize();
    tasks_ = std::make_unique<tasks::TaskRunner>(dir_ / "tasks", "node1");
    vms_ = std::make_unique<VmService>(*store_, *storage_, nullptr,
                                       VmServiceOptions{.node = "node1", .run_dir = dir_ / "run", .data_dir = dir_,
                                                        .force_tcg = true});
    vms_->start_up();
  }
  void TearDown() override {
    vms_.reset();
    tasks_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Runs fn as a task and returns its exit status.
  std::string in_task(const std::function<void(tasks::TaskContext&)>& fn) {
    auto upid = tasks_->spawn("test", "", "root@pam", fn).str();
    EXPECT_TRUE(tasks_->wait(upid, std::chrono::seconds(60)));
    return tasks_->status(upid)->exitstatus;
  }

  std::string create(std::int64_t vmid, std::map<std::string, std::string> values) {
    vms_->reserve_vmid(vmid);
    GuestConfig c;
    c.main.values = std::move(values);
    return in_task([&](tasks::TaskContext& t) { vms_->create_vm(vmid, c, t, {}); });
  }

  fs::path image(const std::string& name) {
    return storage_->get("local").path() / "images" / name.substr(3, name.find('-', 3) - 3) / name;
  }

  fs::path dir_;
  std::unique_ptr<cluster::SqliteStore> store_;
  std::unique_ptr<storage::StorageService> storage_;
  std::unique_ptr<tasks::TaskRunner> tasks_;
  std::unique_ptr<VmService> vms_;
};

TEST_F(VmServiceTest, CreateAllocatesDisksAndFillsInWhatPveGenerates) {
  if (!command_exists("qemu-img")) GTEST_SKIP() << "qemu-img missing";
  ASSERT_EQ(create(100, {{"scsi0", "local:1,format=qcow2"},
                         {"ide2", "none,media=cdrom"},
                         {"net0", "virtio,bridge=vmbr0"},
                         {"efidisk0", "local:0,efitype=4m"},
                         {"memory", "512"}}),
            "OK");
  auto c = vms_->load_or_throw(100).config.main;
  EXPECT_EQ(c.get_or("scsi0", ""), "local:100/vm-100-disk-0.qcow2,size=1G");
  EXPECT_TRUE(fs::exists(image("vm-100-disk-0.qcow2")));
  // The EFI vars disk holds the OVMF template, sized as the template.
  if (fs::exists(vms_->host().ovmf_vars)) {
    EXPECT_EQ(c.get_or("efidisk0", ""), "local:100/vm-100-disk-1.raw,efitype=4m,size=528K");
    EXPECT_EQ(fs::file_size(image("vm-100-disk-1.raw")), fs::file_size(vms_->host().ovmf_vars));
  }
  EXPECT_TRUE(std::regex_match(c.get_or("net0", ""), std::regex("virtio=BC:24:11(:[0-9A-F]{2}){3},bridge=vmbr0")));
  EXPECT_TRUE(std::regex_match(c.get_or("smbios1", ""), std::regex("uuid=[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  EXPECT_TRUE(std::regex_match(c.get_or("vmgenid", ""), std::regex("[0-9a-f-]{36}")));
  EXPECT_TRUE(std::regex_match(c.get_or("meta", ""), std::regex("creation-qemu=[0-9.]+,ctime=[0-9]+")));
  EXPECT_EQ(c.get_or("boot", ""), "order=scsi0;ide2;net0");
  EXPECT_FALSE(c.has("lock"));

  // The id is taken now, cluster-wide.
  EXPECT_THROW(vms_->reserve_vmid(100), Error);
}

TEST_F(VmServiceTest, FailedCreateLeavesNoConfigAndNoVolume) {
  if (!command_exists("qemu-img")) GTEST_SKIP() << "qemu-img missing";
  auto status = create(101, {{"scsi0", "local:1,format=qcow2"}, {"scsi1", "nosuch:1"}});
  EXPECT_NE(status.find("storage 'nosuch' does not exist"), std::string::npos) << status;
  EXPECT_FALSE(vms_->load(101));
  EXPECT_FALSE(fs::exists(image("vm-101-disk-0.qcow2")));
}

TEST_F(VmServiceTest, ConfigLockRefusesAndClears) {
  ASSERT_EQ(create(102, {{"memory", "256"}}), "OK");
  bool ran = false;
  vms_->with_config_lock(102, "backup", [&] {
    ran = true;
    EXPECT_EQ(vms_->load_or_throw(102).config.main.get_or("lock", ""), "backup");
    try {
      vms_->with_config_lock(102, "clone", [] {});
      ADD_FAILURE() << "a locked VM took a second lock";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "VM is locked (backup)");
    }
  });
  EXPECT_TRUE(ran);
  EXPECT_FALSE(vms_->load_or_throw(102).config.main.has("lock"));
  // Also cleared when the operation throws.
  EXPECT_THROW(vms_->with_config_lock(102, "backup", [] { throw Error("boom"); }), Error);
  EXPECT_FALSE(vms_->load_or_throw(102).config.main.has("lock"));
}

TEST_F(VmServiceTest, DestroyRefusesProtectedAndFreesOwnedVolumes) {
  if (!command_exists("qemu-img")) GTEST_SKIP() << "qemu-img missing";
  ASSERT_EQ(create(103, {{"scsi0", "local:1"}, {"protection", "1"}}), "OK");
  auto disk = image("vm-103-disk-0.raw");
  ASSERT_TRUE(fs::exists(disk));
  auto status = in_task([&](tasks::TaskContext& t) { vms_->destroy(103, t, {}); });
  EXPECT_EQ(status, "can't remove VM 103 - protection mode enabled");
  EXPECT_TRUE(fs::exists(disk));
  vms_->update(103, [](GuestConfig& c) { return c.main.values.erase("protection") > 0; });
  // An unreferenced volume of the VM goes too when asked.
  run_command({"qemu-img", "create", "-f", "raw", image("vm-103-disk-7.raw").string(), "1M"});
  status = in_task([&](tasks::TaskContext& t) { vms_->destroy(103, t, {.destroy_unreferenced_disks = true}); });
  EXPECT_EQ(status, "OK");
  EXPECT_FALSE(fs::exists(disk));
  EXPECT_FALSE(fs::exists(image("vm-103-disk-7.raw")));
  EXPECT_FALSE(vms_->load(103));
}

TEST_F(VmServiceTest, ListingIsCachedUntilTheStoreChanges) {
  ASSERT_EQ(create(104, {{"memory", "256"}}), "OK");
  ASSERT_EQ(create(105, {{"memory", "512"}}), "OK");
  auto first = vms_->all_configs();
  ASSERT_EQ(first.size(), 2u);
  auto again = vms_->all_configs();
  EXPECT_EQ(first.at(104).get(), again.at(104).get());  // same parsed object: no re-read
  vms_->update(105, [](GuestConfig& c) {
    c.main.values["name"] = "changed";
    return true;
  });
  auto after = vms_->all_configs();
  EXPECT_EQ(first.at(104).get(), after.at(104).get());  // unchanged file keeps its parse
  EXPECT_EQ(after.at(105)->config.main.get_or("name", ""), "changed");
  EXPECT_FALSE(vms_->runtime(104).running);
  EXPECT_EQ(vms_->runtime(104).qmpstatus, "stopped");
}

TEST_F(VmServiceTest, UpdateChecksDigestAndMissingConfig) {
  ASSERT_EQ(create(106, {{"memory", "256"}}), "OK");
  try {
    vms_->update(106, [](GuestConfig&) { return true; }, "0000000000000000000000000000000000000000");
    ADD_FAILURE() << "a stale digest was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
  }
  try {
    vms_->load_or_throw(999);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "Configuration file 'nodes/node1/qemu-server/999.conf' does not exist");
  }
}

TEST(VmSummary, FiguresOfAConfig) {
  ConfigSection c;
  EXPECT_EQ(vm_cpu_count(c), 1);
  EXPECT_EQ(vm_max_memory(c), 512u << 20);
  EXPECT_EQ(vm_boot_disk(c), "");
  c.values = {{"sockets", "2"}, {"cores", "3"}, {"memory", "current=2048"},
              {"ide2", "local:iso/x.iso,media=cdrom"}, {"virtio1", "local:100/vm-100-disk-1.raw,size=2G"},
              {"scsi0", "local:100/vm-100-disk-0.raw,size=32G"}, {"boot", "order=ide2;virtio1;scsi0"}};
  EXPECT_EQ(vm_cpu_count(c), 6);
  EXPECT_EQ(vm_max_memory(c), 2048ull << 20);
  EXPECT_EQ(vm_boot_disk(c), "virtio1");  // the first disk of the boot order, the CD-ROM skipped
  EXPECT_EQ(vm_boot_disk_size(c), 2ull << 30);
  c.values.erase("boot");
  EXPECT_EQ(vm_boot_disk(c), "scsi0");  // bus order: scsi before virtio
  c.values["vcpus"] = "4";
  EXPECT_EQ(vm_cpu_count(c), 4);
}

}  // namespace
}  // namespace pvx::guest::qemu
