#include "guest/qemu/vm_schema.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <set>

#include "base/error.h"
#include "guest/pve_schema_json.h"
#include "schema/describe.h"
#include "schema/formats.h"

namespace pvx::guest::qemu {
namespace {

using schema::Json;

std::string param_error(const std::string& key, const std::string& value) {
  try {
    check_vm_value(key, value);
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    auto it = e.params().find(key);
    return it == e.params().end() ? std::string("(no message for the key) ") + e.what() : it->second;
  }
  return "";
}

TEST(VmSchema, KeysAreExpandedAndSorted) {
  const auto& params = vm_config_params();
  std::set<std::string> names;
  for (const auto& [name, s] : params) {
    names.insert(name);
    EXPECT_TRUE(s.optional) << name;
  }
  EXPECT_EQ(names.size(), params.size());
  EXPECT_TRUE(std::is_sorted(params.begin(), params.end(), [](const auto& a, const auto& b) { return a.first < b.first; }));
  for (const char* k : {"scsi0", "scsi30", "ide3", "sata5", "virtio15", "net31", "unused255", "ipconfig31",
                        "hostpci15", "usb13", "numa7", "serial3", "parallel2", "virtiofs9", "efidisk0",
                        "tpmstate0", "memory", "cores", "cdrom", "description", "tags", "boot", "cpu", "lock"}) {
    EXPECT_TRUE(names.count(k)) << k;
  }
  for (const char* k : {"scsi31", "ide4", "net32", "scsi[n]", "node", "vmid", "digest", "delete", "revert", "force",
                        "skiplock", "background_delay", "parent", "snaptime", "vmstate", "runningmachine"}) {
    EXPECT_FALSE(names.count(k)) << k;
  }
}

TEST(VmSchema, TypesFollowTheReference) {
  ASSERT_NE(vm_key_schema("cores"), nullptr);
  EXPECT_EQ(vm_key_schema("cores")->type, schema::Type::Integer);
  EXPECT_EQ(vm_key_schema("cores")->default_value, 1);
  EXPECT_EQ(vm_key_schema("cpulimit")->type, schema::Type::Number);
  EXPECT_EQ(vm_key_schema("acpi")->type, schema::Type::Boolean);
  EXPECT_EQ(vm_key_schema("memory")->type, schema::Type::String);
  EXPECT_EQ(vm_key_schema("parent"), nullptr);
  EXPECT_EQ(vm_key_schema("scsi31"), nullptr);

  const schema::Schema* drive = vm_key_format("scsi3");
  ASSERT_NE(drive, nullptr);
  EXPECT_EQ(drive->default_key, "file");
  ASSERT_NE(drive->property("volume"), nullptr);
  EXPECT_EQ(drive->property("volume")->alias, "file");
  const schema::Schema* net = vm_key_format("net0");
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(net->default_key, "model");
  ASSERT_NE(net->property("virtio"), nullptr);
  EXPECT_EQ(net->property("virtio")->key_alias, "model");
  EXPECT_EQ(net->property("virtio")->alias, "macaddr");
  EXPECT_EQ(vm_key_format("cores"), nullptr);
  // Named formats the dump does not spell out get their keys too.
  ASSERT_NE(vm_key_format("boot"), nullptr);
  EXPECT_NE(vm_key_format("boot")->property("order"), nullptr);
  EXPECT_EQ(vm_key_schema("boot")->format, "pve-qm-boot");
  ASSERT_NE(vm_key_format("ipconfig0"), nullptr);
  EXPECT_NE(vm_key_format("ipconfig0")->property("gw6"), nullptr);
  ASSERT_NE(vm_key_format("cdrom"), nullptr);
  EXPECT_NE(vm_key_format("cdrom")->property("media"), nullptr);
  EXPECT_EQ(vm_key_format("cpu")->default_key, "cputype");
}

TEST(VmSchema, EveryFormatNameIsCheckable) {
  // A format name validation cannot check would throw std::logic_error at request time.
  std::function<void(const schema::Schema&, const std::string&)> walk = [&](const schema::Schema& s, const std::string& path) {
    if (!s.format.empty() && !s.format_object) {
      EXPECT_TRUE(schema::format_known(s.format)) << path << ": " << s.format;
    }
    if (s.format_object) {
      for (const auto& [k, ks] : s.format_object->properties) walk(*ks, path + "." + k);
    }
  };
  for (const auto& [name, s] : vm_config_params()) walk(s, name);
}

TEST(VmSchema, GoodValuesPass) {
  for (auto [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"cores", "4"},
           {"acpi", "on"},
           {"cpulimit", "1.5"},
           {"memory", "4096"},
           {"memory", "current=2048"},
           {"name", "ci-builder"},
           {"boot", "order=scsi0;ide2;net0"},
           {"boot", "cdn"},
           {"cpu", "x86-64-v2-AES,flags=+aes;-pcid"},
           {"scsi0", "local:100/vm-100-disk-0.qcow2,discard=on,iothread=1,size=32G"},
           {"ide2", "none,media=cdrom"},
           {"net0", "virtio=BC:24:11:4A:2F:01,bridge=vmbr0,firewall=1,tag=20,trunks=10;20-30"},
           {"ipconfig0", "ip=10.0.0.5/24,gw=10.0.0.1"},
           {"smbios1", "uuid=3d9f0c4e-7a51-4c1b-9e0d-5b2f6a8c1e77"},
           {"agent", "1,fstrim_cloned_disks=1"},
           {"tags", "build;ci"},
           {"startup", "order=1,up=30"},
           {"hotplug", "network,disk"},
           {"serial0", "socket"},
           {"bootdisk", "scsi0"},
           {"vmgenid", "a1c2e3f4-0b1d-4e2f-8a9b-7c6d5e4f3a21"},
           {"lock", "backup"},
           {"watchdog", "i6300esb,action=reset"},
           {"rng0", "source=/dev/urandom"},
           {"description", "free text: 100%"},
       }) {
    EXPECT_NO_THROW(check_vm_value(k, v)) << k << "=" << v;
  }
}

TEST(VmSchema, BadValuesName400Key) {
  EXPECT_EQ(param_error("cores", "0"), "value must have a minimum value of 1");
  EXPECT_NE(param_error("cores", "many").find("type check ('integer') failed"), std::string::npos);
  EXPECT_NE(param_error("acpi", "maybe"), "");
  EXPECT_NE(param_error("scsi0", "local:100/x.raw,discard=sometimes"), "");
  EXPECT_NE(param_error("scsi0", "local:100/x.raw,bogus=1"), "");
  EXPECT_NE(param_error("net0", "virtio=01:00:00:00:00:01,bridge=vmbr0"), "");  // multicast MAC
  EXPECT_NE(param_error("net0", "virtio,tag=5000"), "");
  EXPECT_NE(param_error("boot", "order=floppy0"), "");
  EXPECT_NE(param_error("ostype", "beos"), "");
  EXPECT_NE(param_error("name", "not a dns name"), "");
  EXPECT_NE(param_error("bootdisk", "floppy0"), "");
  EXPECT_NE(param_error("lock", "weird"), "");
  EXPECT_NE(param_error("nosuchkey", "1"), "");
}

TEST(VmSchema, ValueJsonTypes) {
  EXPECT_EQ(vm_value_json("cores", "4"), Json(4));
  EXPECT_EQ(vm_value_json("acpi", "1"), Json(1));
  EXPECT_EQ(vm_value_json("acpi", "off"), Json(0));
  EXPECT_EQ(vm_value_json("onboot", "yes"), Json(1));
  EXPECT_EQ(vm_value_json("cpulimit", "0.5"), Json(0.5));
  EXPECT_EQ(vm_value_json("cpulimit", "2"), Json(2));
  EXPECT_TRUE(vm_value_json("cpulimit", "2").is_number_integer());
  EXPECT_EQ(vm_value_json("memory", "4096"), Json("4096"));  // a property string in PVE 9
  EXPECT_EQ(vm_value_json("scsi0", "local:1/a.raw,size=1G"), Json("local:1/a.raw,size=1G"));
  EXPECT_EQ(vm_value_json("cores", "lots"), Json("lots"));
  EXPECT_EQ(vm_value_json("parent", "snap1"), Json("snap1"));
  EXPECT_EQ(vm_value_json("snaptime", "1741046400"), Json(1741046400));
  EXPECT_EQ(vm_value_json("x-unknown", "7"), Json("7"));
}

TEST(VmSchema, InternalKeys) {
  for (const char* k : {"parent", "snaptime", "snapstate", "vmstate", "runningmachine", "runningcpu", "meta"}) {
    EXPECT_TRUE(is_internal_vm_key(k)) << k;
  }
  EXPECT_FALSE(is_internal_vm_key("cores"));
}

TEST(VmSchema, ObjectSchemaHoldsEveryKey) {
  EXPECT_EQ(vm_config_schema().type, schema::Type::Object);
  EXPECT_EQ(vm_config_schema().properties.size(), vm_config_params().size());
  EXPECT_NE(vm_config_schema().property("virtio7"), nullptr);
}

TEST(PveSchemaJson, PerlPatternsBecomeEcmaScript) {
  EXPECT_EQ(pattern_from_perl("(?^:\\d+(?:-\\d+)?)"), "(?:\\d+(?:-\\d+)?)");
  EXPECT_EQ(pattern_from_perl("[A-Za-z0-9\\-_\\s]{,16}"), "[A-Za-z0-9\\-_\\s]{0,16}");
  EXPECT_EQ(pattern_from_perl("a\\{,b"), "a\\{,b");
}

TEST(PveSchemaJson, ConvertsThePveShape) {
  Json pve = Json::parse(R"({
    "type": "string", "optional": 1, "typetext": "[model=]<enum>",
    "format": {
      "model": {"type": "string", "default_key": 1, "enum": ["a", "b"]},
      "mac": {"type": "string", "format": "mac-addr", "optional": 1},
      "a": {"alias": "mac", "keyAlias": "model"},
      "old": {"alias": "mac"},
      "n": {"type": "integer", "minimum": 1, "maximum": 9, "default": 3, "optional": 1},
      "x": {"type": "string", "format": "no-such-format", "optional": 1},
      "y": {"type": "string", "format": "named-object", "optional": 1}
    }
  })");
  PveFormatCatalog catalog;
  catalog.objects["named-object"] = Json::parse(R"({"k": {"type": "boolean", "optional": 1}})");
  schema::Schema s = schema_from_pve_json(pve, catalog);
  EXPECT_EQ(s.type, schema::Type::String);
  EXPECT_TRUE(s.optional);
  EXPECT_EQ(s.typetext, "[model=]<enum>");
  ASSERT_TRUE(s.format_object);
  const schema::Schema& keys = *s.format_object;
  EXPECT_EQ(keys.default_key, "model");
  EXPECT_EQ(keys.property("model")->enumeration, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(keys.property("model")->optional);
  EXPECT_EQ(keys.property("a")->key_alias, "model");
  EXPECT_EQ(keys.property("a")->alias, "mac");
  EXPECT_EQ(keys.property("old")->alias, "mac");
  EXPECT_TRUE(keys.property("old")->key_alias.empty());
  EXPECT_EQ(keys.property("n")->minimum, 1);
  EXPECT_EQ(keys.property("n")->maximum, 9);
  EXPECT_EQ(keys.property("n")->default_value, 3);
  EXPECT_TRUE(keys.property("x")->format.empty());  // unknown names are dropped
  EXPECT_EQ(keys.property("y")->format, "named-object");
  ASSERT_TRUE(keys.property("y")->format_object);
  EXPECT_NE(keys.property("y")->format_object->property("k"), nullptr);
  EXPECT_THROW(schema_from_pve_json(Json::parse(R"({"type": "strange"})")), std::invalid_argument);
}

// The embedded data is what the generator makes from the reference dump.
TEST(VmSchema, MatchesTheReferenceDump) {
  std::ifstream in(PVX_REFERENCE_SCHEMA);
  if (!in) GTEST_SKIP() << "reference schema not found";
  Json ref = Json::parse(in);
  for (const auto& e : ref) {
    if (e["path"] != "/nodes/{node}/qemu/{vmid}/config" || e["method"] != "POST") continue;
    for (const auto& [name, p] : e["parameters"].items()) {
      static const std::set<std::string> kMethod = {"node",  "vmid",     "digest",           "delete",
                                                    "revert", "skiplock", "force",            "background_delay",
                                                    "import-working-storage"};
      if (kMethod.count(name)) continue;
      std::string key = name;
      if (key.size() > 3 && key.compare(key.size() - 3, 3, "[n]") == 0) key = key.substr(0, key.size() - 3) + "0";
      const schema::Schema* s = vm_key_schema(key);
      ASSERT_NE(s, nullptr) << key;
      EXPECT_EQ(schema::type_name(s->type), p["type"].get<std::string>()) << key;
      EXPECT_TRUE(s->optional) << key;
    }
  }
}

// The API dump lists the keys as PVE does ("scsi[n]"), with the reference's names, types and
// optional flags.
TEST(VmSchema, DumpsLikeTheReference) {
  std::ifstream in(PVX_REFERENCE_SCHEMA);
  if (!in) GTEST_SKIP() << "reference schema not found";
  Json ref = Json::parse(in);
  Json ours = schema::to_pve_parameters(vm_config_schema());
  EXPECT_TRUE(ours.contains("scsi[n]"));
  EXPECT_FALSE(ours.contains("scsi0"));
  EXPECT_TRUE(ours.contains("efidisk0"));
  EXPECT_TRUE(ours.contains("numa"));
  EXPECT_TRUE(ours.contains("numa[n]"));
  for (const auto& e : ref) {
    if (e["path"] != "/nodes/{node}/qemu/{vmid}/config" || e["method"] != "POST") continue;
    std::size_t compared = 0;
    for (const auto& [name, p] : e["parameters"].items()) {
      if (!ours.contains(name)) continue;
      ++compared;
      EXPECT_EQ(ours[name].value("type", ""), p.value("type", "")) << name;
      EXPECT_EQ(ours[name].value("optional", 0), p.value("optional", 0)) << name;
    }
    EXPECT_EQ(compared, ours.size());
  }
}

}  // namespace
}  // namespace pvx::guest::qemu
