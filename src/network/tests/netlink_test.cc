// Netlink against the kernel: every change is checked with iproute2's JSON output, and every
// reading is checked against what iproute2 made. Features the running kernel lacks (VLAN
// filtering, 802.1Q devices, bonding, dummy links) make their tests skip, after checking that the
// failure is reported as an error naming the device.
#include "network/netlink.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "base/error.h"
#include "network/tests/netns_fixture.h"

namespace pvx::network {
namespace {

using nlohmann::json;

class NetlinkTest : public testing::NetnsTest {
 protected:
  static std::map<int, std::pair<bool, bool>> as_map(const std::vector<PortVlan>& vlans) {
    std::map<int, std::pair<bool, bool>> out;
    for (const auto& v : vlans) out[v.vid] = {v.pvid, v.untagged};
    return out;
  }
  static std::string error_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "<no error>";
  }
};

TEST_F(NetlinkTest, CreatesBridgeVethAndPersistentTap) {
  Netlink nl;
  nl.create_bridge("br0");
  nl.create_veth("v0", "v1");
  nl.create_tap("tap0");

  EXPECT_EQ(link_json("br0")["linkinfo"]["info_kind"], "bridge");
  auto v0 = link_json("v0");
  EXPECT_EQ(v0["linkinfo"]["info_kind"], "veth");
  EXPECT_EQ(v0["link"], "v1");
  auto tap = link_json("tap0")["linkinfo"];
  EXPECT_EQ(tap["info_kind"], "tun");
  EXPECT_EQ(tap["info_data"]["type"], "tap");
  EXPECT_EQ(tap["info_data"]["persist"], true);  // outlives the descriptor that made it
  EXPECT_EQ(tap["info_data"]["pi"], false);

  auto br = nl.link("br0");
  ASSERT_TRUE(br);
  EXPECT_EQ(br->kind, "bridge");
  EXPECT_FALSE(br->physical);
  EXPECT_EQ(nl.link("tap0")->kind, "tun");
  EXPECT_EQ(nl.link("v1")->kind, "veth");
  EXPECT_FALSE(nl.link("nothere"));

  EXPECT_NE(error_of([&] { nl.create_bridge("br0"); }).find("cannot create bridge 'br0': Object exists"),
            std::string::npos);
  EXPECT_NE(error_of([&] { nl.create_tap("tap0"); }).find("cannot create tap 'tap0'"), std::string::npos);
  EXPECT_EQ(error_of([&] { nl.create_bridge("a-name-far-too-long"); }), "invalid interface name 'a-name-far-too-long'");

  nl.delete_link("tap0");
  nl.delete_link("v0");  // takes its peer along
  EXPECT_FALSE(nl.link("tap0"));
  EXPECT_FALSE(nl.link("v1"));
  nl.delete_link("v0");  // gone already: not an error
}

TEST_F(NetlinkTest, SetsMasterMtuAndLinkState) {
  Netlink nl;
  nl.create_bridge("br0");
  nl.create_veth("v0", "v1");
  nl.set_master("v0", "br0");
  nl.set_mtu("v0", 1400);
  nl.set_up("v0", true);
  nl.set_up("v1", true);
  nl.set_up("br0", true);

  auto v0 = link_json("v0");
  EXPECT_EQ(v0["master"], "br0");
  EXPECT_EQ(v0["mtu"], 1400);
  EXPECT_TRUE(has_flag(v0, "UP"));
  auto state = nl.link("v0");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->master, "br0");
  EXPECT_EQ(state->mtu, 1400U);
  EXPECT_TRUE(state->up);
  EXPECT_TRUE(state->running);  // both ends up: carrier

  nl.set_up("v1", false);
  EXPECT_FALSE(has_flag(link_json("v1"), "UP"));
  EXPECT_FALSE(nl.link("v0")->running);  // the peer took the carrier away
  EXPECT_TRUE(nl.link("v0")->up);

  nl.set_master("v0", "");
  EXPECT_FALSE(link_json("v0").contains("master"));
  EXPECT_EQ(nl.link("v0")->master, "");
}

