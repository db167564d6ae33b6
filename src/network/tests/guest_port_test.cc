// Guest NICs plugged into bridges the way PVE does it, checked with iproute2 and tc, and with
// real packets between two namespaces. Tests of features the running kernel lacks (VLAN
// filtering, 802.1Q devices, dummy links, the tc policer) skip after checking what they can.
#include "network/guest_port.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>

#include "base/error.h"
#include "network/netlink.h"
#include "network/tests/netns_fixture.h"

namespace pvx::network {
namespace {

using nlohmann::json;

class GuestPortTest : public testing::NetnsTest {
 protected:
  static bool is_up(const std::string& name) { return has_flag(link_json(name), "UP"); }
  static bool vlan_filtering() { return kernel_has_vlan_filtering(); }
  static std::vector<std::string> qdisc_kinds(const std::string& dev) {
    std::vector<std::string> kinds;
    for (const auto& q : json::parse(run({"tc", "-j", "qdisc", "show", "dev", dev}))) {
      kinds.push_back(q["kind"].get<std::string>());
    }
    return kinds;
  }
  static bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  }
  static std::pair<int, std::string> error_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return {e.status(), e.what()};
    }
    return {0, "<no error>"};
  }

  // A guest: `host` stays here to be plugged, its peer lives in namespace `ns` with `cidr`.
  void make_guest(const std::string& ns, const std::string& host, const std::string& cidr) {
    std::string inside = host + "p";
    run({"ip", "link", "add", host, "type", "veth", "peer", "name", inside});
    run({"ip", "link", "set", inside, "netns", ns});
    run({"ip", "-n", ns, "addr", "add", cidr, "dev", inside});
    run({"ip", "-n", ns, "link", "set", inside, "up"});
  }
  // Two guests in namespaces of their own, 10.77.0.1 (port "ha") and 10.77.0.2 (port "hb").
  std::pair<std::string, std::string> two_guests() {
    auto a = add_named_netns("pvxga");
    auto b = add_named_netns("pvxgb");
    make_guest(a, "ha", "10.77.0.1/24");
    make_guest(b, "hb", "10.77.0.2/24");
    return {a, b};
  }
  static bool ping(const std::string& ns, const std::string& addr) {
    std::vector<std::string> argv = {"ip", "netns", "exec", ns};
    if (command_exists("ping")) {
      argv.insert(argv.end(), {"ping", "-c", "1", "-W", "1", addr});
    } else {
      argv.insert(argv.end(), {"busybox", "ping", "-c", "1", "-W", "1", addr});
    }
    return run_command(argv, {.timeout = std::chrono::seconds(5), .check = false}).exit_code == 0;
  }
  static bool can_ping() { return command_exists("ping") || command_exists("busybox"); }
};

TEST_F(GuestPortTest, PlainBridgeWithMtuAndLinkState) {
  Netlink nl;
  nl.create_bridge("br0");
  nl.set_mtu("br0", 1450);
  nl.create_veth("g0", "g1");

  plug_guest_port(nl, {.ifname = "g0", .bridge = "br0"});
  auto g0 = link_json("g0");
  EXPECT_EQ(g0["master"], "br0");
  EXPECT_EQ(g0["mtu"], 1450);  // the bridge's
  EXPECT_TRUE(is_up("g0"));
  // A bridge port has no use for an IPv6 link-local address of its own.
  auto v6 = json::parse(run({"ip", "-j", "-6", "addr", "show", "dev", "g0"}));
  EXPECT_TRUE(v6.empty() || v6[0].value("addr_info", json::array()).empty()) << v6.dump();

  plug_guest_port(nl, {.ifname = "g0", .bridge = "br0", .mtu = 1400, .link_down = true});
  g0 = link_json("g0");
  EXPECT_EQ(g0["master"], "br0");
  EXPECT_EQ(g0["mtu"], 1400);
  EXPECT_FALSE(is_up("g0"));

  set_guest_port_link(nl, "g0", false);
  EXPECT_TRUE(is_up("g0"));
  set_guest_port_link(nl, "g0", true);
  EXPECT_FALSE(is_up("g0"));

  unplug_guest_port(nl, "g0");
  EXPECT_FALSE(link_json("g0").contains("master"));
  unplug_guest_port(nl, "g0");       // twice: nothing to do
  unplug_guest_port(nl, "missing");  // gone already: nothing to do
}

