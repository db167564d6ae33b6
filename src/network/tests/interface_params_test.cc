#include "network/interface_params.h"

#include <sys/socket.h>

#include <gtest/gtest.h>

#include "base/error.h"

namespace pvx::network {
namespace {

// The host as the checks see it: four NICs, a host bridge with a port, and a default route on eno3.
HostView make_host() {
  HostView host;
  for (const char* n : {"lo", "eno1", "eno2", "eno3", "eno4", "hostbr"}) host.links[n] = LinkState{.name = n};
  host.links["hostbr"].kind = "bridge";
  host.links["eno4"].master = "hostbr";
  host.default_route_dev[AF_INET] = "eno3";
  return host;
}
const HostView kDevices = make_host();

InterfacesFile base_file() {
  return parse_interfaces(
      "auto lo\niface lo inet loopback\n\n"
      "iface eno1 inet manual\n\n"
      "auto vmbr0\niface vmbr0 inet static\n\taddress 192.0.2.2/24\n\tgateway 192.0.2.1\n\tbridge-ports eno1\n");
}

// The parameter an Error(400) names, or "" when it names none.
std::string failing_param(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400) << e.what();
    return e.params().empty() ? std::string("<none>") : e.params().begin()->first;
  }
  return {};
}

TEST(InterfaceParams, CreatesBridgeWithAddressAndVlans) {
  auto f = base_file();
  apply_interface_params(f, "vmbr1", {{"type", "bridge"}, {"cidr", "10.1.0.1/24"}, {"bridge_ports", "eno2"},
                                      {"bridge_vlan_aware", 1}, {"bridge_vids", "2 10-20"}, {"comments", "lab\n"}},
                         true, {}, kDevices);
  const auto& br = *f.find("vmbr1");
  EXPECT_EQ(br.type, IfaceType::Bridge);
  EXPECT_TRUE(br.autostart);
  EXPECT_EQ(br.inet->method, "static");
  EXPECT_EQ(br.inet->cidr, "10.1.0.1/24");
  EXPECT_EQ(br.bridge_ports, std::vector<std::string>{"eno2"});
  EXPECT_EQ(br.bridge_vids, "2 10-20");
  EXPECT_EQ(br.inet->comments, std::vector<std::string>{"lab"});
  EXPECT_GT(br.priority, f.find("vmbr0")->priority);
}

TEST(InterfaceParams, AddressAndDottedNetmaskBecomeCidr) {
  auto f = base_file();
  apply_interface_params(f, "vmbr1", {{"type", "bridge"}, {"address", "10.2.0.1"}, {"netmask", "255.255.0.0"}}, true, {},
                         kDevices);
  EXPECT_EQ(f.find("vmbr1")->inet->cidr, "10.2.0.1/16");
  apply_interface_params(f, "vmbr1", {{"type", "bridge"}, {"cidr6", "2001:db8::1/64"}}, false, {}, kDevices);
  EXPECT_EQ(f.find("vmbr1")->inet6->cidr, "2001:db8::1/64");
  EXPECT_EQ(f.find("vmbr1")->inet6->method, "static");
  apply_interface_params(f, "vmbr1", {{"type", "bridge"}}, false, {"cidr6", "cidr"}, kDevices);
  EXPECT_FALSE(f.find("vmbr1")->inet6.has_value());
  EXPECT_EQ(f.find("vmbr1")->inet->method, "manual");
}

TEST(InterfaceParams, BondMarksSlavesAndChecksPrimary) {
  auto f = base_file();
  apply_interface_params(f, "bond0", {{"type", "bond"}, {"slaves", "eno2 eno3"}, {"bond_mode", "active-backup"},
                                      {"bond-primary", "eno3"}},
                         true, {}, kDevices);
  EXPECT_EQ(f.find("bond0")->slaves, (std::vector<std::string>{"eno2", "eno3"}));
  EXPECT_EQ(f.find("eno2"), nullptr);  // pvx's own file: the host's NICs get no stanza
  auto managed = kDevices;
  managed.manage_host = true;
  auto h = base_file();
  apply_interface_params(h, "bond0", {{"type", "bond"}, {"slaves", "eno2 eno3"}}, true, {}, managed);
  ASSERT_NE(h.find("eno2"), nullptr);  // the host's file: slaves get a stanza, started with the bond
  EXPECT_TRUE(h.find("eno2")->autostart);
  auto g = base_file();
  EXPECT_EQ(failing_param([&] {
              apply_interface_params(g, "bond0", {{"type", "bond"}, {"slaves", "eno2"}, {"bond-primary", "eno3"}}, true,
                                     {}, kDevices);
            }),
            "bond-primary");
}

