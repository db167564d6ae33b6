#include "guest/qemu/config_update.h"

#include <gtest/gtest.h>

#include <regex>

#include "base/error.h"

namespace pvx::guest::qemu {
namespace {

using schema::Json;

GuestConfig conf(const std::string& text) { return parse_guest_config(text, 100); }

ConfigChanges changes(const Json& params) { return parse_config_changes(params); }

std::string param_error(const Json& params, const std::string& name) {
  try {
    parse_config_changes(params);
  } catch (const Error& e) {
    auto it = e.params().find(name);
    return it == e.params().end() ? std::string("no error for ") + name + ": " + e.what() : it->second;
  }
  return "accepted";
}

TEST(ConfigChanges, ParsesTheRequest) {
  ConfigChanges c = changes({{"node", "pve1"}, {"vmid", 100}, {"cores", 4}, {"acpi", false}, {"cpulimit", 1.5},
                             {"delete", "tags,cdrom"}, {"revert", "memory"}, {"force", true}, {"digest", "abc"},
                             {"skiplock", true}});
  EXPECT_EQ(c.set, (std::map<std::string, std::string>{{"acpi", "0"}, {"cores", "4"}, {"cpulimit", "1.5"}}));
  EXPECT_EQ(c.deletes, (std::vector<std::string>{"tags", "ide2"}));
  EXPECT_EQ(c.revert, (std::vector<std::string>{"memory"}));
  EXPECT_TRUE(c.force);
  EXPECT_EQ(c.digest, "abc");
}

TEST(ConfigChanges, Normalises) {
  ConfigChanges c = changes({{"cdrom", "local:iso/x.iso"}, {"net0", "virtio,bridge=vmbr0"}, {"vmgenid", "1"},
                             {"cpuunits", 50000}});
  EXPECT_EQ(c.set.count("cdrom"), 0u);
  EXPECT_EQ(c.set.at("ide2"), "local:iso/x.iso,media=cdrom");
  EXPECT_TRUE(std::regex_match(c.set.at("net0"), std::regex("virtio=BC:24:11(:[0-9A-F]{2}){3},bridge=vmbr0")))
      << c.set.at("net0");
  EXPECT_TRUE(std::regex_match(c.set.at("vmgenid"), std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << c.set.at("vmgenid");
  EXPECT_EQ(c.set.at("cpuunits"), "10000");
  // A given MAC is kept, upper-cased.
  EXPECT_EQ(changes({{"net1", "e1000=bc:24:11:00:00:09"}}).set.at("net1"), "e1000=BC:24:11:00:00:09");
}

TEST(ConfigChanges, ConflictsAreParameterErrors) {
  EXPECT_EQ(param_error({{"cores", 2}, {"delete", "cores"}}, "delete"),
            "you can't use '-cores' and -delete cores' at the same time");
  EXPECT_EQ(param_error({{"cores", 2}, {"revert", "cores"}}, "delete"),
            "you can't use '-cores' and -revert cores' at the same time");
  EXPECT_EQ(param_error({{"delete", "memory"}, {"revert", "memory"}}, "revert"),
            "you can't use '-delete memory' and -revert memory' at the same time");
  EXPECT_EQ(param_error({{"delete", "bogus"}}, "delete"), "unknown option 'bogus'");
  EXPECT_EQ(param_error({{"revert", "bogus"}}, "revert"), "unknown option 'bogus'");
  EXPECT_EQ(param_error({{"delete", "vmstate"}}, "delete"), "accepted");  // internal keys can go
  try {
    changes({{"node", "pve1"}, {"vmid", 100}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 500);
    EXPECT_STREQ(e.what(), "no options specified");
  }
}

TEST(StageChanges, ValuesGoToPending) {
  GuestConfig c = conf("cores: 1\nmemory: 512\nname: a\n");
  StageResult r = stage_changes(c, changes({{"cores", 2}, {"name", "a"}, {"description", "hello: world"}}));
  EXPECT_EQ(c.main.get("cores"), "1");
  EXPECT_EQ(c.pending.get("cores"), "2");
  EXPECT_FALSE(c.pending.has("name"));  // equal to the main value
  EXPECT_EQ(c.pending.description, "hello: world");
  EXPECT_TRUE(r.modified.count("cores"));
  EXPECT_EQ(print_guest_config(c), "cores: 1\nmemory: 512\nname: a\n\n[PENDING]\n#hello%3A world\ncores: 2\n");
}

TEST(StageChanges, BadValueIs400NamingTheKey) {
  GuestConfig c = conf("cores: 1\n");
  ConfigChanges ch;
  ch.set["cores"] = "0";
  try {
    stage_changes(c, ch);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.params().count("cores"), 1u);
  }
  EXPECT_FALSE(c.has_pending());
}

TEST(StageChanges, DeletesAndForce) {
  GuestConfig c = conf("cores: 1\nnet0: virtio=BC:24:11:00:00:01,bridge=vmbr0\nscsi0: local:100/vm-100-disk-0.raw,size=1G\ntags: a;b\n");
  ConfigChanges ch = changes({{"delete", "net0,scsi0,tags,memory"}, {"force", true}});
  StageResult r = stage_changes(c, ch, 100);
  EXPECT_EQ(c.pending_delete, (std::map<std::string, bool>{{"net0", true}, {"scsi0", true}}));
  EXPECT_FALSE(c.main.has("tags"));  // deleted at once
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], "cannot delete 'memory' - not set in current configuration!");
  EXPECT_TRUE(r.volumes_to_free.empty());
  const std::string text = print_guest_config(c);
  EXPECT_NE(text.find("[PENDING]\ndelete: !net0,!scsi0\n"), std::string::npos) << text;
  // Setting a key again drops its pending delete.
  stage_changes(c, changes({{"net0", "virtio=BC:24:11:00:00:02,bridge=vmbr0"}}));
  EXPECT_EQ(c.pending_delete.count("net0"), 0u);
  EXPECT_EQ(c.pending.get("net0"), "virtio=BC:24:11:00:00:02,bridge=vmbr0");
}

TEST(StageChanges, UnusedDeleteFreesTheVolumeAtOnce) {
  GuestConfig c = conf("scsi0: local:100/vm-100-disk-0.raw\nunused0: local:100/vm-100-disk-1.raw\n"
                       "unused1: local:200/vm-200-disk-0.raw\n");
  StageResult r = stage_changes(c, changes({{"delete", "unused0,unused1"}}), 100);
  EXPECT_EQ(r.volumes_to_free, (std::vector<std::string>{"local:100/vm-100-disk-1.raw"}));
  EXPECT_FALSE(c.main.has("unused0"));
  EXPECT_FALSE(c.main.has("unused1"));  // another VM's volume is only forgotten
  EXPECT_FALSE(c.has_pending());
}

TEST(StageChanges, UnusedInASnapshotIsNotFreed) {
  GuestConfig c = conf("unused0: local:100/vm-100-disk-1.raw\n\n[s1]\nscsi1: local:100/vm-100-disk-1.raw\n");
  try {
    stage_changes(c, changes({{"delete", "unused0"}}), 100);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unable to delete 'local:100/vm-100-disk-1.raw' - volume is still in use (snapshot?)");
  }
}

TEST(StageChanges, ProtectionBlocksDiskRemoval) {
  GuestConfig c = conf("protection: 1\nscsi0: local:100/vm-100-disk-0.raw\nunused0: local:100/vm-100-disk-1.raw\n");
  try {
    stage_changes(c, changes({{"delete", "scsi0"}}), 100);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "can't remove drive 'scsi0' - protection mode enabled");
  }
  try {
    stage_changes(c, changes({{"delete", "unused0"}}), 100);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "can't remove unused disk 'local:100/vm-100-disk-1.raw' - protection mode enabled");
  }
}