TEST_F(GuestPortTest, MissingBridge) {
  Netlink nl;
  nl.create_veth("g0", "g1");
  EXPECT_EQ(error_of([&] { plug_guest_port(nl, {.ifname = "g0", .bridge = "vmbr9"}); }),
            std::make_pair(400, std::string("bridge 'vmbr9' does not exist")));
  // A device that is not a bridge is no bridge either.
  EXPECT_EQ(error_of([&] { plug_guest_port(nl, {.ifname = "g0", .bridge = "g1"}); }),
            std::make_pair(400, std::string("bridge 'g1' does not exist")));
  nl.create_bridge("br0");
  auto [status, text] = error_of([&] { plug_guest_port(nl, {.ifname = "nope", .bridge = "br0"}); });
  EXPECT_EQ(status, 500);
  EXPECT_NE(text.find("device 'nope' does not exist"), std::string::npos) << text;
}

TEST_F(GuestPortTest, BadTagsAndTrunksOnPlainBridge) {
  Netlink nl;
  nl.create_bridge("br0");
  nl.create_veth("g0", "g1");
  EXPECT_EQ(error_of([&] { plug_guest_port(nl, {.ifname = "g0", .bridge = "br0", .tag = 4095}); }).first, 400);
  try {
    plug_guest_port(nl, {.ifname = "g0", .bridge = "br0", .trunks = {{0, 5}}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_TRUE(e.params().count("trunks"));
  }
  // Trunks only mean something on a VLAN-aware bridge, as in PVE.
  EXPECT_EQ(error_of([&] { plug_guest_port(nl, {.ifname = "g0", .bridge = "br0", .trunks = {{10, 20}}}); }),
            std::make_pair(400, std::string("VLAN trunks on 'g0' need a VLAN-aware bridge, and 'br0' is not")));
  EXPECT_FALSE(link_json("g0").contains("master"));
}

TEST_F(GuestPortTest, FailureLeavesThePortDetached) {
  Netlink nl;
  nl.create_bridge("br0");
  nl.create_bridge("br1");
  nl.create_veth("g0", "g1");
  plug_guest_port(nl, {.ifname = "g0", .bridge = "br1"});
  // The MTU is refused after the port joined br0: it must not stay there (nor in br1).
  auto [status, text] = error_of([&] { plug_guest_port(nl, {.ifname = "g0", .bridge = "br0", .mtu = 10}); });
  EXPECT_EQ(status, 500);
  EXPECT_EQ(text.rfind("cannot set MTU of 'g0' to 10: ", 0), 0U) << text;
  EXPECT_FALSE(link_json("g0").contains("master"));
}

TEST_F(GuestPortTest, RateLimitBothDirections) {
  Netlink nl;
  nl.create_bridge("br0");
  nl.create_veth("g0", "g1");
  auto [status, text] = error_of([&] { plug_guest_port(nl, {.ifname = "g0", .bridge = "br0", .rate_mbps = 2.5}); });
  if (status != 0) {
    // Kernels without the `basic` classifier or the police action cannot limit ingress: the
    // error says so and nothing half-made is left behind.
    EXPECT_EQ(text.rfind("cannot limit the rate of 'g0': ", 0), 0U) << text;
    EXPECT_FALSE(has(qdisc_kinds("g0"), "htb"));
    EXPECT_FALSE(has(qdisc_kinds("g0"), "ingress"));
    EXPECT_FALSE(link_json("g0").contains("master"));
    GTEST_SKIP() << "kernel without tc basic/police: " << text;
  }
  auto kinds = qdisc_kinds("g0");
  EXPECT_TRUE(has(kinds, "htb"));
  EXPECT_TRUE(has(kinds, "ingress"));
  // 2.5 MB/s = 2621440 bytes/s = 20971520 bit/s
  EXPECT_NE(run({"tc", "class", "show", "dev", "g0"}).find("rate 20971Kbit"), std::string::npos);
  bool policer = false;
  for (const auto& f : json::parse(run({"tc", "-j", "filter", "show", "dev", "g0", "parent", "ffff:"}))) {
    policer = policer || f.value("kind", "") == "basic";
  }
  EXPECT_TRUE(policer);

  set_guest_port_rate("g0", 1.0);  // changed in place
  EXPECT_NE(run({"tc", "class", "show", "dev", "g0"}).find("rate 8388Kbit"), std::string::npos);

  set_guest_port_rate("g0", std::nullopt);
  kinds = qdisc_kinds("g0");
  EXPECT_FALSE(has(kinds, "htb"));
  EXPECT_FALSE(has(kinds, "ingress"));

  set_guest_port_rate("g0", 3.0);
  unplug_guest_port(nl, "g0");
  EXPECT_FALSE(has(qdisc_kinds("g0"), "htb"));
  EXPECT_FALSE(link_json("g0").contains("master"));
}

TEST_F(GuestPortTest, NoRateMeansNoQdiscs) {
  Netlink nl;
  nl.create_bridge("br0");
  nl.create_veth("g0", "g1");
  plug_guest_port(nl, {.ifname = "g0", .bridge = "br0", .rate_mbps = 0.0});  // PVE: 0 = unlimited
  auto kinds = qdisc_kinds("g0");
  EXPECT_FALSE(has(kinds, "htb"));
  EXPECT_FALSE(has(kinds, "ingress"));
  EXPECT_EQ(link_json("g0")["master"], "br0");
}

TEST_F(GuestPortTest, VlanAwareBridgeTagAndTrunks) {
  Netlink nl;
  if (!vlan_filtering()) GTEST_SKIP() << "kernel without bridge VLAN filtering";
  nl.create_bridge("br0");
  nl.set_bridge_vlan_filtering("br0", true);
  for (const auto& g : {"g0", "g2", "g4"}) nl.create_veth(g, std::string(g) + "p");

  plug_guest_port(nl, {.ifname = "g0", .bridge = "br0", .tag = 10});
  EXPECT_EQ(bridge_vlans("g0"), (VlanMap{{10, {true, true}}}));  // default VLAN 1 removed
  EXPECT_EQ(link_json("g0")["master"], "br0");

  plug_guest_port(nl, {.ifname = "g2", .bridge = "br0", .tag = 10, .trunks = {{20, 30}, {40, 40}}});
  VlanMap expected{{10, {true, true}}, {40, {false, false}}};
  for (int vid = 20; vid <= 30; ++vid) expected[vid] = {false, false};
  EXPECT_EQ(bridge_vlans("g2"), expected);

  // Neither tag nor trunks: PVE gives the port every VLAN tagged, 1 untagged as PVID.
  plug_guest_port(nl, {.ifname = "g4", .bridge = "br0"});
  auto all = bridge_vlans("g4");
  EXPECT_EQ(all.size(), 4094U);
  EXPECT_EQ(all[1], std::make_pair(true, true));
  EXPECT_EQ(all[4094], std::make_pair(false, false));

  // Trunks without a tag: the trunks tagged, 1 untagged.
  plug_guest_port(nl, {.ifname = "g4", .bridge = "br0", .trunks = {{7, 8}}});
  EXPECT_EQ(bridge_vlans("g4"), (VlanMap{{1, {true, true}}, {7, {false, false}}, {8, {false, false}}}));

  // A re-plug replaces the VLANs.
  plug_guest_port(nl, {.ifname = "g0", .bridge = "br0", .tag = 11});
  EXPECT_EQ(bridge_vlans("g0"), (VlanMap{{11, {true, true}}}));
}

TEST_F(GuestPortTest, PlainBridgeWithTagUsesAVlanBridge) {
  Netlink nl;
  nl.create_bridge("vmbr1");
  nl.create_veth("g0", "g0p");
  nl.create_veth("g2", "g2p");
  // Without an uplink there is nothing to carry the VLAN.
  EXPECT_EQ(error_of([&] { plug_guest_port(nl, {.ifname = "g0", .bridge = "vmbr1", .tag = 5}); }),
            std::make_pair(400, std::string("no physical interface on bridge 'vmbr1' for VLAN 5")));
  EXPECT_FALSE(link_json("g0").contains("master"));

  if (!kernel_can({"type", "dummy"})) GTEST_SKIP() << "kernel without dummy links (the NIC stand-in)";
  run({"ip", "link", "add", "up0", "type", "dummy"});
  if (!kernel_can({"link", "up0", "type", "vlan", "id", "1"})) GTEST_SKIP() << "kernel without 802.1Q VLAN devices";
  run({"ip", "link", "set", "up0", "master", "vmbr1", "up"});
  run({"ip", "link", "set", "vmbr1", "mtu", "1400", "up"});

  plug_guest_port(nl, {.ifname = "g0", .bridge = "vmbr1", .tag = 5});
  auto vbridge = link_json("vmbr1v5");
  EXPECT_EQ(vbridge["linkinfo"]["info_kind"], "bridge");
  EXPECT_EQ(vbridge["mtu"], 1400);
  EXPECT_TRUE(is_up("vmbr1v5"));
  auto vlan = link_json("up0.5");
  EXPECT_EQ(vlan["linkinfo"]["info_kind"], "vlan");
  EXPECT_EQ(vlan["linkinfo"]["info_data"]["id"], 5);
  EXPECT_EQ(vlan["link"], "up0");
  EXPECT_EQ(vlan["master"], "vmbr1v5");
  EXPECT_EQ(link_json("g0")["master"], "vmbr1v5");
  EXPECT_EQ(link_json("g0")["mtu"], 1400);

  // A second guest on the same VLAN reuses what is there.
  plug_guest_port(nl, {.ifname = "g2", .bridge = "vmbr1", .tag = 5});
  EXPECT_EQ(link_json("g2")["master"], "vmbr1v5");
  EXPECT_EQ(link_json("up0.5")["master"], "vmbr1v5");

  // Without a tag the guest goes into the bridge itself.
  plug_guest_port(nl, {.ifname = "g2", .bridge = "vmbr1"});
  EXPECT_EQ(link_json("g2")["master"], "vmbr1");
}

TEST_F(GuestPortTest, PacketsFlowThroughAPlainBridge) {
  if (!can_ping()) GTEST_SKIP() << "no ping";
  auto [a, b] = two_guests();
  Netlink nl;
  nl.create_bridge("br0");
  nl.set_up("br0", true);
  plug_guest_port(nl, {.ifname = "ha", .bridge = "br0"});
  plug_guest_port(nl, {.ifname = "hb", .bridge = "br0"});
  EXPECT_TRUE(ping(a, "10.77.0.2"));

  plug_guest_port(nl, {.ifname = "hb", .bridge = "br0", .link_down = true});
  EXPECT_FALSE(ping(a, "10.77.0.2"));
  set_guest_port_link(nl, "hb", false);
  EXPECT_TRUE(ping(a, "10.77.0.2"));
  unplug_guest_port(nl, "hb");
  EXPECT_FALSE(ping(a, "10.77.0.2"));
}

TEST_F(GuestPortTest, PacketsFlowOnlyWithinTheSameVlan) {
  if (!can_ping()) GTEST_SKIP() << "no ping";
  if (!vlan_filtering()) GTEST_SKIP() << "kernel without bridge VLAN filtering";
  auto [a, b] = two_guests();
  Netlink nl;
  nl.create_bridge("br0");
  nl.set_bridge_vlan_filtering("br0", true);
  nl.set_up("br0", true);
  plug_guest_port(nl, {.ifname = "ha", .bridge = "br0", .tag = 10});
  plug_guest_port(nl, {.ifname = "hb", .bridge = "br0", .tag = 10});
  EXPECT_TRUE(ping(a, "10.77.0.2"));

  plug_guest_port(nl, {.ifname = "hb", .bridge = "br0", .tag = 20});
  run({"ip", "-n", a, "neigh", "flush", "all"});
  EXPECT_FALSE(ping(a, "10.77.0.2"));

  // A trunk carrying VLAN 10 tagged does not deliver to an untagged guest either.
  plug_guest_port(nl, {.ifname = "hb", .bridge = "br0", .tag = 20, .trunks = {{10, 10}}});
  EXPECT_FALSE(ping(a, "10.77.0.2"));
}

TEST(GuestPortTrunks, ParsesPveText) {
  EXPECT_EQ(parse_trunks("10;20-30"), (std::vector<std::pair<int, int>>{{10, 10}, {20, 30}}));
  EXPECT_EQ(parse_trunks("1"), (std::vector<std::pair<int, int>>{{1, 1}}));
  EXPECT_EQ(parse_trunks("4094;2-3;7-7"), (std::vector<std::pair<int, int>>{{4094, 4094}, {2, 3}, {7, 7}}));
  EXPECT_TRUE(parse_trunks("").empty());
}

TEST(GuestPortTrunks, RejectsBadText) {
  for (const std::string text : {"0", "4095", "10;", ";10", "10,20", "a", "20-10", "1-2-3", "-5", "10 ;20", "99999"}) {
    try {
      parse_trunks(text);
      ADD_FAILURE() << "accepted '" << text << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), 400) << text;
      EXPECT_TRUE(e.params().count("trunks")) << text;
    }
  }
}

}  // namespace
}  // namespace pvx::network