TEST_F(NetlinkTest, ReadsLinksThatIpMade) {
  run({"ip", "link", "add", "br1", "type", "bridge"});
  run({"ip", "link", "add", "p0", "mtu", "1450", "type", "veth", "peer", "name", "p1"});
  run({"ip", "link", "set", "p0", "master", "br1", "up"});
  run({"ip", "link", "set", "p1", "address", "02:00:00:00:00:42"});

  Netlink nl;
  auto links = nl.links();
  std::map<std::string, LinkState> by_name;
  for (const auto& l : links) by_name[l.name] = l;
  ASSERT_TRUE(by_name.count("lo") && by_name.count("br1") && by_name.count("p0") && by_name.count("p1"));
  EXPECT_EQ(by_name.size(), 4U);

  for (const auto& name : {"br1", "p0", "p1"}) {
    auto ip = link_json(name);
    const auto& l = by_name[name];
    EXPECT_EQ(l.index, ip["ifindex"].get<int>()) << name;
    EXPECT_EQ(l.mtu, ip["mtu"].get<unsigned>()) << name;
    EXPECT_EQ(l.mac, ip["address"].get<std::string>()) << name;
    EXPECT_EQ(l.up, has_flag(ip, "UP")) << name;
    EXPECT_EQ(l.master, ip.value("master", "")) << name;
    EXPECT_EQ(l.kind, ip["linkinfo"]["info_kind"].get<std::string>()) << name;
    EXPECT_FALSE(l.physical) << name;
  }
  EXPECT_EQ(by_name["p1"].mac, "02:00:00:00:00:42");
  EXPECT_EQ(by_name["p0"].master, "br1");
  EXPECT_EQ(by_name["br1"].vlan_filtering, false);
  EXPECT_EQ(by_name["lo"].kind, "");
}

TEST_F(NetlinkTest, BridgeStpAndForwardDelay) {
  Netlink nl;
  nl.create_bridge("br0");
  nl.set_bridge_stp("br0", true, 4);
  auto data = link_json("br0")["linkinfo"]["info_data"];
  EXPECT_EQ(data["stp_state"], 1);
  EXPECT_EQ(data["forward_delay"], 400);  // clock_t, 1/100 s

  // PVE's default; the kernel refuses a delay of 0 while STP is still on.
  nl.set_bridge_stp("br0", false, 0);
  data = link_json("br0")["linkinfo"]["info_data"];
  EXPECT_EQ(data["stp_state"], 0);
  EXPECT_EQ(data["forward_delay"], 0);

  EXPECT_NE(error_of([&] { nl.set_bridge_stp("nobr", false, 0); }).find("device 'nobr' does not exist"),
            std::string::npos);
  nl.create_veth("v0", "v1");
  EXPECT_NE(error_of([&] { nl.set_bridge_stp("v0", false, 0); }).find("'v0' is not a bridge"), std::string::npos);
}

TEST_F(NetlinkTest, BridgeVlanFiltering) {
  Netlink nl;
  nl.create_bridge("br0");
  if (!kernel_can({"type", "bridge", "vlan_filtering", "1"})) {
    EXPECT_NE(error_of([&] { nl.set_bridge_vlan_filtering("br0", true); })
                  .find("cannot enable VLAN filtering on bridge 'br0'"),
              std::string::npos);
    GTEST_SKIP() << "kernel without bridge VLAN filtering";
  }
  nl.set_bridge_vlan_filtering("br0", true);
  EXPECT_EQ(link_json("br0")["linkinfo"]["info_data"]["vlan_filtering"], 1);
  EXPECT_TRUE(nl.link("br0")->vlan_filtering);
  nl.set_bridge_vlan_filtering("br0", false);
  EXPECT_EQ(link_json("br0")["linkinfo"]["info_data"]["vlan_filtering"], 0);
  EXPECT_FALSE(nl.link("br0")->vlan_filtering);

  run({"ip", "link", "add", "br1", "type", "bridge", "vlan_filtering", "1"});
  EXPECT_TRUE(nl.link("br1")->vlan_filtering);
}

