// Applying interfaces files to a network namespace: the result is read back with iproute2's JSON
// output. Bonds, 802.1Q devices and bridge VLAN filtering are tested where the kernel has them;
// elsewhere those tests skip.
#include "network/apply.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>

#include "base/error.h"
#include "network/netlink.h"
#include "network/tests/netns_fixture.h"

namespace pvx::network {
namespace {

using nlohmann::json;

// ---- creation order (no kernel) ----

Interface iface(const std::string& name, IfaceType type, int priority) {
  Interface i;
  i.name = name;
  i.type = type;
  i.priority = priority;
  return i;
}

std::string error_of(const std::function<void()>& f, int* status = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (status) *status = e.status();
    return e.what();
  }
  return "<no error>";
}

std::size_t position(const std::vector<std::string>& order, const std::string& name) {
  return static_cast<std::size_t>(std::find(order.begin(), order.end(), name) - order.begin());
}

TEST(CreationOrderTest, DependenciesComeFirst) {
  InterfacesFile file;
  auto add = [&](Interface i) { file.ifaces[i.name] = std::move(i); };
  auto bridge = iface("vmbr0", IfaceType::Bridge, 1);  // first in the file, still after its port
  bridge.bridge_ports = {"bond0"};
  bridge.bridge_vlan_aware = true;
  add(bridge);
  auto bond = iface("bond0", IfaceType::Bond, 2);
  bond.slaves = {"eno2", "eno1"};
  add(bond);
  add(iface("vmbr0.30", IfaceType::Vlan, 3));
  auto vlan = iface("mgmt", IfaceType::Vlan, 4);
  vlan.vlan_raw_device = "eno3";
  vlan.vlan_id = 7;
  add(vlan);
  add(iface("eno1", IfaceType::Eth, 5));
  add(iface("eno2", IfaceType::Eth, 6));
  add(iface("eno3", IfaceType::Eth, 7));

  auto order = creation_order(file, {"vmbr0", "bond0", "vmbr0.30", "mgmt", "eno1", "eno2", "eno3"});
  ASSERT_EQ(order.size(), 7U);
  EXPECT_LT(position(order, "eno1"), position(order, "bond0"));
  EXPECT_LT(position(order, "eno2"), position(order, "bond0"));
  EXPECT_LT(position(order, "bond0"), position(order, "vmbr0"));
  EXPECT_LT(position(order, "vmbr0"), position(order, "vmbr0.30"));
  EXPECT_LT(position(order, "eno3"), position(order, "mgmt"));
  EXPECT_EQ(order.front(), "eno2");  // the bridge's chain first, slaves in the order listed

  // Only the names asked for, in the same relative order; a name the file lacks has no needs.
  EXPECT_EQ(creation_order(file, {"vmbr0.30", "eno1", "bond0"}),
            (std::vector<std::string>{"eno1", "bond0", "vmbr0.30"}));
  EXPECT_EQ(creation_order(file, {"tap100i0"}), std::vector<std::string>{"tap100i0"});
}

TEST(CreationOrderTest, BridgeEnslavedToItself) {
  InterfacesFile file;
  auto bridge = iface("vmbr0", IfaceType::Bridge, 1);
  bridge.bridge_ports = {"eno1", "vmbr0"};
  file.ifaces["vmbr0"] = bridge;
  int status = 0;
  EXPECT_EQ(error_of([&] { creation_order(file, {"vmbr0"}); }, &status), "bridge 'vmbr0' is enslaved to itself");
  EXPECT_EQ(status, 400);

  InterfacesFile bonds;
  auto bond = iface("bond0", IfaceType::Bond, 1);
  bond.slaves = {"bond0"};
  bonds.ifaces["bond0"] = bond;
  EXPECT_EQ(error_of([&] { creation_order(bonds, {"bond0"}); }), "bond 'bond0' is enslaved to itself");
}

TEST(CreationOrderTest, CyclesNameTheDevices) {
  InterfacesFile file;
  auto bridge = iface("vmbr0", IfaceType::Bridge, 1);
  bridge.bridge_ports = {"bond0"};
  file.ifaces["vmbr0"] = bridge;
  auto bond = iface("bond0", IfaceType::Bond, 2);
  bond.slaves = {"vmbr1"};
  file.ifaces["bond0"] = bond;
  auto other = iface("vmbr1", IfaceType::Bridge, 3);
  other.bridge_ports = {"vmbr0"};
  file.ifaces["vmbr1"] = other;
  int status = 0;
  // vmbr1 is not asked for, the cycle through it is still found.
  EXPECT_EQ(error_of(
                [&] {
                  creation_order(file, {"vmbr0", "bond0"});
                },
                &status),
            "bridge 'vmbr0' depends on itself: vmbr0 -> bond0 -> vmbr1 -> vmbr0");
  EXPECT_EQ(status, 400);
}

// ---- applying to a namespace ----

class ApplyTest : public testing::NetnsTest {
 protected:
  static bool exists(const std::string& name) {
    return run_command({"ip", "link", "show", "dev", name}, {.check = false}).exit_code == 0;
  }
  static bool is_up(const std::string& name) { return has_flag(link_json(name), "UP"); }
  static std::string master_of(const std::string& name) { return link_json(name).value("master", ""); }
  static json info_data(const std::string& name) {
    return link_json(name)["linkinfo"].value("info_data", json::object());
  }