TEST(StageChanges, ReplacingAPendingDiskKeepsItsVolumeAsUnused) {
  GuestConfig c = conf("cores: 1\n\n[PENDING]\nscsi1: local:100/vm-100-disk-1.raw,size=1G\n");
  stage_changes(c, changes({{"scsi1", "local:100/vm-100-disk-2.raw,size=2G"}}), 100);
  EXPECT_EQ(c.pending.get("scsi1"), "local:100/vm-100-disk-2.raw,size=2G");
  EXPECT_EQ(c.main.get("unused0"), "local:100/vm-100-disk-1.raw");
  // Deleting a pending-only disk keeps its volume as well; the delete itself has nothing to do.
  stage_changes(c, changes({{"delete", "scsi1"}}), 100);
  EXPECT_FALSE(c.pending.has("scsi1"));
  EXPECT_EQ(c.main.get("unused1"), "local:100/vm-100-disk-2.raw");
  EXPECT_TRUE(c.pending_delete.empty());
}

TEST(StageChanges, Revert) {
  GuestConfig c = conf("cores: 1\nmemory: 512\n\n[PENDING]\ncores: 4\ndelete: memory\nname: new\n");
  stage_changes(c, changes({{"revert", "cores,memory,name"}}));
  EXPECT_FALSE(c.has_pending());
  EXPECT_EQ(print_guest_config(c), "cores: 1\nmemory: 512\n");
}

