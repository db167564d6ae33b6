#include "guest/guest_config.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace pvx::guest {
namespace {

// The example VM config of config-formats.md §4.3 (a main section with a description, pending
// changes with a forced delete, and one snapshot).
constexpr const char* kExample =
    "#CI build host%3A nightly images\n"
    "#owner%3A platform team\n"
    "agent: 1,fstrim_cloned_disks=1\n"
    "boot: order=scsi0;ide2;net0\n"
    "cores: 4\n"
    "cpu: x86-64-v2-AES\n"
    "ide2: local:iso/debian-13.1.0-amd64-netinst.iso,media=cdrom,size=754M\n"
    "memory: 4096\n"
    "meta: creation-qemu=10.0.2,ctime=1740873600\n"
    "name: ci-builder\n"
    "net0: virtio=BC:24:11:4A:2F:01,bridge=vmbr0,firewall=1,tag=20\n"
    "net1: e1000=BC:24:11:4A:2F:02,bridge=vmbr1,link_down=1\n"
    "ostype: l26\n"
    "parent: before-upgrade\n"
    "scsi0: local:105/vm-105-disk-0.qcow2,discard=on,iothread=1,size=32G\n"
    "scsi1: fast:vm-105-disk-1,backup=0,size=200G\n"
    "scsihw: virtio-scsi-single\n"
    "smbios1: uuid=3d9f0c4e-7a51-4c1b-9e0d-5b2f6a8c1e77\n"
    "sockets: 1\n"
    "tags: build;ci\n"
    "unused0: local:105/vm-105-disk-2.raw\n"
    "vmgenid: a1c2e3f4-0b1d-4e2f-8a9b-7c6d5e4f3a21\n"
    "\n"
    "[PENDING]\n"
    "cores: 8\n"
    "delete: tags,!unused0\n"
    "\n"
    "[before-upgrade]\n"
    "#taken before the distribution upgrade\n"
    "agent: 1,fstrim_cloned_disks=1\n"
    "boot: order=scsi0;ide2;net0\n"
    "cores: 4\n"
    "cpu: x86-64-v2-AES\n"
    "ide2: none,media=cdrom\n"
    "memory: 4096\n"
    "meta: creation-qemu=10.0.2,ctime=1740873600\n"
    "name: ci-builder\n"
    "net0: virtio=BC:24:11:4A:2F:01,bridge=vmbr0,firewall=1,tag=20\n"
    "ostype: l26\n"
    "runningcpu: qemu64,+aes,+cx16,+lahf_lm,+pni,+popcnt,+sse4.1,+sse4.2,+ssse3\n"
    "runningmachine: pc-i440fx-10.0+pve0\n"
    "scsi0: local:105/vm-105-disk-0.qcow2,discard=on,iothread=1,size=32G\n"
    "scsihw: virtio-scsi-single\n"
    "smbios1: uuid=3d9f0c4e-7a51-4c1b-9e0d-5b2f6a8c1e77\n"
    "snaptime: 1741046400\n"
    "sockets: 1\n"
    "vmgenid: a1c2e3f4-0b1d-4e2f-8a9b-7c6d5e4f3a21\n"
    "vmstate: fast:vm-105-state-before-upgrade\n";

TEST(GuestConfig, ExampleRoundTripsByteExact) {
  std::vector<std::string> warnings;
  GuestConfig c = parse_guest_config(kExample, 105, &warnings);
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  EXPECT_EQ(print_guest_config(c), kExample);
}

TEST(GuestConfig, ExampleParsesIntoSections) {
  GuestConfig c = parse_guest_config(kExample, 105);
  EXPECT_EQ(c.main.description, "CI build host: nightly images\nowner: platform team");
  EXPECT_EQ(c.main.get("cores"), "4");
  EXPECT_EQ(c.main.get("net0"), "virtio=BC:24:11:4A:2F:01,bridge=vmbr0,firewall=1,tag=20");
  EXPECT_EQ(c.main.values.size(), 20u);
  EXPECT_EQ(c.pending.get("cores"), "8");
  EXPECT_EQ(c.pending.values.size(), 1u);
  ASSERT_EQ(c.pending_delete.size(), 2u);
  EXPECT_FALSE(c.pending_delete.at("tags"));
  EXPECT_TRUE(c.pending_delete.at("unused0"));
  ASSERT_EQ(c.snapshots.count("before-upgrade"), 1u);
  const ConfigSection& snap = c.snapshots.at("before-upgrade");
  EXPECT_EQ(snap.description, "taken before the distribution upgrade");
  EXPECT_EQ(snap.get("snaptime"), "1741046400");
  EXPECT_EQ(snap.get("ide2"), "none,media=cdrom");
  EXPECT_TRUE(c.has_pending());
}

TEST(GuestConfig, DescriptionIsEncodedPerLine) {
  GuestConfig c;
  c.main.description = "Web: 100% up\n\nM\xC3\xBCller\n\n";
  c.main.values["memory"] = "512";
  EXPECT_EQ(print_guest_config(c), "#Web%3A 100%25 up\n#\n#M%C3%BCller\nmemory: 512\n");
  GuestConfig back = parse_guest_config(print_guest_config(c));
  EXPECT_EQ(back.main.description, "Web: 100% up\n\nM\xC3\xBCller");
}

TEST(GuestConfig, DescriptionKeyLineIsAppended) {
  GuestConfig c = parse_guest_config("#first\ndescription: second%3A part\ncores: 2\n");
  EXPECT_EQ(c.main.description, "first\nsecond: part");
  EXPECT_FALSE(c.main.has("description"));
  EXPECT_EQ(print_guest_config(c), "#first\n#second%3A part\ncores: 2\n");
}

TEST(GuestConfig, EmptyPendingDescriptionIsALoneHash) {
  GuestConfig c;
  c.main.description = "old";
  c.main.values["cores"] = "1";
  c.pending.description = "";
  const std::string text = print_guest_config(c);
  EXPECT_EQ(text, "#old\ncores: 1\n\n[PENDING]\n#\n");
  GuestConfig back = parse_guest_config(text);
  ASSERT_TRUE(back.pending.description.has_value());
  EXPECT_EQ(*back.pending.description, "");
  EXPECT_TRUE(back.has_pending());
  // An empty main description is not written at all.
  c.main.description = "";
  c.pending.description.reset();
  EXPECT_EQ(print_guest_config(c), "cores: 1\n");
}

TEST(GuestConfig, PendingDeleteSortsAmongKeysAndKeepsForce) {
  GuestConfig c;
  c.main.values["cores"] = "1";
  c.pending.values["memory"] = "1024";
  c.pending.values["balloon"] = "0";
  c.pending_delete["net1"] = false;
  c.pending_delete["unused3"] = true;
  EXPECT_EQ(print_guest_config(c), "cores: 1\n\n[PENDING]\nballoon: 0\ndelete: net1,!unused3\nmemory: 1024\n");
  // Separators other than commas are read too, as PVE does.
  GuestConfig d = parse_guest_config("cores: 1\n\n[PENDING]\ndelete: a; !b c\n");
  EXPECT_EQ(d.pending_delete, (std::map<std::string, bool>{{"a", false}, {"b", true}, {"c", false}}));
}

TEST(GuestConfig, DeleteOutsidePendingIsAWarning) {
  std::vector<std::string> warnings;
  GuestConfig c = parse_guest_config("cores: 1\ndelete: memory\n", 100, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "vm 100 - property 'delete' is only allowed in [PENDING]");
  EXPECT_TRUE(c.pending_delete.empty());
}

TEST(GuestConfig, SnapshotsAndSpecialSectionsAreWrittenSorted) {
  GuestConfig c;
  c.main.values["ide2"] = "local:cloudinit,media=cdrom";
  c.main.values["parent"] = "b";
  c.snapshots["zeta"].values["cores"] = "2";
  c.snapshots["alpha"].values["cores"] = "1";
  c.snapshots["alpha"].description = "first";
  c.special["cloudinit"].values["name"] = "vm";
  EXPECT_EQ(print_guest_config(c),
            "ide2: local:cloudinit,media=cdrom\nparent: b\n"
            "\n[special:cloudinit]\nname: vm\n"
            "\n[alpha]\n#first\ncores: 1\n"
            "\n[zeta]\ncores: 2\n");
}

TEST(GuestConfig, CloudinitSectionNeedsACloudinitDrive) {
  GuestConfig c;
  c.main.values["ide2"] = "none,media=cdrom";
  c.special["cloudinit"].values["name"] = "vm";
  EXPECT_EQ(print_guest_config(c), "ide2: none,media=cdrom\n");
  c.main.values["scsi1"] = "local:100/vm-100-cloudinit.qcow2,media=cdrom";
  EXPECT_EQ(print_guest_config(c), "ide2: none,media=cdrom\nscsi1: local:100/vm-100-cloudinit.qcow2,media=cdrom\n"
                                   "\n[special:cloudinit]\nname: vm\n");
}

TEST(GuestConfig, UnusedNamingADriveVolumeIsDropped) {
  GuestConfig c;
  c.main.values["scsi0"] = "local:100/vm-100-disk-0.raw,size=4G";
  c.main.values["unused0"] = "local:100/vm-100-disk-0.raw";
  c.main.values["unused1"] = "local:100/vm-100-disk-1.raw";
  c.main.values["unused2"] = "local:100/vm-100-disk-2.raw";
  c.pending.values["virtio1"] = "file=local:100/vm-100-disk-2.raw,iothread=1";
  EXPECT_EQ(print_guest_config(c),
            "scsi0: local:100/vm-100-disk-0.raw,size=4G\nunused1: local:100/vm-100-disk-1.raw\n"
            "\n[PENDING]\nvirtio1: file=local:100/vm-100-disk-2.raw,iothread=1\n");
}

TEST(GuestConfig, LenientReading) {
  std::vector<std::string> warnings;
  GuestConfig c = parse_guest_config(
      "cdrom: none,media=cdrom\n"
      "  \n"
      "Bad Line\n"
      "args: -no-reboot -smbios 'type=0,vendor=FOO'   \n"
      "\n[weird section!]\nmemory: 1\n"
      "\n[snap1]\nsnapstate: prepare\ncores: 3\n",
      101, &warnings);
  EXPECT_EQ(c.main.get("ide2"), "none,media=cdrom");
  EXPECT_FALSE(c.main.has("cdrom"));
  EXPECT_EQ(c.main.get("args"), "-no-reboot -smbios 'type=0,vendor=FOO'");
  EXPECT_FALSE(c.main.has("memory"));
  EXPECT_EQ(c.snapshots.at("snap1").get("snapstate"), "prepare");
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_EQ(warnings[0], "vm 101 - unable to parse config: Bad Line");
  EXPECT_EQ(warnings[1], "vm 101 - skipping unknown section: 'weird section!'");
}

TEST(GuestConfig, LongValuesParse) {
  std::string keys(200000, 'A');
  GuestConfig c = parse_guest_config("sshkeys: " + keys + "\n");
  EXPECT_EQ(c.main.get("sshkeys"), keys);
}

TEST(GuestConfig, SmpBecomesSockets) {
  GuestConfig c;
  c.main.values["smp"] = "4";
  c.main.values["cores"] = "2";
  EXPECT_EQ(print_guest_config(c), "sockets: 4\n");
  c.main.values["sockets"] = "2";
  c.main.values["cores"] = "2";
  c.main.values["smp"] = "4";
  EXPECT_EQ(print_guest_config(c), "cores: 2\nsockets: 2\n");
}

TEST(GuestConfig, Paths) {
  EXPECT_EQ(qemu_config_path("pve1", 100), "nodes/pve1/qemu-server/100.conf");
  EXPECT_EQ(lxc_config_path("pve1", 200), "nodes/pve1/lxc/200.conf");
}

TEST(GuestConfig, LockCheck) {
  GuestConfig c;
  EXPECT_NO_THROW(check_not_locked(c));
  c.main.values["lock"] = "backup";
  try {
    check_not_locked(c);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 500);
    EXPECT_STREQ(e.what(), "VM is locked (backup)");
  }
  EXPECT_NO_THROW(check_not_locked(c, /*skiplock=*/true));
  EXPECT_TRUE(is_known_lock("snapshot-delete"));
  EXPECT_TRUE(is_known_lock("suspended"));
  EXPECT_FALSE(is_known_lock("bogus"));
}