TEST_F(NetlinkTest, PortVlansWithRangesAndSelf) {
  if (!kernel_can({"type", "bridge", "vlan_filtering", "1"})) GTEST_SKIP() << "kernel without bridge VLAN filtering";
  Netlink nl;
  nl.create_bridge("br0");
  nl.set_bridge_vlan_filtering("br0", true);
  nl.create_veth("v0", "v1");
  nl.set_master("v0", "br0");

  // A new port starts with the bridge's default PVID 1.
  EXPECT_EQ(bridge_vlans("v0"), (std::map<int, std::pair<bool, bool>>{{1, {true, true}}}));
  EXPECT_EQ(as_map(nl.port_vlans("v0")), bridge_vlans("v0"));

  nl.del_port_vlan("v0", 1);
  nl.add_port_vlan("v0", 10, true, true);
  nl.add_port_vlan("v0", 20, false, false, 30);
  nl.add_port_vlan("br0", 100, false, false, 0, true);
  auto port = bridge_vlans("v0");
  EXPECT_EQ(port.size(), 12U);
  EXPECT_EQ(port[10], std::make_pair(true, true));
  EXPECT_EQ(port[20], std::make_pair(false, false));
  EXPECT_EQ(port[30], std::make_pair(false, false));
  EXPECT_FALSE(port.count(1));
  EXPECT_EQ(as_map(nl.port_vlans("v0")), port);
  EXPECT_TRUE(bridge_vlans("br0").count(100));
  EXPECT_EQ(as_map(nl.port_vlans("br0")), bridge_vlans("br0"));

  nl.del_port_vlan("v0", 20, 25);
  nl.del_port_vlan("br0", 100, 0, true);
  port = bridge_vlans("v0");
  EXPECT_EQ(port.size(), 6U);
  EXPECT_FALSE(port.count(25));
  EXPECT_TRUE(port.count(26));
  EXPECT_FALSE(bridge_vlans("br0").count(100));
  EXPECT_EQ(as_map(nl.port_vlans("v0")), port);

  // Read back what `bridge` set, including a range the kernel reports compressed.
  run({"bridge", "vlan", "add", "dev", "v0", "vid", "200-300", "untagged"});
  auto vlans = as_map(nl.port_vlans("v0"));
  EXPECT_EQ(vlans.size(), 6U + 101U);
  EXPECT_EQ(vlans[250], std::make_pair(false, true));

  EXPECT_EQ(error_of([&] { nl.add_port_vlan("v0", 5000, false, false); }),
            "cannot add VLAN 5000 to 'v0': VLAN IDs are 1-4094");
  EXPECT_NE(error_of([&] { nl.add_port_vlan("v0", 5, true, false, 9); }).find("PVID"), std::string::npos);
}

TEST_F(NetlinkTest, PortVlansNeedAnExistingDevice) {
  Netlink nl;
  EXPECT_EQ(error_of([&] { nl.port_vlans("nope"); }), "cannot read VLANs of 'nope': device 'nope' does not exist");
  EXPECT_EQ(error_of([&] { nl.add_port_vlan("nope", 10, true, true); }),
            "cannot add VLAN 10 to 'nope': device 'nope' does not exist");
  nl.create_veth("v0", "v1");
  EXPECT_TRUE(nl.port_vlans("v0").empty());  // not a bridge port
}

