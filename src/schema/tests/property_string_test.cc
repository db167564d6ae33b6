#include <gtest/gtest.h>

#include "schema/validate.h"

namespace pvx::schema {
namespace {

// A NIC in the shape of qemu-server's net[n].
const Schema& nic_keys() {
  static const Schema kNic = *property_string(
                                  {
                                      {"model", enumeration({"e1000", "rtl8139", "virtio", "vmxnet3"}, "NIC model.")},
                                      {"macaddr", std_opt::mac_addr()},
                                      {"bridge", std_opt::bridge_id().opt()},
                                      {"firewall", boolean("Use the firewall.").opt()},
                                      {"tag", integer("VLAN tag.").min(1).max(4094).opt()},
                                      {"e1000", key_alias_of("model", "macaddr")},
                                      {"rtl8139", key_alias_of("model", "macaddr")},
                                      {"virtio", key_alias_of("model", "macaddr")},
                                      {"vmxnet3", key_alias_of("model", "macaddr")},
                                  },
                                  "model")
                                  .format_object;
  return kNic;
}

const Schema& disk_keys() {
  static const Schema kDisk = *property_string(
                                   {
                                       {"file", string("Volume.").fmt("pve-volume-id-or-qm-path").fmt_desc("volume")},
                                       {"volume", alias_of("file")},
                                       {"size", string("Size.").fmt("disk-size").fmt_desc("DiskSize").opt()},
                                       {"cache", enumeration({"none", "writeback"}).opt()},
                                       {"ssd", boolean().opt()},
                                   },
                                   "file")
                                   .format_object;
  return kDisk;
}

std::string parse_error(const Schema& keys, std::string_view text) {
  try {
    parse_property_string(keys, text, "net0");
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    auto it = e.params().find("net0");
    return it == e.params().end() ? "<unnamed>" : it->second;
  }
  return "<no error>";
}

TEST(PropertyString, ParsesNicWithKeyAlias) {
  Json v = parse_property_string(nic_keys(), "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1", "net0");
  EXPECT_EQ(v, (Json{{"model", "virtio"}, {"macaddr", "BC:24:11:AA:BB:CC"}, {"bridge", "vmbr0"}, {"firewall", true}}));
  EXPECT_EQ(print_property_string(nic_keys(), v), "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1");
}

TEST(PropertyString, CanonicalOrder) {
  Json v = parse_property_string(nic_keys(), "tag=10,firewall=yes,bridge=vmbr0,virtio=BC:24:11:AA:BB:CC", "net0");
  EXPECT_EQ(v["tag"], 10);
  EXPECT_EQ(print_property_string(nic_keys(), v), "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1,tag=10");
  // Without a MAC the model is printed alone, unnamed.
  Json m = parse_property_string(nic_keys(), "bridge=vmbr1,model=e1000,firewall=off", "net0");
  EXPECT_EQ(print_property_string(nic_keys(), m), "e1000,bridge=vmbr1,firewall=0");
}

TEST(PropertyString, RequiredKeysComeBeforeOptionalOnes) {
  Schema keys = *property_string({{"a", string().opt()}, {"m", integer().opt()}, {"z", string()}}).format_object;
  Json v = parse_property_string(keys, "a=1,m=2,z=3", "p");
  EXPECT_EQ(print_property_string(keys, v), "z=3,a=1,m=2");
}

TEST(PropertyString, BooleanSpellingsInside) {
  for (const char* t : {"1", "on", "yes", "true", "TRUE"}) {
    Json v = parse_property_string(nic_keys(), std::string("virtio,firewall=") + t, "net0");
    EXPECT_EQ(v["firewall"], true) << t;
  }
  for (const char* f : {"0", "off", "no", "false"}) {
    Json v = parse_property_string(nic_keys(), std::string("virtio,firewall=") + f, "net0");
    EXPECT_EQ(v["firewall"], false) << f;
  }
  EXPECT_EQ(parse_error(nic_keys(), "virtio,firewall=maybe"),
            "invalid format - format error\nnet0.firewall: type check ('boolean') failed - got 'maybe'");
}

TEST(PropertyString, DiskWithAliasAndSize) {
  Json v = parse_property_string(disk_keys(), "volume=local-lvm:vm-100-disk-0,size=32G,ssd=1", "scsi0");
  EXPECT_EQ(v["file"], "local-lvm:vm-100-disk-0");
  EXPECT_FALSE(v.contains("volume"));
  EXPECT_EQ(print_property_string(disk_keys(), v), "local-lvm:vm-100-disk-0,size=32G,ssd=1");
  Json bytes = {{"file", "local:100/vm-100-disk-0.qcow2"}, {"size", 540672}, {"cache", "none"}};
  EXPECT_EQ(print_property_string(disk_keys(), bytes), "local:100/vm-100-disk-0.qcow2,cache=none,size=528K");
  Json text_size = {{"file", "local:iso/x.iso"}, {"size", "34359738368"}};
  EXPECT_EQ(print_property_string(disk_keys(), text_size), "local:iso/x.iso,size=32G");
}

TEST(PropertyString, Errors) {
  EXPECT_EQ(parse_error(nic_keys(), "virtio,bridge=a,bridge=b"),
            "invalid format - duplicate key in comma-separated list property: bridge");
  EXPECT_EQ(parse_error(nic_keys(), "virtio,e1000"), "invalid format - duplicate key in comma-separated list property: model");
  EXPECT_EQ(parse_error(nic_keys(), "model=virtio,e1000"), "invalid format - duplicate key in comma-separated list property: model");
  EXPECT_EQ(parse_error(nic_keys(), "virtio=BC:24:11:AA:BB:CC,e1000=BC:24:11:AA:BB:CD"),
            "invalid format - key alias 'model' is already defined");
  EXPECT_EQ(parse_error(nic_keys(), "virtio,bridge="), "invalid format - missing key in comma-separated list property");
  EXPECT_EQ(parse_error(nic_keys(), "virtio,foo=1"),
            "invalid format - format error\nnet0.foo: property is not defined in schema and the schema does not allow "
            "additional properties");
  EXPECT_EQ(parse_error(nic_keys(), "bridge=vmbr0"), "invalid format - format error\nnet0.model: property is missing and it is not optional");
  EXPECT_EQ(parse_error(nic_keys(), "virtio,tag=0,bridge=a b"),
            "invalid format - format error\nnet0.bridge: invalid format - invalid bridge ID 'a b'\n"
            "net0.tag: value must have a minimum value of 1");
  EXPECT_EQ(parse_error(nic_keys(), "virtio=01:00:00:00:00:00"),
            "invalid format - format error\nnet0.macaddr: invalid format - value does not look like a valid unicast MAC address");
  EXPECT_EQ(parse_error(disk_keys(), "file=local:b,volume=local:a"),
            "invalid format - key 'file' is already defined (via alias)");
  EXPECT_EQ(parse_error(disk_keys(), "volume=local:a,file=local:b"),
            "invalid format - duplicate key in comma-separated list property: file");
  Schema no_default = *property_string({{"a", string().opt()}}).format_object;
  EXPECT_EQ(parse_error(no_default, "x"), "invalid format - value without key, but schema does not define a default key");
}

TEST(PropertyString, BlankPartsAreSkipped) {
  Json v = parse_property_string(nic_keys(), "virtio, ,bridge=vmbr0,", "net0");
  EXPECT_EQ(v, (Json{{"model", "virtio"}, {"bridge", "vmbr0"}}));
}

TEST(PropertyString, PrintRefusesBadData) {
  EXPECT_THROW(print_property_string(nic_keys(), Json{{"model", "virtio"}, {"bridge", "a,b"}}), Error);
  EXPECT_THROW(print_property_string(nic_keys(), Json{{"model", "virtio"}, {"tag", 9000}}), Error);
  EXPECT_THROW(print_property_string(nic_keys(), Json{{"bridge", "vmbr0"}}), Error);  // model is required
}

TEST(PropertyString, RoundTrips) {
  for (const char* text : {"virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1,tag=10", "e1000,bridge=vmbr0",
                           "rtl8139=02:00:00:00:00:01,firewall=0"}) {
    EXPECT_EQ(print_property_string(nic_keys(), parse_property_string(nic_keys(), text, "net0")), text);
  }
}

}  // namespace
}  // namespace pvx::schema