TEST(InterfaceParams, RefusesBadInputNamingTheParameter) {
  struct Case {
    std::string iface;
    Json params;
    std::string param;
  };
  std::vector<Case> cases = {
      {"vmbr1", {{"type", "bridge"}, {"cidr", "10.1.0.1/24"}, {"gateway", "10.9.0.1"}}, "gateway"},
      {"vmbr1", {{"type", "bridge"}, {"gateway", "10.9.0.1"}}, "gateway"},
      {"vmbr1", {{"type", "bridge"}, {"cidr", "192.0.3.1/24"}, {"gateway", "192.0.3.254"}}, "gateway"},  // vmbr0 has one
      {"vmbr1", {{"type", "bridge"}, {"bridge_ports", "nosuch"}}, "bridge_ports"},
      {"vmbr1", {{"type", "bridge"}, {"bridge_ports", "vmbr1"}}, "bridge_ports"},
      {"vmbr1", {{"type", "bridge"}, {"bridge_ports", "eno1"}}, "bridge_ports"},  // taken by vmbr0
      {"vmbr1", {{"type", "bridge"}, {"bridge_ports", "vmbr0"}}, "bridge_ports"},
      {"vmbr1", {{"type", "bridge"}, {"bridge_ports", "eno4"}}, "bridge_ports"},   // the host bridge's port
      {"vmbr1", {{"type", "bridge"}, {"bridge_ports", "hostbr"}}, "bridge_ports"}, // a bridge in a bridge
      {"vmbr1", {{"type", "bridge"}, {"bridge_ports", "lo"}}, "bridge_ports"},
      {"vmbr1", {{"type", "bridge"}, {"comments", "ok\rauto evil0"}}, "comments"},
      {"vmbr1", {{"type", "bridge"}, {"comments", "joins the next line \\"}}, "comments"},
      {"vmbr1", {{"type", "bridge"}, {"comments", "still joins \\ \nauto evil0"}}, "comments"},
      {"vmbr1", {{"type", "bridge"}, {"cidr", "10.1.0.0/24"}}, "cidr"},
      {"vmbr1", {{"type", "bridge"}, {"cidr", "10.1.0.255/24"}}, "cidr"},
      {"vmbr1", {{"type", "bridge"}, {"cidr6", "ff02::1/64"}}, "cidr6"},
      {"vmbr1", {{"type", "bridge"}, {"cidr6", "fd00::/64"}}, "cidr6"},
      {"vmbr1", {{"type", "bridge"}, {"cidr6", "::ffff:10.0.0.1/96"}}, "cidr6"},
      {"vmbr1", {{"type", "bridge"}, {"cidr", "0.0.0.1/8"}}, "cidr"},
      {"vmbr1", {{"type", "bridge"}, {"cidr", "10.1.0.1/24"}, {"address", "10.1.0.2"}}, "address"},
      {"vmbr123456789012", {{"type", "bridge"}}, "iface"},
      {"all", {{"type", "bridge"}}, "iface"},
      {"bond0", {{"type", "bond"}, {"slaves", "hostbr"}}, "slaves"},
      {"bond0", {{"type", "bond"}, {"slaves", "eno2"}, {"bond_mode", "balance-slb"}}, "bond_mode"},
      {"lo", {{"type", "bridge"}}, "iface"},
      {"eno2.x", {{"type", "vlan"}}, "iface"},
      {"bond0", {{"type", "bond"}}, "slaves"},
      {"bond0", {{"type", "bond"}, {"slaves", "eno1"}}, "slaves"},
      {"vlan5", {{"type", "vlan"}}, "vlan-raw-device"},
      {"vlan5", {{"type", "vlan"}, {"vlan-raw-device", "nosuch"}}, "vlan-raw-device"},
      {"eno2.4095", {{"type", "vlan"}}, "iface"},
      {"nosuch.5", {{"type", "vlan"}}, "iface"},
      {"vmbr0", {{"type", "bridge"}}, "iface"},
      {"vmbr1", {{"type", "OVSBridge"}}, "type"},
      {"vmbr1", {{"type", "vnet"}}, "type"},
      {"eno9", {{"type", "eth"}}, "iface"},
  };
  for (const auto& c : cases) {
    auto f = base_file();
    auto before = print_interfaces(f);
    EXPECT_EQ(failing_param([&] { apply_interface_params(f, c.iface, c.params, true, {}, kDevices); }), c.param)
        << c.iface << " " << c.params.dump();
    EXPECT_EQ(print_interfaces(f), before) << "a refused edit changed the file";
  }
}