TEST_F(NetlinkTest, BondModesRoundTrip) {
  Netlink nl;
  if (!kernel_can({"type", "bond"})) {
    EXPECT_NE(error_of([&] { nl.create_bond("bond0", {}); }).find("cannot create bond 'bond0'"), std::string::npos);
    GTEST_SKIP() << "kernel without bonding";
  }
  const std::vector<std::string> modes = {"balance-rr", "active-backup", "balance-xor", "broadcast",
                                          "802.3ad",    "balance-tlb",   "balance-alb"};
  for (std::size_t i = 0; i < modes.size(); ++i) {
    std::string name = "bond" + std::to_string(i);
    nl.create_bond(name, {.mode = modes[i], .miimon = 100});
    auto data = link_json(name)["linkinfo"]["info_data"];
    EXPECT_EQ(data["mode"], modes[i]);
    EXPECT_EQ(data["miimon"], 100);
    auto state = nl.link(name);
    ASSERT_TRUE(state);
    EXPECT_EQ(state->kind, "bond");
    EXPECT_EQ(state->bond_mode, modes[i]);
    EXPECT_EQ(state->bond_miimon, 100U);
  }

  nl.create_veth("e0", "e1");
  nl.create_bond("bond9", {.mode = "active-backup", .miimon = 200, .xmit_hash_policy = "layer3+4", .primary = "e0"});
  nl.set_up("e0", true);
  nl.set_master("e0", "bond9");  // enslaving takes an up link down first
  auto data = link_json("bond9")["linkinfo"]["info_data"];
  EXPECT_EQ(data["miimon"], 200);
  EXPECT_EQ(data["xmit_hash_policy"], "layer3+4");
  EXPECT_EQ(data["primary"], "e0");
  auto bond = nl.link("bond9");
  EXPECT_EQ(bond->bond_primary, "e0");
  EXPECT_EQ(bond->bond_xmit_hash_policy, "layer3+4");
  EXPECT_EQ(nl.link("e0")->master, "bond9");

  nl.set_bond_options("bond9",
                      {.mode = "active-backup", .miimon = 50, .xmit_hash_policy = "layer2+3", .primary = "e0"});
  data = link_json("bond9")["linkinfo"]["info_data"];
  EXPECT_EQ(data["miimon"], 50);
  EXPECT_EQ(data["xmit_hash_policy"], "layer2+3");

  run({"ip", "link", "add", "bond10", "type", "bond", "mode", "802.3ad", "xmit_hash_policy", "layer2+3"});
  EXPECT_EQ(nl.link("bond10")->bond_mode, "802.3ad");
  EXPECT_EQ(nl.link("bond10")->bond_xmit_hash_policy, "layer2+3");
  EXPECT_EQ(error_of([&] { nl.create_bond("bond11", {.mode = "fastest"}); }), "bond 'bond11': unknown mode 'fastest'");
}

TEST_F(NetlinkTest, VlanDevices) {
  Netlink nl;
  nl.create_veth("e0", "e1");
  if (!kernel_can({"link", "e0", "type", "vlan", "id", "1"})) {
    EXPECT_NE(error_of([&] { nl.create_vlan("e0.5", "e0", 5); }).find("cannot create VLAN 'e0.5' on 'e0'"),
              std::string::npos);
    GTEST_SKIP() << "kernel without 802.1Q VLAN devices";
  }
  nl.create_vlan("e0.5", "e0", 5);
  nl.create_vlan("e0.6", "e0", 6, "802.1ad");
  auto q = link_json("e0.5");
  EXPECT_EQ(q["linkinfo"]["info_kind"], "vlan");
  EXPECT_EQ(q["linkinfo"]["info_data"]["id"], 5);
  EXPECT_EQ(q["linkinfo"]["info_data"]["protocol"], "802.1Q");
  EXPECT_EQ(q["link"], "e0");
  EXPECT_EQ(link_json("e0.6")["linkinfo"]["info_data"]["protocol"], "802.1ad");

  auto s = nl.link("e0.6");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, "vlan");
  EXPECT_EQ(s->vlan_id, 6);
  EXPECT_EQ(s->vlan_parent, "e0");
  EXPECT_EQ(s->vlan_protocol, "802.1ad");

  run({"ip", "link", "add", "link", "e1", "name", "v77", "type", "vlan", "id", "77"});
  for (const auto& l : nl.links()) {
    if (l.name != "v77") continue;
    EXPECT_EQ(l.vlan_id, 77);
    EXPECT_EQ(l.vlan_parent, "e1");
    EXPECT_EQ(l.vlan_protocol, "802.1Q");
  }
  EXPECT_EQ(error_of([&] { nl.create_vlan("e0.9", "nope", 9); }),
            "cannot create VLAN 'e0.9' on 'nope': device 'nope' does not exist");
}

