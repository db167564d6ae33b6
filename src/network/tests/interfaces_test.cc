#include "network/interfaces.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace pvx::network {
namespace {

std::string read_data(const std::string& name) {
  std::ifstream in(std::string(PVX_NETWORK_TESTDATA) + "/interfaces/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(InterfacesFile, ReadsTypesAndOptions) {
  auto file = parse_interfaces(read_data("host.in"));
  ASSERT_EQ(file.ifaces.size(), 8u);
  const auto& br = *file.find("vmbr0");
  EXPECT_EQ(br.type, IfaceType::Bridge);
  EXPECT_TRUE(br.autostart);
  EXPECT_EQ(br.inet->cidr, "192.0.2.10/24");  // address + netmask folded
  EXPECT_EQ(br.inet->gateway, "192.0.2.1");
  EXPECT_EQ(br.bridge_ports, std::vector<std::string>{"bond0"});
  EXPECT_TRUE(br.bridge_vlan_aware);
  ASSERT_EQ(br.inet->comments.size(), 1u);
  EXPECT_EQ(br.inet->comments[0], "uplink bridge");
  ASSERT_EQ(br.inet->options.size(), 1u);
  EXPECT_EQ(br.inet->options[0].first, "post-up");

  const auto& bond = *file.find("bond0");
  EXPECT_EQ(bond.type, IfaceType::Bond);
  EXPECT_EQ(bond.slaves, (std::vector<std::string>{"eno1", "eno2"}));
  EXPECT_EQ(bond.bond_mode, "802.3ad");
  EXPECT_EQ(bond.bond_xmit_hash_policy, "layer2+3");

  EXPECT_EQ(file.find("eno1")->type, IfaceType::Eth);
  EXPECT_FALSE(file.find("eno1")->autostart);
  EXPECT_EQ(file.find("eno2")->mtu, 9000);

  const auto& v40 = *file.find("vmbr0.40");
  EXPECT_EQ(v40.type, IfaceType::Vlan);
  EXPECT_EQ(v40.vlan_parent(), "vmbr0");
  EXPECT_EQ(v40.effective_vlan_id(), 40);
  ASSERT_TRUE(v40.inet6);
  EXPECT_EQ(v40.inet6->cidr, "2001:db8:40::2/64");
  EXPECT_EQ(v40.inet6->gateway, "2001:db8:40::1");

  const auto& v77 = *file.find("vlan77");
  EXPECT_EQ(v77.type, IfaceType::Vlan);
  EXPECT_EQ(v77.vlan_parent(), "bond0");
  EXPECT_EQ(v77.effective_vlan_id(), 77);

  EXPECT_EQ(file.find("tun9")->type, IfaceType::Unknown);
  EXPECT_EQ(file.find("lo")->type, IfaceType::Loopback);
  ASSERT_EQ(file.directives.size(), 1u);
  EXPECT_EQ(file.directives[0].second, "source /etc/network/interfaces.d/*");
}

TEST(InterfacesFile, WritesInPveOrderAndKeepsUnknownLines) {
  auto printed = print_interfaces(parse_interfaces(read_data("host.in")));
  EXPECT_EQ(printed, read_data("host.expected"));
  // Writing what was written changes nothing.
  EXPECT_EQ(print_interfaces(parse_interfaces(printed)), printed);
}

TEST(InterfacesFile, TypeFromName) {
  EXPECT_EQ(type_from_name("enp3s0"), IfaceType::Eth);
  EXPECT_EQ(type_from_name("eth0"), IfaceType::Eth);
  EXPECT_EQ(type_from_name("vmbr1"), IfaceType::Bridge);
  EXPECT_EQ(type_from_name("bond2"), IfaceType::Bond);
  EXPECT_EQ(type_from_name("eno1.100"), IfaceType::Vlan);
  EXPECT_EQ(type_from_name("tap100i0"), IfaceType::Unknown);
  EXPECT_EQ(parse_type("OVSBridge"), IfaceType::OVSBridge);
  EXPECT_EQ(type_name(IfaceType::Eth), "eth");
}

TEST(InterfacesFile, NewStanzasGoLastInTheirClass) {
  InterfacesFile f = parse_interfaces("iface eth5 inet manual\n\nauto vmbr0\niface vmbr0 inet manual\n\tbridge-ports none\n");
  Interface b;
  b.name = "bond1";
  b.type = IfaceType::Bond;
  b.slaves = {"eth5"};
  b.bond_mode = "active-backup";
  b.bond_primary = "eth5";
  b.priority = f.next_priority();
  b.inet = Family{};
  f.ifaces[b.name] = b;
  auto out = print_interfaces(f);
  EXPECT_LT(out.find("iface bond1"), out.find("iface vmbr0"));
  EXPECT_NE(out.find("auto eth5"), std::string::npos);  // bond slaves start with the bond
  EXPECT_NE(out.find("\tbond-primary eth5\n"), std::string::npos);
}

}  // namespace
}  // namespace pvx::network