TEST(InterfaceParams, UpdateAndRemove) {
  auto f = base_file();
  EXPECT_EQ(failing_param([&] { apply_interface_params(f, "vmbr7", {{"type", "bridge"}}, false, {}, kDevices); }), "iface");
  EXPECT_EQ(failing_param([&] { apply_interface_params(f, "vmbr0", {{"type", "bond"}}, false, {}, kDevices); }), "type");
  apply_interface_params(f, "vmbr0", {{"type", "bridge"}, {"mtu", 9000}}, false, {"gateway", "ovs_tag"}, kDevices);
  EXPECT_EQ(f.find("vmbr0")->mtu, 9000);
  EXPECT_TRUE(f.find("vmbr0")->inet->gateway.empty());
  EXPECT_EQ(failing_param([&] { remove_interface(f, "eno1"); }), "iface");  // vmbr0's port
  EXPECT_EQ(failing_param([&] { remove_interface(f, "lo"); }), "iface");
  EXPECT_EQ(failing_param([&] { apply_interface_params(f, "lo", {{"type", "eth"}}, false, {}, kDevices); }), "iface");
  // VLAN awareness off takes the VLAN list with it.
  apply_interface_params(f, "vmbr0", {{"type", "bridge"}, {"bridge_vlan_aware", 1}, {"bridge_vids", "10"}}, false, {},
                         kDevices);
  apply_interface_params(f, "vmbr0", {{"type", "bridge"}, {"bridge_vlan_aware", 0}}, false, {}, kDevices);
  EXPECT_TRUE(f.find("vmbr0")->bridge_vids.empty());
  remove_interface(f, "vmbr0");
  EXPECT_EQ(f.find("vmbr0"), nullptr);
  remove_interface(f, "eno1");
}

TEST(InterfaceParams, JsonHasPveShape) {
  ListedInterface li;
  li.config = *base_file().find("vmbr0");
  li.exists = li.active = true;
  auto j = interface_json(li);
  EXPECT_EQ(j["iface"], "vmbr0");
  EXPECT_EQ(j["type"], "bridge");
  EXPECT_EQ(j["cidr"], "192.0.2.2/24");
  EXPECT_EQ(j["address"], "192.0.2.2");
  EXPECT_EQ(j["netmask"], "24");
  EXPECT_EQ(j["gateway"], "192.0.2.1");
  EXPECT_EQ(j["bridge_ports"], "eno1");
  EXPECT_EQ(j["bridge_stp"], "off");
  EXPECT_EQ(j["families"], Json::array({"inet"}));
  EXPECT_EQ(j["active"], 1);
  EXPECT_EQ(j["autostart"], 1);
}

TEST(InterfaceParams, GatewayInSubnet) {
  EXPECT_TRUE(gateway_in_subnet("10.0.0.5/24", "10.0.0.1"));
  EXPECT_FALSE(gateway_in_subnet("10.0.0.5/24", "10.0.1.1"));
  EXPECT_TRUE(gateway_in_subnet("2001:db8::5/64", "2001:db8::1"));
  EXPECT_FALSE(gateway_in_subnet("2001:db8::5/64", "2001:db9::1"));
  EXPECT_FALSE(gateway_in_subnet("10.0.0.5/24", "2001:db8::1"));
  EXPECT_FALSE(gateway_in_subnet("garbage", "10.0.0.1"));
}

}  // namespace
}  // namespace pvx::network

namespace pvx::network {
namespace {

TEST(InterfaceParams, HostDefaultRouteBlocksASecondGateway) {
  auto f = parse_interfaces("auto vmbr0\niface vmbr0 inet static\n\taddress 192.0.2.2/24\n\tbridge-ports none\n");
  EXPECT_EQ(failing_param([&] {
              apply_interface_params(f, "vmbr0", {{"type", "bridge"}, {"gateway", "192.0.2.1"}}, false, {}, kDevices);
            }),
            "gateway");
  auto on_vmbr0 = kDevices;
  on_vmbr0.default_route_dev[AF_INET] = "vmbr0";  // made by hand on a device of the file
  auto g = f;
  EXPECT_EQ(failing_param([&] {
              apply_interface_params(g, "vmbr1", {{"type", "bridge"}, {"cidr", "198.51.100.1/24"},
                                                  {"gateway", "198.51.100.254"}}, true, {}, on_vmbr0);
            }),
            "gateway");
  apply_interface_params(f, "vmbr0", {{"type", "bridge"}, {"gateway", "192.0.2.1"}}, false, {}, on_vmbr0);
  EXPECT_EQ(f.find("vmbr0")->inet->gateway, "192.0.2.1");
}

}  // namespace
}  // namespace pvx::network