TEST_F(NetlinkTest, AddressesBothFamilies) {
  Netlink nl;
  nl.create_veth("v0", "v1");
  nl.set_up("v0", true);
  nl.add_address("v0", "10.1.0.1/24");
  nl.add_address("v0", "2001:db8::1/64");
  nl.add_address("v0", "10.1.0.1/24");  // again: replaced, not an error

  std::set<std::string> ip_addrs;
  auto shown = ip_json({"ip", "-j", "addr", "show", "dev", "v0"});
  for (const auto& a : shown[0]["addr_info"]) {
    ip_addrs.insert(a["local"].get<std::string>() + "/" + std::to_string(a["prefixlen"].get<int>()));
  }
  EXPECT_TRUE(ip_addrs.count("10.1.0.1/24"));
  EXPECT_TRUE(ip_addrs.count("2001:db8::1/64"));
  EXPECT_EQ(ip_json({"ip", "-j", "-4", "addr", "show", "dev", "v0"})[0]["addr_info"][0]["broadcast"], "10.1.0.255");

  auto addrs = nl.addresses("v0");
  ASSERT_EQ(addrs.size(), 2U);  // the link-local address is left out
  std::set<std::string> ours;
  for (const auto& a : addrs) {
    ours.insert(a.cidr);
    EXPECT_EQ(a.ifname, "v0");
    EXPECT_TRUE(a.permanent);
    EXPECT_EQ(a.family, a.cidr.find(':') == std::string::npos ? AF_INET : AF_INET6);
  }
  EXPECT_EQ(ours, (std::set<std::string>{"10.1.0.1/24", "2001:db8::1/64"}));

  run({"ip", "addr", "add", "192.168.7.9/32", "dev", "v1"});
  bool found = false;
  for (const auto& a : nl.addresses()) found = found || (a.ifname == "v1" && a.cidr == "192.168.7.9/32");
  EXPECT_TRUE(found);

  nl.del_address("v0", "10.1.0.1/24");
  nl.del_address("v0", "2001:db8::1/64");
  EXPECT_TRUE(nl.addresses("v0").empty());
  shown = ip_json({"ip", "-j", "addr", "show", "dev", "v0", "scope", "global"});
  EXPECT_TRUE(shown.empty() || shown[0].value("addr_info", json::array()).empty()) << shown.dump();

  EXPECT_EQ(error_of([&] { nl.add_address("v0", "10.1.0.300/24"); }),
            "cannot add address 10.1.0.300/24 to 'v0': not an IP address");
  EXPECT_EQ(error_of([&] { nl.add_address("nope", "10.1.0.1/24"); }),
            "cannot add address 10.1.0.1/24 to 'nope': device 'nope' does not exist");
}

TEST_F(NetlinkTest, RoutesViaAGatewayOnAConnectedSubnet) {
  Netlink nl;
  nl.create_veth("v0", "v1");
  nl.set_up("v0", true);
  nl.set_up("v1", true);
  nl.add_address("v0", "10.1.0.1/24");
  nl.add_address("v0", "2001:db8::1/64");

  nl.add_route({.dst = "default", .gateway = "10.1.0.254", .ifname = "v0"});
  nl.add_route({.dst = "10.5.0.0/16", .gateway = "10.1.0.9", .table = 100});
  nl.add_route({.dst = "default", .gateway = "2001:db8::fe", .ifname = "v0", .family = AF_INET6});

  auto main4 = ip_json({"ip", "-j", "route", "show", "default"});
  ASSERT_EQ(main4.size(), 1U);
  EXPECT_EQ(main4[0]["gateway"], "10.1.0.254");
  EXPECT_EQ(main4[0]["dev"], "v0");
  auto table100 = ip_json({"ip", "-j", "route", "show", "table", "100"});
  ASSERT_EQ(table100.size(), 1U);
  EXPECT_EQ(table100[0]["dst"], "10.5.0.0/16");
  auto main6 = ip_json({"ip", "-j", "-6", "route", "show", "default"});
  ASSERT_EQ(main6.size(), 1U);
  EXPECT_EQ(main6[0]["gateway"], "2001:db8::fe");

  auto has = [](const std::vector<RouteState>& routes, const std::string& dst, const std::string& gw, int table) {
    return std::any_of(routes.begin(), routes.end(), [&](const RouteState& r) {
      return r.dst == dst && r.gateway == gw && r.table == table && r.ifname == "v0";
    });
  };
  auto v4 = nl.routes(AF_INET);
  EXPECT_TRUE(has(v4, "default", "10.1.0.254", 254));
  EXPECT_TRUE(has(v4, "10.5.0.0/16", "10.1.0.9", 100));
  EXPECT_TRUE(has(v4, "10.1.0.0/24", "", 254));  // the kernel's connected route
  for (const auto& r : v4) {
    EXPECT_EQ(r.family, AF_INET);
    if (r.dst == "10.1.0.0/24") {
      EXPECT_EQ(r.protocol, 2);  // RTPROT_KERNEL
    }
  }
  auto all = nl.routes();
  EXPECT_TRUE(has(all, "default", "2001:db8::fe", 254));
  EXPECT_TRUE(has(all, "default", "10.1.0.254", 254));
  for (const auto& r : all) EXPECT_NE(r.dst, "10.1.0.1/32") << "local-table entries are not routes";

  nl.del_route({.dst = "default", .gateway = "10.1.0.254", .ifname = "v0"});
  nl.del_route({.dst = "10.5.0.0/16", .table = 100});
  nl.del_route({.dst = "default", .family = AF_INET6});
  EXPECT_TRUE(ip_json({"ip", "-j", "route", "show", "default"}).empty());
  EXPECT_TRUE(ip_json({"ip", "-j", "route", "show", "table", "100"}).empty());
  EXPECT_TRUE(ip_json({"ip", "-j", "-6", "route", "show", "default"}).empty());
  EXPECT_FALSE(has(nl.routes(), "default", "10.1.0.254", 254));

  EXPECT_NE(error_of([&] { nl.add_route({.dst = "default", .gateway = "10.99.0.1"}); })
                .find("cannot add route default via 10.99.0.1: Network is unreachable"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { nl.add_route({.dst = "10.0.0.0/8", .gateway = "2001:db8::fe"}); }),
            "cannot add route 10.0.0.0/8 via 2001:db8::fe: mixed address families");
}

