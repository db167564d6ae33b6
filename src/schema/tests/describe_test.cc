#include "schema/describe.h"

#include <gtest/gtest.h>

namespace pvx::schema {
namespace {

// qemu-server's net[n] keys, enough to reproduce the reference type text.
Schema qemu_net() {
  std::vector<std::string> models = {"e1000", "e1000-82540em", "e1000-82544gc", "e1000-82545em", "e1000e",
                                     "i82551", "i82557b", "i82559er", "ne2k_isa", "ne2k_pci",
                                     "pcnet", "rtl8139", "virtio", "vmxnet3"};
  std::vector<std::pair<std::string, Schema>> keys = {
      {"model", enumeration(models, "Network Card Model.")},
      {"macaddr", string("MAC address.").fmt("mac-addr").fmt_desc("XX:XX:XX:XX:XX:XX").opt()},
      {"bridge", string("Bridge.").fmt("pve-bridge-id").fmt_desc("bridge").opt()},
      {"firewall", boolean("Whether this interface should be protected by the firewall.").opt()},
      {"link_down", boolean("Disconnect.").opt()},
      {"mtu", integer("MTU.").min(1).max(65520).opt()},
      {"queues", integer("Queues.").min(0).max(64).opt()},
      {"rate", number("Rate.").min(0).opt()},
      {"tag", integer("VLAN tag.").min(1).max(4094).opt()},
      {"trunks", string("Trunks.").pat("\\d+(?:-\\d+)?(?:;\\d+(?:-\\d+)?)*").fmt_desc("vlanid[;vlanid...]").opt()},
  };
  for (const auto& m : models) keys.emplace_back(m, key_alias_of("model", "macaddr"));
  return property_string(std::move(keys), "model", "Specify network devices.").opt();
}

TEST(TypeText, MatchesReferenceStrings) {
  EXPECT_EQ(type_text(std_opt::vmid()), "<integer> (100 - 999999999)");
  EXPECT_EQ(type_text(integer().min(1).def(1)), "<integer> (1 - N)");
  EXPECT_EQ(type_text(integer().min(0).max(65535)), "<integer> (0 - 65535)");
  EXPECT_EQ(type_text(integer().max(5)), "<integer> (-N - 5)");
  EXPECT_EQ(type_text(number().min(1)), "<number> (1 - N)");
  EXPECT_EQ(type_text(number().min(0.5).max(1.5)), "<number> (0.5 - 1.5)");
  EXPECT_EQ(type_text(integer()), "<integer>");
  EXPECT_EQ(type_text(boolean()), "<boolean>");
  EXPECT_EQ(type_text(string()), "<string>");
  EXPECT_EQ(type_text(std_opt::node()), "<string>");
  EXPECT_EQ(type_text(std_opt::storage_id()), "<storage ID>");
  EXPECT_EQ(type_text(array(string())), "<array>");
  EXPECT_EQ(type_text(enumeration({"stop", "snapshot", "suspend"})), "<snapshot | stop | suspend>");
  EXPECT_EQ(type_text(string().pat("(ide|sata|scsi|virtio)\\d+")), "(ide|sata|scsi|virtio)\\d+");
  EXPECT_EQ(type_text(std_opt::startup_order()), "[[order=]\\d+] [,up=\\d+] [,down=\\d+] ");
}

TEST(TypeText, PropertyStrings) {
  EXPECT_EQ(type_text(qemu_net()),
            "[model=]<enum> [,bridge=<bridge>] [,firewall=<1|0>] [,link_down=<1|0>] "
            "[,macaddr=<XX:XX:XX:XX:XX:XX>] [,mtu=<integer>] [,queues=<integer>] [,rate=<number>] "
            "[,tag=<integer>] [,trunks=<vlanid[;vlanid...]>] [,<model>=<macaddr>]");
  EXPECT_EQ(type_text(property_string({{"current", integer("RAM.").min(16).def(512)}}, "current")), "[current=]<integer>");
  EXPECT_EQ(type_text(property_string({{"address", string().fmt("ip").fmt_desc("IP")},
                                       {"priority", integer().min(0).max(255).def(0).opt()}},
                                      "address")),
            "[address=]<IP> [,priority=<integer>]");
  Schema disk = property_string(
      {
          {"file", string().fmt("pve-volume-id-or-qm-path").fmt_desc("volume")},
          {"volume", alias_of("file")},
          {"aio", enumeration({"native", "threads", "io_uring"}).opt()},
          {"backup", boolean().opt()},
          {"cache", enumeration({"none", "writethrough", "writeback", "unsafe", "directsync"}).opt()},
          {"size", string().fmt("disk-size").fmt_desc("DiskSize").opt()},
      },
      "file");
  EXPECT_EQ(type_text(disk),
            "[file=]<volume> [,aio=<native|threads|io_uring>] [,backup=<1|0>] [,cache=<enum>] [,size=<DiskSize>]");
  EXPECT_EQ(config_type_text(disk),
            "[file=]<volume> [,aio=<native|threads|io_uring>] [,backup=<1|0>] "
            "[,cache=<none|writethrough|writeback|unsafe|directsync>] [,size=<DiskSize>]");
  // Required keys come right after the default key.
  EXPECT_EQ(type_text(property_string({{"b", string().fmt_desc("B").opt()}, {"a", string().fmt_desc("A")}})), "a=<A> [,b=<B>]");
}

TEST(PveJson, VmidMatchesReference) {
  Json reference = Json::parse(R"J({
    "type": "integer", "format": "pve-vmid", "minimum": 100, "maximum": 999999999,
    "typetext": "<integer> (100 - 999999999)", "description": "The (unique) ID of the VM."})J");
  EXPECT_EQ(to_pve_param_json(std_opt::vmid()), reference);
  reference.erase("typetext");
  EXPECT_EQ(to_pve_json(std_opt::vmid()), reference);
  EXPECT_EQ(to_pve_json(std_opt::vmid()).dump(), reference.dump());  // integers, not 100.0
}

TEST(PveJson, StandardOptionsMatchReference) {
  EXPECT_EQ(to_pve_param_json(std_opt::node()), Json::parse(R"J({"type": "string", "format": "pve-node",
    "typetext": "<string>", "description": "The cluster node name."})J"));
  EXPECT_EQ(to_pve_param_json(std_opt::storage_id().opt()), Json::parse(R"J({"description": "The storage identifier.",
    "format": "pve-storage-id", "format_description": "storage ID", "optional": 1, "type": "string",
    "typetext": "<storage ID>"})J"));
  EXPECT_EQ(to_pve_param_json(std_opt::userid()), Json::parse(R"J({"description": "Full User ID, in the `name@realm` format.",
    "format": "pve-userid", "maxLength": 64, "type": "string", "typetext": "<string>"})J"));
  EXPECT_EQ(to_pve_param_json(std_opt::digest()), Json::parse(R"J({"description": "Prevent changes if current configuration file has a different digest. This can be used to prevent concurrent modifications.",
    "maxLength": 64, "optional": 1, "type": "string", "typetext": "<string>"})J"));
  EXPECT_EQ(to_pve_param_json(std_opt::realm()), Json::parse(R"J({"description": "Authentication domain ID",
    "format": "pve-realm", "maxLength": 32, "type": "string", "typetext": "<string>"})J"));
  EXPECT_EQ(to_pve_param_json(std_opt::poolid()), Json::parse(R"J({"format": "pve-poolid", "type": "string", "typetext": "<string>"})J"));
  EXPECT_EQ(to_pve_param_json(std_opt::tokenid()), Json::parse(R"J({"description": "User-specific token identifier.",
    "pattern": "[A-Za-z][A-Za-z0-9\\.\\-_]+", "type": "string"})J"));
  EXPECT_EQ(to_pve_param_json(std_opt::upid()), Json::parse(R"J({"description": "The task's unique ID.", "type": "string", "typetext": "<string>"})J"));
}

TEST(PveJson, EnumsAndBooleans) {
  // Enum parameters carry no derived typetext in the dump; boolean defaults are 0/1.
  EXPECT_EQ(to_pve_param_json(enumeration({"other", "l26"}, "OS.").def("other").opt()),
            Json::parse(R"J({"type": "string", "enum": ["other", "l26"], "optional": 1, "default": "other", "description": "OS."})J"));
  EXPECT_EQ(to_pve_param_json(boolean("Start at boot.").def(false).opt()),
            Json::parse(R"J({"type": "boolean", "optional": 1, "default": 0, "typetext": "<boolean>", "description": "Start at boot."})J"));
}

TEST(PveJson, PropertyStringFormatObject) {
  Json j = to_pve_param_json(qemu_net());
  EXPECT_EQ(j["type"], "string");
  EXPECT_EQ(j["optional"], 1);
  EXPECT_EQ(j["format"]["model"]["default_key"], 1);
  EXPECT_EQ(j["format"]["virtio"], Json::parse(R"J({"alias": "macaddr", "keyAlias": "model"})J"));
  EXPECT_EQ(j["format"]["firewall"], Json::parse(R"J({"description": "Whether this interface should be protected by the firewall.",
    "optional": 1, "type": "boolean"})J"));
  EXPECT_EQ(j["format"]["tag"], Json::parse(R"J({"description": "VLAN tag.", "maximum": 4094, "minimum": 1, "optional": 1, "type": "integer"})J"));
  EXPECT_EQ(j["typetext"], type_text(qemu_net()));
  // A named property-string format is shown by name.
  EXPECT_EQ(to_pve_json(property_string({{"gw", string().fmt("ipv4").fmt_desc("GatewayIPv4").opt()}}).fmt("pve-qm-ipconfig"))["format"],
            "pve-qm-ipconfig");
}

TEST(PveJson, ObjectsArraysAndLinks) {
  Schema ret = array(object({{"subdir", string()}})).link("{subdir}");
  EXPECT_EQ(to_pve_json(ret), Json::parse(R"J({"type": "array", "items": {"type": "object",
    "properties": {"subdir": {"type": "string"}}}, "links": [{"href": "{subdir}", "rel": "child"}]})J"));
  Schema free = object({}).additional();
  EXPECT_EQ(to_pve_json(free), Json::parse(R"J({"type": "object", "additionalProperties": 1})J"));
  Schema params = object({{"node", std_opt::node()}, {"vmid", std_opt::vmid().opt()}});
  Json dump = to_pve_parameters(params);
  EXPECT_EQ(dump["vmid"]["optional"], 1);
  EXPECT_EQ(dump["node"]["typetext"], "<string>");
  EXPECT_EQ(to_pve_json(string().req("target").with_title("T").render("bytes"))["requires"], "target");
}

TEST(JsonSchema, Shapes) {
  Schema s = object({
      {"vmid", std_opt::vmid()},
      {"name", string("Name.").min_len(1).max_len(64).opt()},
      {"template", boolean().opt()},
      {"mode", enumeration({"a", "b"}).def("a").opt()},
      {"host", string().pat("[a-z]+").opt()},
      {"mail", string().fmt("email").opt()},
      {"tags", array(string()).opt()},
  });
  Json j = to_json_schema(s);
  EXPECT_EQ(j["type"], "object");
  EXPECT_EQ(j["required"], Json::array({"vmid"}));
  EXPECT_EQ(j["additionalProperties"], false);
  EXPECT_EQ(j["properties"]["vmid"], Json::parse(R"J({"type": "integer", "minimum": 100, "maximum": 999999999,
    "description": "The (unique) ID of the VM.", "x-pve-format": "pve-vmid"})J"));
  EXPECT_EQ(j["properties"]["template"]["type"], Json::array({"boolean", "integer"}));
  EXPECT_EQ(j["properties"]["mode"]["enum"], Json::array({"a", "b"}));
  EXPECT_EQ(j["properties"]["mode"]["default"], "a");
  EXPECT_EQ(j["properties"]["host"]["pattern"], "^(?:[a-z]+)$");
  EXPECT_EQ(j["properties"]["mail"]["format"], "email");
  EXPECT_EQ(j["properties"]["name"]["maxLength"], 64);
  EXPECT_EQ(j["properties"]["tags"]["items"]["type"], "string");
  EXPECT_EQ(to_json_schema(null_type()), Json::parse(R"J({"type": "null"})J"));
  EXPECT_EQ(to_json_schema(any()), Json::object());
  EXPECT_EQ(to_json_schema(qemu_net())["x-pve-typetext"], type_text(qemu_net()));
}

}  // namespace
}  // namespace pvx::schema