namespace pvx::network {
namespace {

TEST(InterfacesFile, OptionsDecideTheTypeBeforeTheName) {
  auto f = parse_interfaces(
      "iface vlan10 inet manual\n\tbridge-ports none\n\n"
      "iface bond7 inet manual\n\tbridge-ports eno1\n\n"
      "iface br.5 inet manual\n\tbridge-ports none\n");
  EXPECT_EQ(f.find("vlan10")->type, IfaceType::Bridge);
  EXPECT_EQ(f.find("bond7")->type, IfaceType::Bridge);
  EXPECT_EQ(f.find("br.5")->type, IfaceType::Bridge);
  auto again = parse_interfaces(print_interfaces(f));
  EXPECT_EQ(again.find("vlan10")->type, IfaceType::Bridge);
  EXPECT_EQ(again.find("bond7")->bridge_ports, std::vector<std::string>{"eno1"});
}

TEST(InterfacesFile, OldStyleAddressesInEitherOrder) {
  auto f = parse_interfaces(
      "iface a1 inet static\n\tnetmask 255.255.255.0\n\taddress 10.66.0.1\n\n"
      "iface a2 inet6 static\n\taddress fd77::1\n\n"
      "iface a3 inet static\n\taddress 10.1.0.1/24\n\taddress 10.2.0.1/24\n\n"
      "iface a4 inet manual\n\tnetmask 255.255.0.0\n");
  EXPECT_EQ(f.find("a1")->inet->cidr, "10.66.0.1/24");
  EXPECT_EQ(f.find("a2")->inet6->cidr, "fd77::1/128");
  EXPECT_EQ(f.find("a3")->inet->cidr, "10.1.0.1/24");
  ASSERT_EQ(f.find("a3")->inet->options.size(), 1u);  // the second address is kept as written
  EXPECT_EQ(f.find("a3")->inet->options[0], (std::pair<std::string, std::string>{"address", "10.2.0.1/24"}));
  ASSERT_EQ(f.find("a4")->inet->options.size(), 1u);
  EXPECT_EQ(f.find("a4")->inet->options[0].first, "netmask");
  EXPECT_TRUE(f.find("a4")->inet->cidr.empty());
}

TEST(InterfacesFile, StanzaWithoutFamilyAndRepeatedStanzas) {
  auto f = parse_interfaces(
      "auto vxlan2\niface vxlan2\n\tvxlan-id 2\n\n"
      "iface vmbr0 inet static\n\taddress 10.0.0.1/24\n\tbridge-ports none\n\n"
      "iface vmbr0 inet static\n\tpost-up echo second\n");
  ASSERT_NE(f.find("vxlan2"), nullptr);
  EXPECT_TRUE(f.find("vxlan2")->autostart);
  EXPECT_EQ(f.find("vxlan2")->type, IfaceType::Vxlan);
  EXPECT_EQ(f.find("vmbr0")->inet->cidr, "10.0.0.1/24");  // the first stanza is not lost
  ASSERT_EQ(f.find("vmbr0")->inet->options.size(), 1u);
  EXPECT_EQ(f.find("vmbr0")->inet->options[0].first, "post-up");
  EXPECT_NE(print_interfaces(f).find("iface vxlan2 inet manual\n\tvxlan-id 2\n"), std::string::npos);
}

}  // namespace
}  // namespace pvx::network

namespace pvx::network {
namespace {

TEST(InterfacesFile, VlanRangePieces) {
  EXPECT_EQ(parse_vlan_range("10"), (std::pair{10, 10}));
  EXPECT_EQ(parse_vlan_range("20-30"), (std::pair{20, 30}));
  EXPECT_EQ(parse_vlan_range("1-4094"), (std::pair{1, 4094}));
  for (const char* bad : {"", "0", "4095", "30-20", "-5", "5-", "a", "+5", "00010", "1-2-3", "10 "}) {
    EXPECT_FALSE(parse_vlan_range(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace pvx::network