TEST_F(NetlinkTest, ErrorsNameTheMissingDevice) {
  Netlink nl;
  nl.create_veth("v0", "v1");
  nl.create_bridge("br0");
  auto status_and_text = [](const std::function<void()>& f) -> std::pair<int, std::string> {
    try {
      f();
    } catch (const Error& e) {
      return {e.status(), e.what()};
    }
    return {0, ""};
  };
  EXPECT_EQ(status_and_text([&] { nl.set_mtu("nope", 1400); }),
            std::make_pair(500, std::string("cannot set MTU of 'nope' to 1400: device 'nope' does not exist")));
  EXPECT_EQ(status_and_text([&] { nl.set_up("nope", true); }).second,
            "cannot set 'nope' up: device 'nope' does not exist");
  EXPECT_EQ(status_and_text([&] { nl.set_master("v0", "vmbr9"); }).second,
            "cannot add 'v0' to 'vmbr9': device 'vmbr9' does not exist");
  EXPECT_EQ(status_and_text([&] { nl.set_master("veth9", "br0"); }).second,
            "cannot add 'veth9' to bridge 'br0': device 'veth9' does not exist");
  EXPECT_EQ(status_and_text([&] { nl.set_master("nope", ""); }).second,
            "cannot release 'nope' from its master: device 'nope' does not exist");
  EXPECT_EQ(status_and_text([&] { nl.set_bridge_vlan_filtering("nope", true); }).second,
            "cannot enable VLAN filtering on bridge 'nope': device 'nope' does not exist");
  // The kernel's own reason comes through.
  auto [status, text] = status_and_text([&] { nl.set_mtu("v0", 10); });
  EXPECT_EQ(status, 500);
  EXPECT_EQ(text.rfind("cannot set MTU of 'v0' to 10: ", 0), 0U) << text;
  EXPECT_NE(status_and_text([&] { nl.set_master("br0", "br0"); }).second.find("cannot add 'br0' to bridge 'br0': "),
            std::string::npos);
}

// A Netlink object keeps working after a kernel error and across many requests.
TEST_F(NetlinkTest, SocketStaysInStepAfterErrors) {
  Netlink nl;
  for (int i = 0; i < 20; ++i) {
    EXPECT_THROW(nl.create_vlan("x" + std::to_string(i), "nope", 5), Error);
    EXPECT_THROW(nl.create_bridge("lo"), Error);
    nl.create_veth("a" + std::to_string(i), "b" + std::to_string(i));
  }
  EXPECT_EQ(nl.links().size(), 41U);
  EXPECT_TRUE(nl.link("a19"));
}

}  // namespace
}  // namespace pvx::network