TEST(GuestConfig, UnusedHelpers) {
  ConfigSection s;
  s.values["unused0"] = "local:100/a.raw";
  s.values["unused2"] = "local:100/c.raw";
  s.values["scsi0"] = "local:100/d.raw,size=1G";
  EXPECT_EQ(next_unused_key(s), "unused1");
  EXPECT_EQ(add_unused_volume(s, "local:100/b.raw"), "unused1");
  EXPECT_EQ(s.get("unused1"), "local:100/b.raw");
  EXPECT_EQ(add_unused_volume(s, "local:100/c.raw"), "");
  EXPECT_EQ(add_unused_volume(s, "local:100/d.raw"), "");
  EXPECT_EQ(add_unused_volume(s, "local:100/e.raw"), "unused3");
  ConfigSection full;
  for (int i = 0; i < 256; ++i) full.values["unused" + std::to_string(i)] = "x:" + std::to_string(i);
  EXPECT_THROW(next_unused_key(full), Error);
}

}  // namespace
}  // namespace pvx::guest

namespace pvx::guest {
namespace {

TEST(GuestConfigRawLxc, KeepsOrderAndRepeatsAndWritesThemLast) {
  const std::string text =
      "arch: amd64\n"
      "lxc.cgroup2.devices.allow = c 10:200 rwm\n"
      "hostname: ct1\n"
      "lxc.cgroup2.devices.allow: c 1:3 rwm\n"
      "lxc.apparmor.profile: unconfined\n";
  GuestConfig c = parse_guest_config(text);
  ASSERT_EQ(c.main.raw_lxc.size(), 3u);
  EXPECT_EQ(c.main.raw_lxc[0], std::make_pair(std::string("lxc.cgroup2.devices.allow"), std::string("c 10:200 rwm")));
  EXPECT_EQ(c.main.raw_lxc[1].second, "c 1:3 rwm");
  EXPECT_EQ(print_guest_config(c),
            "arch: amd64\nhostname: ct1\n"
            "lxc.cgroup2.devices.allow: c 10:200 rwm\n"
            "lxc.cgroup2.devices.allow: c 1:3 rwm\n"
            "lxc.apparmor.profile: unconfined\n");
}

}  // namespace
}  // namespace pvx::guest