  // Permanent addresses of a device as "address/prefix", link-local ones left out.
  static std::vector<std::string> addresses(const std::string& name) {
    std::vector<std::string> out;
    auto links = ip_json({"ip", "-j", "addr", "show", "dev", name});
    for (const auto& a : links[0]["addr_info"]) {
      if (a.value("scope", "") == "link") continue;
      out.push_back(a["local"].get<std::string>() + "/" + std::to_string(a["prefixlen"].get<int>()));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Routes of the main table that the kernel did not make for an address: "dst via gw dev".
  static std::vector<std::string> routes() {
    std::vector<std::string> out;
    for (const char* family : {"-4", "-6"}) {
      for (const auto& r : ip_json({"ip", "-j", family, "route", "show", "table", "main"})) {
        if (r.value("protocol", "") == "kernel") continue;
        out.push_back(r["dst"].get<std::string>() + " via " + r.value("gateway", "-") + " dev " + r.value("dev", "-"));
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Everything an apply may change, in a form two points in time can be compared by: per link
  // its kind, master, MTU, up flag and kind settings; addresses; routes; bridge VLANs.
  static json kernel_state() {
    json state;
    for (const auto& l : ip_json({"ip", "-j", "-d", "link", "show"})) {
      std::string name = l["ifname"];
      json& entry = state["links"][name];
      auto info = l.value("linkinfo", json::object());
      entry["kind"] = info.value("info_kind", "");
      entry["master"] = l.value("master", "");
      entry["mtu"] = l["mtu"];
      auto flags = l["flags"];
      entry["up"] = std::find(flags.begin(), flags.end(), "UP") != flags.end();
      entry["link"] = info.value("info_kind", "") == "vlan" ? l.value("link", "") : "";
      auto data = info.value("info_data", json::object());
      for (const char* key : {"stp_state", "forward_delay", "vlan_filtering", "protocol", "id", "mode", "miimon",
                              "primary", "xmit_hash_policy"}) {
        if (data.contains(key)) entry[key] = data[key];
      }
      state["addresses"][name] = addresses(name);
    }
    state["routes"] = routes();
    state["vlans"] = ip_json({"bridge", "-j", "vlan", "show"});
    return state;
  }

  ApplyResult apply(const std::string& previous, const std::string& next, const std::set<std::string>& owned) {
    log_.clear();
    ApplyOptions options;
    options.log = [this](const std::string& line) { log_.push_back(line); };
    return apply_interfaces(*nl_, parse_interfaces(previous), parse_interfaces(next), owned, options);
  }

  bool logged(const std::string& text) const {
    return std::any_of(log_.begin(), log_.end(),
                       [&](const std::string& l) { return l.find(text) != std::string::npos; });
  }

  void SetUp() override {
    NetnsTest::SetUp();
    if (IsSkipped()) return;
    nl_.emplace();
  }
  void TearDown() override {
    nl_.reset();
    NetnsTest::TearDown();
  }

  std::vector<std::string> log_;

 private:
  // Opened inside the test's namespace: a socket talks to the namespace it was made in.
  std::optional<Netlink> nl_;
};

// Two plain bridges, one with both families' addresses and gateways, a port with MTU 9000.
const char* kBase = R"(auto lo
iface lo inet loopback

auto vp1
iface vp1 inet manual
	mtu 9000

iface vp3 inet static
	address 10.3.0.2/24

auto vmbr1
iface vmbr1 inet static
	address 10.1.0.2/24
	gateway 10.1.0.1
	bridge-ports vp1
	bridge-stp off
	bridge-fd 0
	mtu 9000

iface vmbr1 inet6 static
	address 2001:db8:1::2/64
	gateway 2001:db8:1::1

auto vmbr2
iface vmbr2 inet manual
	bridge-ports vp2
	bridge-stp on
	bridge-fd 4
)";

const std::set<std::string> kOwned = {"vp1", "vp2", "vp3", "vmbr1", "vmbr2", "vmbr9", "veth9"};

TEST_F(ApplyTest, BridgesAddressesGatewaysMtu) {
  run({"ip", "link", "add", "vp1", "type", "veth", "peer", "name", "vp1p"});
  run({"ip", "link", "add", "vp2", "type", "veth", "peer", "name", "vp2p"});
  run({"ip", "link", "add", "vp3", "type", "veth", "peer", "name", "vp3p"});

  auto result = apply("", kBase, kOwned);
  EXPECT_FALSE(result.steps.empty());
  EXPECT_EQ(result.steps,
            std::vector<std::string>(log_.begin(), log_.begin() + static_cast<long>(result.steps.size())));

  EXPECT_EQ(link_json("vmbr1")["linkinfo"]["info_kind"], "bridge");
  EXPECT_EQ(master_of("vp1"), "vmbr1");
  EXPECT_EQ(master_of("vp2"), "vmbr2");
  EXPECT_EQ(link_json("vp1")["mtu"], 9000);
  EXPECT_EQ(link_json("vmbr1")["mtu"], 9000);
  EXPECT_TRUE(is_up("vmbr1"));
  EXPECT_TRUE(is_up("vp1"));
  EXPECT_TRUE(is_up("vmbr2"));
  EXPECT_TRUE(is_up("vp2"));   // no stanza, brought up for its bridge
  EXPECT_FALSE(is_up("vp3"));  // no `auto`: configured, but down
  EXPECT_EQ(addresses("vp3"), std::vector<std::string>{"10.3.0.2/24"});
  EXPECT_EQ(addresses("vmbr1"), (std::vector<std::string>{"10.1.0.2/24", "2001:db8:1::2/64"}));
  EXPECT_EQ(routes(),
            (std::vector<std::string>{"default via 10.1.0.1 dev vmbr1", "default via 2001:db8:1::1 dev vmbr1"}));
  EXPECT_EQ(info_data("vmbr1")["stp_state"], 0);
  EXPECT_EQ(info_data("vmbr1")["forward_delay"], 0);
  EXPECT_EQ(info_data("vmbr2")["stp_state"], 1);
  EXPECT_EQ(info_data("vmbr2")["forward_delay"], 400);

  // The kernel matches the file now: nothing to do the second time.
  auto again = apply(kBase, kBase, kOwned);
  EXPECT_EQ(again.steps, std::vector<std::string>{});
}

TEST_F(ApplyTest, ChangesFollowTheFile) {
  run({"ip", "link", "add", "vp1", "type", "veth", "peer", "name", "vp1p"});
  run({"ip", "link", "add", "vp2", "type", "veth", "peer", "name", "vp2p"});
  run({"ip", "link", "add", "vp3", "type", "veth", "peer", "name", "vp3p"});
  apply("", kBase, kOwned);
  // Made by something else (DHCP, an admin): neither file names it, so it stays.
  run({"ip", "addr", "add", "10.9.9.9/32", "dev", "vmbr1"});

  const char* next = R"(auto lo
iface lo inet loopback

auto vp1
iface vp1 inet manual
	mtu 9000

auto vmbr1
iface vmbr1 inet static
	address 10.1.0.3/24
	gateway 10.1.0.1
	bridge-ports none
	bridge-stp off
	bridge-fd 0
	mtu 9000

iface vmbr1 inet6 static
	address 2001:db8:1::2/64
	gateway 2001:db8:1::1
)";
  auto result = apply(kBase, next, kOwned);
  EXPECT_FALSE(exists("vmbr2"));
  EXPECT_EQ(master_of("vp2"), "");
  EXPECT_EQ(master_of("vp1"), "");  // released: no longer a port
  EXPECT_EQ(link_json("vp1")["mtu"], 9000);
  EXPECT_EQ(addresses("vmbr1"), (std::vector<std::string>{"10.1.0.3/24", "10.9.9.9/32", "2001:db8:1::2/64"}));
  EXPECT_EQ(addresses("vp3"), std::vector<std::string>{});  // its stanza is gone: its address too
  EXPECT_EQ(routes(),
            (std::vector<std::string>{"default via 10.1.0.1 dev vmbr1", "default via 2001:db8:1::1 dev vmbr1"}));
  EXPECT_TRUE(std::find(result.steps.begin(), result.steps.end(), "delete bridge vmbr2") != result.steps.end());
  EXPECT_TRUE(std::find(result.steps.begin(), result.steps.end(), "remove vp1 from bridge vmbr1") !=
              result.steps.end());
  EXPECT_EQ(apply(next, next, kOwned).steps, std::vector<std::string>{});

  // The gateway moves to another device, and the IPv6 stanza goes away.
  const char* moved = R"(auto vp1
iface vp1 inet static
	address 10.7.0.2/24
	gateway 10.7.0.1

auto vmbr1
iface vmbr1 inet static
	address 10.1.0.3/24
	bridge-ports none
)";
  apply(next, moved, kOwned);
  EXPECT_EQ(routes(), std::vector<std::string>{"default via 10.7.0.1 dev vp1"});
  EXPECT_EQ(addresses("vmbr1"), (std::vector<std::string>{"10.1.0.3/24", "10.9.9.9/32"}));
  EXPECT_EQ(link_json("vmbr1")["mtu"], 9000);  // an MTU the file no longer sets is left as it is
  EXPECT_EQ(apply(moved, moved, kOwned).steps, std::vector<std::string>{});
}

TEST_F(ApplyTest, FailedStepRestoresEverything) {
  run({"ip", "link", "add", "vp1", "type", "veth", "peer", "name", "vp1p"});
  run({"ip", "link", "add", "vp2", "type", "veth", "peer", "name", "vp2p"});
  run({"ip", "link", "add", "vp3", "type", "veth", "peer", "name", "vp3p"});
  apply("", kBase, kOwned);
  run({"ip", "link", "add", "veth9", "type", "veth", "peer", "name", "veth9p"});
  run({"ip", "link", "del", "veth9"});  // gone before the apply gets to it
  auto before = kernel_state();

  // Address change, port moved between bridges, MTU change, bridge deleted: all before the new
  // bridge whose port is missing.
  const char* next = R"(auto lo
iface lo inet loopback

auto vp1
iface vp1 inet manual
	mtu 1400

auto vmbr1
iface vmbr1 inet static
	address 10.1.0.3/24
	gateway 10.1.0.1
	bridge-ports vp1 vp2
	bridge-stp off
	bridge-fd 0

auto vmbr9
iface vmbr9 inet static
	address 10.99.0.1/24
	bridge-ports veth9
)";
  int status = 0;
  auto message = error_of([&] { apply(kBase, next, kOwned); }, &status);
  EXPECT_EQ(status, 500);
  EXPECT_EQ(message,
            "apply failed at 'add veth9 to bridge vmbr9': device 'veth9' does not exist; previous state restored");
  EXPECT_TRUE(logged("delete bridge vmbr2"));
  EXPECT_TRUE(logged("add 10.1.0.3/24 to vmbr1"));
  EXPECT_TRUE(logged("undo: create bridge vmbr9"));
  EXPECT_EQ(kernel_state(), before);
  EXPECT_EQ(info_data("vmbr2")["stp_state"], 1);
}

TEST_F(ApplyTest, UnownedDevicesAreOnlyRead) {
  run({"ip", "link", "add", "ext0", "type", "veth", "peer", "name", "ext0p"});
  run({"ip", "link", "set", "ext0", "mtu", "1400"});
  auto before = link_json("ext0");

  const char* next = R"(auto ext0
iface ext0 inet static
	address 10.5.0.1/24
	gateway 10.5.0.254
	mtu 9000

auto vmbr5
iface vmbr5 inet manual
	bridge-ports ext0
)";
  auto result = apply("", next, {"vmbr5"});
  EXPECT_TRUE(exists("vmbr5"));
  EXPECT_TRUE(is_up("vmbr5"));
  auto after = link_json("ext0");
  EXPECT_EQ(after.value("master", ""), "");
  EXPECT_EQ(after["mtu"], 1400);
  EXPECT_EQ(after["flags"], before["flags"]);
  EXPECT_EQ(addresses("ext0"), std::vector<std::string>{});
  EXPECT_EQ(routes(), std::vector<std::string>{});
  EXPECT_TRUE(logged("ext0 is not managed here"));
  for (const auto& step : result.steps) EXPECT_EQ(step.find("ext0"), std::string::npos) << step;
}

TEST_F(ApplyTest, BadFilesAreRefusedBeforeAnyChange) {
  run({"ip", "link", "add", "vmbr7", "type", "veth", "peer", "name", "vmbr7p"});
  auto before = kernel_state();
  int status = 0;
  auto message =
      error_of([&] { apply("", "auto vmbr7\niface vmbr7 inet manual\n\tbridge-ports none\n", {"vmbr7"}); }, &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(message, "cannot create bridge 'vmbr7': a veth device of that name exists");

  status = 0;
  message = error_of(
      [&] {
        apply("",
              "auto vmbr3\niface vmbr3 inet manual\n\tbridge-ports none\n\tbridge-vlan-aware yes\n\tbridge-vids 10 "
              "5000\n",
              {"vmbr3"});
      },
      &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(message, "interface 'vmbr3': bridge-vids: '5000' is not a VLAN id or range in 1-4094");

  message = error_of([&] {
    apply("", "auto vmbr3\niface vmbr3 inet static\n\taddress 10.0.0.300/24\n\tbridge-ports none\n", {"vmbr3"});
  });
  EXPECT_EQ(message, "interface 'vmbr3': '10.0.0.300/24' is not an address of its family");
  message = error_of([&] { apply("", "auto vmbr3\niface vmbr3 inet manual\n\tbridge-ports vmbr3\n", {"vmbr3"}); });
  EXPECT_EQ(message, "bridge 'vmbr3' is enslaved to itself");
  EXPECT_EQ(kernel_state(), before);
}

TEST_F(ApplyTest, DhcpStanzasKeepTheirAddresses) {
  const char* file = "auto vmbr4\niface vmbr4 inet dhcp\n\tbridge-ports none\n";
  apply("", file, {"vmbr4"});
  run({"ip", "addr", "add", "192.168.4.20/24", "dev", "vmbr4"});  // as a DHCP client would
  auto result = apply(file, file, {"vmbr4"});
  EXPECT_EQ(result.steps, std::vector<std::string>{});
  EXPECT_TRUE(logged("vmbr4: DHCP (inet) is not run by pvx"));
  EXPECT_EQ(addresses("vmbr4"), std::vector<std::string>{"192.168.4.20/24"});
}

TEST_F(ApplyTest, VlanAwareBridge) {
  if (!kernel_has_vlan_filtering()) GTEST_SKIP() << "kernel without bridge VLAN filtering";
  run({"ip", "link", "add", "vp1", "type", "veth", "peer", "name", "vp1p"});
  const char* file = R"(auto vp1
iface vp1 inet manual

auto vmbr0
iface vmbr0 inet manual
	bridge-ports vp1
	bridge-stp off
	bridge-fd 0
	bridge-vlan-aware yes
	bridge-vids 10 20-30
)";
  apply("", file, {"vp1", "vmbr0"});
  EXPECT_EQ(info_data("vmbr0")["vlan_filtering"], 1);
  VlanMap want{{1, {true, true}}, {10, {false, false}}};
  for (int vid = 20; vid <= 30; ++vid) want[vid] = {false, false};
  EXPECT_EQ(bridge_vlans("vp1"), want);
  EXPECT_EQ(bridge_vlans("vmbr0"), want);
  EXPECT_EQ(apply(file, file, {"vp1", "vmbr0"}).steps, std::vector<std::string>{});

  std::string changed = file;
  changed.replace(changed.find("10 20-30"), 8, "40");
  apply(file, changed, {"vp1", "vmbr0"});
  EXPECT_EQ(bridge_vlans("vp1"), (VlanMap{{1, {true, true}}, {40, {false, false}}}));
  EXPECT_EQ(bridge_vlans("vmbr0"), (VlanMap{{1, {true, true}}, {40, {false, false}}}));
}

TEST_F(ApplyTest, BondAndVlanDevices) {
  if (!kernel_can({"type", "bond"})) GTEST_SKIP() << "kernel without bonding";
  run({"ip", "link", "add", "vb0", "type", "veth", "peer", "name", "vb0p"});
  if (!kernel_can({"link", "vb0", "type", "vlan", "id", "2"})) GTEST_SKIP() << "kernel without 802.1Q VLAN devices";
  run({"ip", "link", "add", "vb1", "type", "veth", "peer", "name", "vb1p"});
  run({"ip", "link", "add", "vb2", "type", "veth", "peer", "name", "vb2p"});
  const char* file = R"(auto vb1
iface vb1 inet manual

auto vb2
iface vb2 inet manual

auto bond0
iface bond0 inet manual
	bond-slaves vb1 vb2
	bond-miimon 100
	bond-mode active-backup
	bond-primary vb2
	mtu 9000

auto bond0.5
iface bond0.5 inet static
	address 10.5.0.2/24

auto mgmt7
iface mgmt7 inet manual
	vlan-raw-device bond0
	vlan-id 7
)";
  std::set<std::string> owned{"vb1", "vb2", "bond0", "bond0.5", "mgmt7"};
  apply("", file, owned);
  auto bond = info_data("bond0");
  EXPECT_EQ(bond["mode"], "active-backup");
  EXPECT_EQ(bond["miimon"], 100);
  EXPECT_EQ(bond["primary"], "vb2");
  EXPECT_EQ(master_of("vb1"), "bond0");
  EXPECT_EQ(master_of("vb2"), "bond0");
  EXPECT_EQ(link_json("bond0")["mtu"], 9000);
  EXPECT_EQ(link_json("vb1")["mtu"], 9000);
  EXPECT_EQ(info_data("bond0.5")["id"], 5);
  EXPECT_EQ(link_json("bond0.5")["link"], "bond0");
  EXPECT_EQ(info_data("mgmt7")["id"], 7);
  EXPECT_EQ(link_json("mgmt7")["link"], "bond0");
  EXPECT_EQ(addresses("bond0.5"), std::vector<std::string>{"10.5.0.2/24"});
  EXPECT_TRUE(is_up("bond0"));
  EXPECT_TRUE(is_up("mgmt7"));
  EXPECT_EQ(apply(file, file, owned).steps, std::vector<std::string>{});

  // Another mode (the bond goes down and lets go of its slaves for it) and another VLAN id.
  std::string changed = file;
  changed.replace(changed.find("active-backup"), 13, "balance-xor\n\tbond-xmit-hash-policy layer3+4");
  changed.replace(changed.find("\tbond-primary vb2\n"), 18, "");
  changed.replace(changed.find("vlan-id 7"), 9, "vlan-id 8");
  apply(file, changed, owned);
  bond = info_data("bond0");
  EXPECT_EQ(bond["mode"], "balance-xor");
  EXPECT_EQ(bond["xmit_hash_policy"], "layer3+4");
  EXPECT_EQ(master_of("vb1"), "bond0");
  EXPECT_EQ(master_of("vb2"), "bond0");
  EXPECT_EQ(info_data("mgmt7")["id"], 8);
  EXPECT_TRUE(is_up("bond0"));
  EXPECT_EQ(apply(changed, changed, owned).steps, std::vector<std::string>{});
}

}  // namespace
}  // namespace pvx::network
