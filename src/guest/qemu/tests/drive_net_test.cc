#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "base/error.h"
#include "guest/qemu/drive.h"
#include "guest/qemu/net.h"

namespace pvx::guest::qemu {
namespace {

using schema::Json;

TEST(Drive, ParsesAndPrintsInPveOrder) {
  Drive d = parse_drive("scsi0", "local:100/vm-100-disk-0.qcow2,size=32G,iothread=1,discard=on");
  EXPECT_EQ(d.key, "scsi0");
  EXPECT_EQ(d.interface, "scsi");
  EXPECT_EQ(d.index, 0);
  EXPECT_EQ(d.file, "local:100/vm-100-disk-0.qcow2");
  EXPECT_EQ(d.opt("discard"), "on");
  EXPECT_EQ(d.opt("iothread"), "1");
  EXPECT_EQ(d.opt("size"), "32G");
  EXPECT_EQ(d.opt("cache", "none"), "none");
  EXPECT_EQ(d.size_bytes(), 32ull << 30);
  EXPECT_EQ(print_drive(d), "local:100/vm-100-disk-0.qcow2,discard=on,iothread=1,size=32G");
}

TEST(Drive, FileKeyAndAliasForms) {
  Drive d = parse_drive("virtio3", "file=fast:vm-105-disk-1,backup=0");
  EXPECT_EQ(d.file, "fast:vm-105-disk-1");
  EXPECT_EQ(d.interface, "virtio");
  EXPECT_EQ(d.index, 3);
  EXPECT_EQ(print_drive(d), "fast:vm-105-disk-1,backup=0");
  EXPECT_EQ(parse_drive("ide0", "volume=local:iso/x.iso,media=cdrom").file, "local:iso/x.iso");
}

TEST(Drive, SizeIsWrittenInTheLargestUnit) {
  Drive d = parse_drive("sata1", "local:100/vm-100-disk-1.raw,size=1024M");
  EXPECT_EQ(print_drive(d), "local:100/vm-100-disk-1.raw,size=1G");
  d.set_size_bytes(540672);
  EXPECT_EQ(d.opt("size"), "528K");
  EXPECT_EQ(print_drive(d), "local:100/vm-100-disk-1.raw,size=528K");
}

TEST(Drive, CdromAndCloudinit) {
  EXPECT_TRUE(parse_drive("ide2", "none,media=cdrom").is_cdrom());
  EXPECT_TRUE(parse_drive("ide2", "local:iso/d.iso,media=cdrom").is_cdrom());
  EXPECT_TRUE(parse_drive("ide2", "cdrom").is_cdrom());
  EXPECT_FALSE(parse_drive("scsi0", "local:100/vm-100-disk-0.raw").is_cdrom());
  EXPECT_TRUE(parse_drive("ide2", "local:cloudinit").is_cloudinit());
  EXPECT_TRUE(parse_drive("ide2", "local:100/vm-100-cloudinit.qcow2,media=cdrom").is_cloudinit());
  EXPECT_TRUE(parse_drive("scsi1", "lvm:vm-100-cloudinit,media=cdrom").is_cloudinit());
  EXPECT_FALSE(parse_drive("scsi1", "lvm:vm-100-disk-1").is_cloudinit());
}

TEST(Drive, BadValuesName400Key) {
  for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"scsi0", "local:100/x.raw,discard=sometimes"},
           {"scsi0", "local:100/x.raw,nosuchopt=1"},
           {"scsi0", "local:100/x.raw,size=12Q"},
           {"virtio0", "local:iso/x.iso,media=cdrom"},
           {"ide2", "local:iso/x.iso,media=cdrom,format=raw"},
           {"scsi0", "local:100/x.raw,mbps_max=10"},
           {"scsi0", "local:100/x.raw,mbps=1,mbps_rd=1"},
           {"scsi31", "local:100/x.raw"},
           {"net0", "local:100/x.raw"},
       }) {
    try {
      parse_drive(key, value);
      ADD_FAILURE() << key << ": " << value << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_EQ(e.params().count(key), 1u) << key << ": " << value << " -> " << e.what();
    }
  }
  EXPECT_FALSE(try_parse_drive("scsi0", "local:1/x.raw,bogus=1"));
  EXPECT_TRUE(try_parse_drive("scsi0", "local:1/x.raw"));
}

TEST(Drive, BytesPerSecondBecomeMegabytes) {
  Drive d = parse_drive("scsi0", "local:1/x.raw,bps=1048576");
  EXPECT_FALSE(d.opts.contains("bps"));
  EXPECT_EQ(d.opt("mbps"), "1");
  EXPECT_EQ(print_drive(d), "local:1/x.raw,mbps=1");
}

TEST(Drive, Keys) {
  EXPECT_TRUE(is_drive_key("ide3"));
  EXPECT_TRUE(is_drive_key("scsi30"));
  EXPECT_TRUE(is_drive_key("efidisk0"));
  EXPECT_TRUE(is_drive_key("tpmstate0"));
  EXPECT_FALSE(is_drive_key("ide4"));
  EXPECT_FALSE(is_drive_key("scsi01"));
  EXPECT_FALSE(is_drive_key("scsihw"));
  EXPECT_FALSE(is_drive_key("efidisk1"));
  EXPECT_FALSE(is_drive_key("unused0"));
  const auto& all = all_drive_keys();
  EXPECT_EQ(all.size(), 4u + 6 + 31 + 16 + 1 + 1);
  EXPECT_EQ(all.front(), "ide0");
  EXPECT_EQ(all[4], "sata0");
  EXPECT_EQ(all.back(), "tpmstate0");
}

