// Pure parts of clones, resize, sendkey and monitor access.
#include <gtest/gtest.h>

#include <regex>

#include "base/error.h"
#include "base/random.h"
#include "guest/qemu/vm_clone.h"
#include "guest/qemu/vm_disk_ops.h"
#include "guest/qemu/vm_monitor.h"

namespace pvx::guest::qemu {
namespace {

ConfigSection template_section() {
  ConfigSection s;
  s.description = "golden image";
  s.values = {{"name", "debian-tpl"},
              {"memory", "1024"},
              {"template", "1"},
              {"parent", "old"},
              {"lock", "backup"},
              {"unused0", "local:100/vm-100-disk-5.qcow2"},
              {"net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1"},
              {"net1", "e1000=BC:24:11:00:00:02,bridge=vmbr1"},
              {"scsi0", "local:100/base-100-disk-0.qcow2,size=2G"},
              {"smbios1", "manufacturer=QUNNRQ==,base64=1,uuid=11111111-2222-4333-8444-555555555555"},
              {"vmgenid", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"}};
  return s;
}

TEST(CloneConfig, NewIdentityAndNoSnapshotState) {
  int macs = 0;
  auto out = clone_config(
      template_section(), {100, std::nullopt, std::nullopt},
      [&] { return "BC:24:11:AA:BB:0" + std::to_string(++macs); }, [] { return std::string("9b2e6c1a-4f3d-4e5a-8b7c-0d1e2f3a4b5c"); });
  EXPECT_EQ(out.get_or("name", ""), "Copy-of-VM-debian-tpl");
  EXPECT_EQ(out.description, "golden image");
  EXPECT_FALSE(out.has("template"));
  EXPECT_FALSE(out.has("parent"));
  EXPECT_FALSE(out.has("lock"));
  EXPECT_FALSE(out.has("unused0"));
  EXPECT_EQ(out.get_or("scsi0", ""), "local:100/base-100-disk-0.qcow2,size=2G");  // rewritten by the task
  EXPECT_EQ(macs, 2);
  EXPECT_NE(out.get_or("net0", "").find("BC:24:11:AA:BB:0"), std::string::npos);
  EXPECT_EQ(out.get_or("net0", "").find("BC:24:11:00:00:01"), std::string::npos);
  EXPECT_NE(out.get_or("net0", "").find("bridge=vmbr0"), std::string::npos);
  EXPECT_NE(out.get_or("net0", "").find("firewall=1"), std::string::npos);
  const auto smbios = out.get_or("smbios1", "");
  EXPECT_NE(smbios.find("uuid=9b2e6c1a-4f3d-4e5a-8b7c-0d1e2f3a4b5c"), std::string::npos) << smbios;
  EXPECT_NE(smbios.find("manufacturer=QUNNRQ=="), std::string::npos) << smbios;
  EXPECT_EQ(out.get_or("vmgenid", ""), "9b2e6c1a-4f3d-4e5a-8b7c-0d1e2f3a4b5c");
}

TEST(CloneConfig, NameDescriptionAndNoVmgenidWhenUnset) {
  auto src = template_section();
  src.values.erase("vmgenid");
  src.values.erase("name");
  src.values.erase("smbios1");
  auto out = clone_config(src, {100, std::string("web1"), std::string("clone of tpl")}, [] { return std::string("BC:24:11:00:00:09"); },
                          [] { return std::string("0b2e6c1a-4f3d-4e5a-8b7c-0d1e2f3a4b5c"); });
  EXPECT_EQ(out.get_or("name", ""), "web1");
  EXPECT_EQ(out.description, "clone of tpl");
  EXPECT_FALSE(out.has("vmgenid"));
  EXPECT_EQ(out.get_or("smbios1", ""), "uuid=0b2e6c1a-4f3d-4e5a-8b7c-0d1e2f3a4b5c");
  auto unnamed = clone_config(src, {123, std::nullopt, std::nullopt}, [] { return std::string("BC:24:11:00:00:09"); },
                              [] { return std::string("0b2e6c1a-4f3d-4e5a-8b7c-0d1e2f3a4b5c"); });
  EXPECT_EQ(unnamed.get_or("name", ""), "Copy-of-VM-123");
}

TEST(CloneConfig, RandomUuidIsVersion4) {
  static const std::regex re("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  auto a = random_uuid(), b = random_uuid();
  EXPECT_TRUE(std::regex_match(a, re)) << a;
  EXPECT_NE(a, b);
}

TEST(Resize, RelativeAbsoluteAndShrink) {
  const std::int64_t g = 1024LL * 1024 * 1024;
  EXPECT_EQ(resize_target("+1G", 2 * g), 3 * g);
  EXPECT_EQ(resize_target("4G", 2 * g), 4 * g);
  EXPECT_EQ(resize_target("2048M", 2 * g), 2 * g);
  EXPECT_EQ(resize_target("+0.5G", g), g + g / 2);
  EXPECT_EQ(resize_target("1.5T", g), 1536 * g);
  EXPECT_EQ(resize_target("+1", 1024), 2048);  // rounded up to whole KiB
  try {
    resize_target("1G", 2 * g);
    FAIL() << "shrink accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.params().at("size"), "shrinking disks is not supported");
  }
  EXPECT_THROW(resize_target("-1G", 2 * g), Error);
  EXPECT_THROW(resize_target("1X", 2 * g), Error);
}

TEST(SendKey, HmpWordsBecomeQcodes) {
  auto keys = sendkey_keys("ctrl-alt-delete");
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0]["type"], "qcode");
  EXPECT_EQ(keys[2]["data"], "delete");
  auto raw = sendkey_keys("ctrl-0x1d");
  EXPECT_EQ(raw[1]["type"], "number");
  EXPECT_EQ(raw[1]["data"], 0x1d);
  EXPECT_THROW(sendkey_keys("ctrl--alt"), Error);
  EXPECT_THROW(sendkey_keys("ctrl alt"), Error);
  EXPECT_THROW(sendkey_keys(""), Error);
}

TEST(Monitor, AccessFollowsPveTable) {
  EXPECT_EQ(monitor_access("info status"), MonitorAccess::None);
  EXPECT_EQ(monitor_access("  help"), MonitorAccess::None);
  EXPECT_EQ(monitor_access("system_reset"), MonitorAccess::SysModify);
  EXPECT_EQ(monitor_access("x/10i $pc"), MonitorAccess::SysModify);
  EXPECT_EQ(monitor_access("migrate exec:cat"), MonitorAccess::Root);
  EXPECT_EQ(monitor_access("device_add e1000"), MonitorAccess::Root);
  EXPECT_EQ(monitor_access("something_new"), MonitorAccess::Root);
}

}  // namespace
}  // namespace pvx::guest::qemu