TEST(StageChanges, BootOrderFollowsDevices) {
  GuestConfig c = conf("boot: order=scsi0;ide2;net0\nide2: none,media=cdrom\nnet0: virtio=BC:24:11:00:00:01\n"
                       "scsi0: local:100/vm-100-disk-0.raw\n");
  stage_changes(c, changes({{"delete", "net0"}}));
  EXPECT_EQ(c.pending.get("boot"), "order=scsi0;ide2");
  stage_changes(c, changes({{"sata0", "local:iso/x.iso,media=cdrom"}}));
  EXPECT_EQ(c.pending.get("boot"), "order=scsi0;ide2;sata0");
  try {
    stage_changes(c, changes({{"boot", "order=scsi0;virtio5"}}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "invalid bootorder: device 'virtio5' does not exist'");
  }
  GuestConfig legacy = conf("bootdisk: scsi0\nscsi0: local:100/vm-100-disk-0.raw\n");
  stage_changes(legacy, changes({{"boot", "order=scsi0"}}));
  EXPECT_EQ(legacy.pending.get("boot"), "order=scsi0");
  EXPECT_EQ(legacy.pending_delete.count("bootdisk"), 1u);
}

TEST(StageChanges, TagsAndPasswordAndBalloon) {
  GuestConfig c = conf("memory: 1024\n");
  stage_changes(c, changes({{"tags", "Web;db,web"}, {"cipassword", "$6$salt$hash"}}));
  EXPECT_EQ(c.pending.get("tags"), "db;web");
  EXPECT_EQ(c.main.get("cipassword"), "$6$salt$hash");
  try {
    stage_changes(c, changes({{"balloon", 2048}}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "balloon value too large (must be smaller than assigned memory)");
  }
  EXPECT_NO_THROW(stage_changes(c, changes({{"balloon", 512}})));
}

TEST(StageChanges, DeletingTheStateOfASuspendedVm) {
  GuestConfig c = conf("lock: suspended\nrunningmachine: pc-i440fx-7.2+pve0\nvmstate: local:100/vm-100-state-suspend.raw\n");
  StageResult r = stage_changes(c, changes({{"delete", "vmstate"}}), 100);
  EXPECT_EQ(r.volumes_to_free, (std::vector<std::string>{"local:100/vm-100-state-suspend.raw"}));
  EXPECT_FALSE(c.main.has("vmstate"));
  EXPECT_EQ(c.pending_delete, (std::map<std::string, bool>{{"lock", false}, {"runningmachine", false}}));
}

TEST(ApplyPending, MovesPendingIntoMain) {
  GuestConfig c = conf("#old\ncores: 1\nmemory: 512\nnet0: virtio=BC:24:11:00:00:01\n\n[PENDING]\n#new\ncores: 2\n"
                       "delete: memory,net0\n");
  ApplyInfo info;
  auto to_free = apply_pending(c, 100, &info);
  EXPECT_TRUE(to_free.empty());
  EXPECT_TRUE(info.errors.empty());
  EXPECT_FALSE(c.has_pending());
  EXPECT_EQ(print_guest_config(c), "#new\ncores: 2\n");
}

TEST(ApplyPending, DisksBecomeUnusedOrAreFreed) {
  GuestConfig c = conf("ide2: local:iso/x.iso,media=cdrom\nscsi0: local:100/vm-100-disk-0.raw,size=1G\n"
                       "scsi1: local:100/vm-100-disk-1.raw,size=1G\nscsi2: local:100/vm-100-disk-2.raw\n"
                       "scsi3: /dev/sdb\n"
                       "\n[PENDING]\ndelete: ide2,scsi0,!scsi1,!scsi3\n"
                       "scsi2: local:100/vm-100-disk-5.raw,size=5G\n");
  auto to_free = apply_pending(c, 100);
  EXPECT_EQ(to_free, (std::vector<std::string>{"local:100/vm-100-disk-1.raw"}));
  EXPECT_EQ(print_guest_config(c),
            "scsi2: local:100/vm-100-disk-5.raw,size=5G\n"
            "unused0: local:100/vm-100-disk-0.raw\nunused1: local:100/vm-100-disk-2.raw\n");
}

TEST(ApplyPending, OptionChangeOnTheSameVolumeAddsNoUnused) {
  GuestConfig c = conf("scsi0: local:100/vm-100-disk-0.raw,size=1G\n\n[PENDING]\nscsi0: local:100/vm-100-disk-0.raw,iothread=1,size=1G\n");
  EXPECT_TRUE(apply_pending(c, 100).empty());
  EXPECT_EQ(print_guest_config(c), "scsi0: local:100/vm-100-disk-0.raw,iothread=1,size=1G\n");
  EXPECT_FALSE(c.main.has("unused0"));
}

TEST(ApplyPending, CloudinitDrives) {
  GuestConfig c = conf("ide2: local:100/vm-100-cloudinit.qcow2,media=cdrom\n\n[PENDING]\ndelete: ide2\n"
                       "\n[special:cloudinit]\nname: x\n");
  EXPECT_EQ(apply_pending(c, 100), (std::vector<std::string>{"local:100/vm-100-cloudinit.qcow2"}));
  EXPECT_TRUE(c.special.empty());
  GuestConfig d = conf("cores: 1\n\n[PENDING]\nide2: local:100/vm-100-cloudinit.qcow2,media=cdrom\n");
  ApplyInfo info;
  apply_pending(d, 100, &info);
  EXPECT_TRUE(info.cloudinit_changed);
}

TEST(ApplyPending, ForcedDeleteOfADiskASnapshotUsesFails) {
  GuestConfig c = conf("scsi0: local:100/vm-100-disk-0.qcow2\n\n[PENDING]\ndelete: !scsi0\n"
                       "\n[s1]\nscsi0: local:100/vm-100-disk-0.qcow2\n");
  ApplyInfo info;
  EXPECT_TRUE(apply_pending(c, 100, &info).empty());
  ASSERT_EQ(info.errors.count("scsi0"), 1u);
  EXPECT_EQ(info.errors["scsi0"],
            "unable to apply pending change scsi0 : unable to delete 'local:100/vm-100-disk-0.qcow2' - volume is still in use (snapshot?)");
  EXPECT_TRUE(c.main.has("scsi0"));
  EXPECT_TRUE(c.pending_delete.at("scsi0"));
}

TEST(Hotplug, FastPlugAndFeatures) {
  GuestConfig c = conf("cores: 1\nname: a\n\n[PENDING]\n#d\ncores: 2\ndelete: onboot\nname: b\n");
  c.main.values["onboot"] = "1";
  auto applied = apply_fast_plug(c);
  EXPECT_EQ(applied, (std::vector<std::string>{"description", "name", "onboot"}));
  EXPECT_EQ(c.main.get("name"), "b");
  EXPECT_FALSE(c.main.has("onboot"));
  EXPECT_EQ(c.main.description, "d");
  EXPECT_EQ(c.pending.get("cores"), "2");

  ConfigSection def;
  EXPECT_EQ(hotplug_features(def), (std::set<std::string>{"network", "disk", "usb"}));
  EXPECT_TRUE(is_hotpluggable("net3", def));
  EXPECT_TRUE(is_hotpluggable("scsi2", def));
  EXPECT_TRUE(is_hotpluggable("virtio0", def));
  EXPECT_FALSE(is_hotpluggable("ide1", def));
  EXPECT_FALSE(is_hotpluggable("efidisk0", def));
  EXPECT_FALSE(is_hotpluggable("cores", def));
  EXPECT_FALSE(is_hotpluggable("memory", def));
  EXPECT_TRUE(is_hotpluggable("balloon", def));
  EXPECT_TRUE(is_hotpluggable("ipconfig0", def));
  ConfigSection none;
  none.values["hotplug"] = "0";
  EXPECT_TRUE(hotplug_features(none).empty());
  EXPECT_FALSE(is_hotpluggable("net0", none));
  EXPECT_TRUE(is_hotpluggable("name", none));
  ConfigSection mem;
  mem.values["hotplug"] = "memory,cpu";
  EXPECT_TRUE(is_hotpluggable("memory", mem));
  EXPECT_TRUE(is_hotpluggable("vcpus", mem));
  EXPECT_FALSE(is_hotpluggable("hotplug", mem));
}

TEST(Views, ConfigJson) {
  GuestConfig c = conf("#about\nacpi: 1\ncipassword: $6$x$y\ncores: 1\nmemory: 512\nballoon: 0\nname: a\n"
                       "\n[PENDING]\ncores: 2\ndelete: name,balloon\n\n[s1]\ncores: 9\n");
  Json pending_view = config_json(c, false, "d1");
  EXPECT_EQ(pending_view, Json::parse(R"({"acpi": 1, "balloon": 0, "cipassword": "**********", "cores": 2,
                                          "description": "about", "digest": "d1", "memory": "512"})"));
  Json current = config_json(c, true, "d1");
  EXPECT_EQ(current["cores"], 1);
  EXPECT_EQ(current["name"], "a");
  Json snap = snapshot_config_json(c.snapshots.at("s1"), "d1");
  EXPECT_EQ(snap, Json::parse(R"({"cores": 9, "digest": "d1"})"));
}

TEST(Views, PendingJson) {
  GuestConfig c = conf("#about\ncipassword: $6$x$y\ncores: 1\nname: a\n\n[PENDING]\ncipassword: $6$a$b\ncores: 2\n"
                       "delete: name,!scsi1\nmemory: 1024\n");
  EXPECT_EQ(pending_json(c, "d1"), Json::parse(R"([
    {"key": "cipassword", "value": "**********", "pending": "********** "},
    {"key": "cores", "value": 1, "pending": 2},
    {"key": "description", "value": "about"},
    {"key": "digest", "value": "d1"},
    {"key": "memory", "pending": "1024"},
    {"key": "name", "value": "a", "delete": 1},
    {"key": "scsi1", "delete": 2}
  ])"));
}

TEST(Views, BootOrder) {
  ConfigSection s;
  EXPECT_TRUE(boot_order(s).empty());
  s.values["boot"] = "order=scsi0;net0";
  EXPECT_EQ(boot_order(s), (std::vector<std::string>{"scsi0", "net0"}));
  s.values["boot"] = "cdn";
  EXPECT_TRUE(boot_order(s).empty());
}

}  // namespace
}  // namespace pvx::guest::qemu
