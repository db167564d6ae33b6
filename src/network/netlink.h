#pragma once
// Kernel network state through rtnetlink (libnl-route): read links, addresses, routes and bridge
// VLANs; create and change bridges, bonds, VLAN devices; set masters, MTU, up/down. One Netlink
// object owns one socket and is used from one thread at a time (a task or a handler); it talks
// to the network namespace of the calling thread.
//
// Errors: every failing call throws pvx::Error(500) whose message names the device and the
// operation, e.g. "cannot add 'veth9' to bridge 'vmbr9': No such device".
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pvx::network {

struct LinkState {
  std::string name;
  int index = 0;
  std::string kind;      // rtnl "kind": "bridge", "bond", "vlan", "veth", "tun", "dummy"; "" for physical NICs
  std::string master;    // bridge or bond this link is enslaved to, "" if none
  unsigned mtu = 0;
  bool up = false;       // administratively up (IFF_UP)
  bool running = false;  // carrier/operational (IFF_RUNNING / IFF_LOWER_UP)
  std::string mac;       // "aa:bb:cc:dd:ee:ff"
  // kind-specific
  bool vlan_filtering = false;  // bridges
  bool bridge_stp = false;      // bridges: STP on
  unsigned bridge_forward_delay = 0;  // bridges: seconds
  int vlan_id = 0;              // vlan devices
  std::string vlan_parent;      // vlan devices: the raw device
  std::string vlan_protocol;    // "802.1Q" or "802.1ad"
  std::string bond_mode;        // bonds: PVE's names ("balance-rr", "active-backup", "802.3ad", ...)
  std::string bond_xmit_hash_policy;  // bonds: "layer2", "layer2+3", "layer3+4"
  std::string bond_primary;     // bonds
  unsigned bond_miimon = 0;     // bonds
  bool physical = false;        // backed by a device (/sys/class/net/<name>/device exists)
};

struct AddrState {
  std::string ifname;
  std::string cidr;  // "10.0.0.1/24" or "2001:db8::1/64"
  int family = 0;    // AF_INET or AF_INET6
  bool permanent = true;  // false for addresses the kernel or DHCP made (IPv6 link-local is skipped)
};

struct RouteState {
  std::string dst;      // "default" or a CIDR
  std::string gateway;  // "" for direct routes
  std::string ifname;
  int family = 0;
  int table = 254;      // main
  int protocol = 0;     // RTPROT_*: kernel routes are 2
};

// VLANs of one bridge port (or of the bridge itself, `self`), as `bridge vlan` shows them.
struct PortVlan {
  int vid = 0;
  bool pvid = false;
  bool untagged = false;
};

struct BondOptions {
  std::string mode = "balance-rr";  // PVE's names
  unsigned miimon = 100;
  std::string xmit_hash_policy;     // "" = kernel default
  std::string primary;              // active-backup only
};

class Netlink {
 public:
  Netlink();  // opens the rtnetlink socket; throws Error(500) when it cannot
  ~Netlink();
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;

  // --- reading ---
  std::vector<LinkState> links();
  std::optional<LinkState> link(const std::string& name);
  std::vector<AddrState> addresses(const std::string& ifname = {});  // all links when empty
  std::vector<RouteState> routes(int family = 0);                  // all tables, both families when 0
  std::vector<PortVlan> port_vlans(const std::string& ifname);     // bridge port or bridge (self)

  // --- devices ---
  void create_bridge(const std::string& name);
  void create_bond(const std::string& name, const BondOptions& options);
  void set_bond_options(const std::string& name, const BondOptions& options);  // bond must be down for mode
  void create_vlan(const std::string& name, const std::string& parent, int vid, const std::string& protocol = "802.1Q");
  void create_veth(const std::string& name, const std::string& peer);  // tests and containers
  void create_tap(const std::string& name);                            // persistent tap (VMs reopen it)
  void delete_link(const std::string& name);  // no error when it does not exist

  // --- link attributes ---
  void set_up(const std::string& name, bool up);
  void set_mtu(const std::string& name, unsigned mtu);
  void set_master(const std::string& name, const std::string& master);  // "" releases it
  void set_bridge_vlan_filtering(const std::string& bridge, bool on);
  // PVE's bridge settings: stp off and forward delay 0 unless told otherwise (seconds).
  void set_bridge_stp(const std::string& bridge, bool stp, unsigned forward_delay);

  // --- bridge VLANs (port or bridge self) ---
  void add_port_vlan(const std::string& ifname, int vid, bool pvid, bool untagged, int vid_end = 0, bool self = false);
  void del_port_vlan(const std::string& ifname, int vid, int vid_end = 0, bool self = false);

  // --- addresses and routes ---
  void add_address(const std::string& ifname, const std::string& cidr);
  void del_address(const std::string& ifname, const std::string& cidr);
  void add_route(const RouteState& route);  // dst "default" or CIDR, gateway, ifname, family
  void del_route(const RouteState& route);

 private:
  void route_request(const RouteState& route, bool add);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pvx::network