TEST(Drive, EfidiskAndTpmstateFormats) {
  Drive e = parse_drive("efidisk0", "local:100/vm-100-disk-1.qcow2,efitype=4m,pre-enrolled-keys=1,size=528K");
  EXPECT_EQ(e.interface, "efidisk");
  EXPECT_EQ(print_drive(e), "local:100/vm-100-disk-1.qcow2,efitype=4m,pre-enrolled-keys=1,size=528K");
  Drive t = parse_drive("tpmstate0", "local:100/vm-100-disk-2.raw,size=4M,version=v2.0");
  EXPECT_EQ(print_drive(t), "local:100/vm-100-disk-2.raw,size=4M,version=v2.0");
  EXPECT_THROW(parse_drive("tpmstate0", "local:100/x.raw,version=v3"), Error);
}

TEST(Drive, NewDiskRequests) {
  auto r = parse_new_disk(parse_drive("scsi1", "local:32,iothread=1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->storage, "local");
  EXPECT_EQ(r->size_gib, 32);
  auto e = parse_new_disk(parse_drive("efidisk0", "local:0,efitype=4m"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->size_gib, 0);
  auto half = parse_new_disk(parse_drive("scsi2", "fast:0.5"));
  ASSERT_TRUE(half);
  EXPECT_EQ(half->size_gib, 0.5);
  auto imp = parse_new_disk(parse_drive("scsi3", "local:0,import-from=local:import/disk.qcow2"));
  ASSERT_TRUE(imp);
  EXPECT_EQ(parse_drive("scsi3", "local:0,import-from=local:import/disk.qcow2").opt("import-from"), "local:import/disk.qcow2");
  EXPECT_FALSE(parse_new_disk(parse_drive("scsi1", "local:100/vm-100-disk-0.raw")));
  EXPECT_FALSE(parse_new_disk(parse_drive("ide2", "none,media=cdrom")));
}

TEST(Net, ParsesAndPrintsInPveOrder) {
  NetDevice n = parse_net("net0", "bridge=vmbr0,tag=20,firewall=1,virtio=bc:24:11:4a:2f:01");
  EXPECT_EQ(n.key, "net0");
  EXPECT_EQ(n.index, 0);
  EXPECT_EQ(n.model, "virtio");
  EXPECT_EQ(n.macaddr, "BC:24:11:4A:2F:01");
  EXPECT_EQ(n.bridge, "vmbr0");
  EXPECT_EQ(n.tag, 20);
  EXPECT_TRUE(n.firewall);
  EXPECT_FALSE(n.link_down);
  EXPECT_EQ(print_net(n), "virtio=BC:24:11:4A:2F:01,bridge=vmbr0,firewall=1,tag=20");
}

TEST(Net, AllOptions) {
  NetDevice n = parse_net("net10", "e1000=BC:24:11:4A:2F:02,bridge=vmbr1,link_down=1,mtu=1400,queues=4,rate=12.5,trunks=10;20-30");
  EXPECT_EQ(n.index, 10);
  EXPECT_EQ(n.model, "e1000");
  EXPECT_EQ(n.mtu, 1400);
  EXPECT_EQ(n.queues, 4);
  EXPECT_EQ(n.rate, 12.5);
  EXPECT_EQ(n.trunks, "10;20-30");
  EXPECT_TRUE(n.link_down);
  EXPECT_EQ(print_net(n), "e1000=BC:24:11:4A:2F:02,bridge=vmbr1,link_down=1,mtu=1400,queues=4,rate=12.5,trunks=10;20-30");
}

TEST(Net, ModelWithoutMacAndExplicitKeys) {
  NetDevice n = parse_net("net1", "model=virtio,bridge=vmbr0");
  EXPECT_EQ(n.model, "virtio");
  EXPECT_TRUE(n.macaddr.empty());
  EXPECT_EQ(print_net(n), "virtio,bridge=vmbr0");
  n.macaddr = "BC:24:11:00:00:01";
  EXPECT_EQ(print_net(n), "virtio=BC:24:11:00:00:01,bridge=vmbr0");
  EXPECT_EQ(parse_net("net2", "model=rtl8139,macaddr=BC:24:11:00:00:02").macaddr, "BC:24:11:00:00:02");
}

TEST(Net, BadValuesName400Key) {
  for (const char* v : {"virtio=01:00:00:00:00:01", "virtio,tag=5000", "virtio,mtu=0", "beos=BC:24:11:00:00:01",
                        "virtio,bridge=vmbr0,nosuch=1", "bridge=vmbr0"}) {
    try {
      parse_net("net0", v);
      ADD_FAILURE() << v << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_EQ(e.params().count("net0"), 1u) << v;
    }
  }
  EXPECT_THROW(parse_net("net32", "virtio"), Error);
  EXPECT_TRUE(is_net_key("net31"));
  EXPECT_FALSE(is_net_key("net32"));
  EXPECT_FALSE(is_net_key("net"));
  EXPECT_FALSE(is_net_key("net01"));
}

TEST(Net, GeneratedMacs) {
  static const std::regex upper_mac("BC:24:11(?::[0-9A-F]{2}){3}");
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    std::string mac = generate_mac();
    EXPECT_TRUE(std::regex_match(mac, upper_mac)) << mac;
    seen.insert(mac);
    EXPECT_NO_THROW(parse_net("net0", "virtio=" + mac));
  }
  EXPECT_GT(seen.size(), 45u);
  // Without a prefix the address is random, unicast and locally administered.
  std::string mac = generate_mac("");
  int first = std::stoi(mac.substr(0, 2), nullptr, 16);
  EXPECT_EQ(first & 1, 0);
  EXPECT_EQ(first & 2, 2);
  EXPECT_EQ(generate_mac("02:5a").substr(0, 5), "02:5A");
  EXPECT_EQ(tap_name(100, 3), "tap100i3");
}

}  // namespace
}  // namespace pvx::guest::qemu
