#pragma once
// The interfaces file (ifupdown2 syntax, as /etc/network/interfaces on a Proxmox VE host) as data:
// stanzas per device and family, PVE's known options typed, everything else kept verbatim so a
// round trip loses nothing (unknown options, `#` comments inside a stanza, `source` lines).
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pvx::network {

enum class IfaceType { Loopback, Eth, Bridge, Bond, Vlan, Vxlan, OVSBridge, OVSBond, OVSPort, OVSIntPort, Alias, Unknown };

std::string_view type_name(IfaceType t);          // PVE's names: "eth", "bridge", "OVSBridge", ...
std::optional<IfaceType> parse_type(std::string_view name);

// One address family of an interface: the `iface <name> inet|inet6 <method>` stanza.
struct Family {
  std::string method = "manual";  // static, manual, dhcp, auto, loopback
  std::string cidr;               // "10.0.0.2/24" (`address` + `netmask` are folded into it)
  std::string gateway;
  std::vector<std::string> comments;  // `#` lines of the stanza, without the '#'
  std::vector<std::pair<std::string, std::string>> options;  // unknown options, in file order
};

struct Interface {
  std::string name;
  IfaceType type = IfaceType::Unknown;
  bool autostart = false;  // an `auto <name>` (or `allow-hotplug`) line exists
  std::optional<Family> inet;
  std::optional<Family> inet6;
  int priority = 0;  // position in the file; new stanzas get the next number

  // Type-specific options PVE knows (shared by both families, written in the first stanza).
  std::vector<std::string> bridge_ports;
  bool bridge_vlan_aware = false;
  std::string bridge_vids;  // "2-4094" style list; empty = PVE's default when vlan-aware
  std::string bridge_stp = "off";
  std::string bridge_fd = "0";
  std::vector<std::string> slaves;
  std::string bond_mode;
  std::string bond_miimon;
  std::string bond_xmit_hash_policy;
  std::string bond_primary;
  std::optional<int> vlan_id;
  std::string vlan_raw_device;
  std::optional<int> mtu;

  // `vmbr0.30` style names give the parent and VLAN id when vlan-raw-device/vlan-id are unset.
  std::string vlan_parent() const;
  std::optional<int> effective_vlan_id() const;
};

// The whole file. Lines outside stanzas (`source ...`, other directives, blank-line separated
// comments) are kept with the priority of the stanza they preceded, so they stay in place.
struct InterfacesFile {
  std::map<std::string, Interface> ifaces;
  std::vector<std::pair<int, std::string>> directives;  // (priority, line)

  Interface* find(std::string_view name);
  const Interface* find(std::string_view name) const;
  int next_priority() const;
};

// Reader rules of config-formats.md section 13. Never throws on content; unknown things are kept.
InterfacesFile parse_interfaces(std::string_view text);
// Writer rules: header, stanzas ordered by class (loopback, eth, bond, bridge, vlan/other), then
// by priority and name; option order as PVE writes it.
std::string print_interfaces(const InterfacesFile& file);

// One piece of a VLAN list (`bridge-vids 10 20-30`, a guest NIC's `trunks=10;20-30`): an id or
// "first-last", decimal digits only, ids in 1-4094, first <= last; nullopt otherwise.
std::optional<std::pair<int, int>> parse_vlan_range(std::string_view piece);

// Interface type from the name alone (eth*, en*, bond*, vmbr*, <parent>.<vid>, vlan*), used
// for stanzas whose options say nothing and for devices the host has but the file lacks.
IfaceType type_from_name(std::string_view name);

}  // namespace pvx::network
