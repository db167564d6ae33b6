#pragma once
// The parts of apply_interfaces shared by its three files: apply_plan.cc (what the two files
// ask for, no kernel access), apply_state.cc (recording kernel state and putting it back) and
// apply.cc (the steps). Not used outside them.
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "network/interfaces.h"
#include "network/netlink.h"

namespace pvx::network::apply_detail {

using LogFn = std::function<void(const std::string&)>;

// ---- what the files ask for ----

// Devices `iface` is built on: bridge ports, bond slaves, a VLAN's raw device.
std::vector<std::string> dependencies(const Interface& iface);
// Kernel kind of the virtual types pvx creates ("bridge", "bond", "vlan"); "" for the others.
std::string kernel_kind(IfaceType type);

// "10 20-30" as sorted, merged (first, last) ranges; Error(400) naming `iface` on bad input.
std::vector<std::pair<int, int>> parse_vids(const std::string& iface, std::string_view text);
// VLANs of a VLAN-aware bridge (self) and of its ports: 1 as PVID untagged, bridge-vids tagged.
std::vector<PortVlan> wanted_vlans(const Interface& bridge);
std::string vlans_text(const std::vector<PortVlan>& vlans);  // "1 pvid untagged, 10 20-30"
bool same_vlans(const std::vector<PortVlan>& a, const std::vector<PortVlan>& b);

// Canonical "address/prefix" (IPv6 compressed; no prefix means a host address); nullopt if invalid.
std::optional<std::string> normalize_cidr(std::string_view cidr);
std::optional<std::string> normalize_ip(std::string_view ip);
int cidr_family(std::string_view cidr);  // AF_INET or AF_INET6

struct BridgeStp {
  bool on = false;
  unsigned forward_delay = 0;  // seconds
  bool operator==(const BridgeStp&) const = default;
};
BridgeStp wanted_stp(const Interface& bridge);
BondOptions wanted_bond(const Interface& bond);
bool bond_uses_primary(const std::string& mode);

// Static addresses of one stanza (normalized) and its default routes.
std::vector<std::string> static_addresses(const Interface& iface);
std::vector<RouteState> gateway_routes(const Interface& iface);

struct Plan {
  std::vector<std::string> order;     // owned devices `next` sets up, dependencies first
  std::set<std::string> up;           // of those, the ones that end up up
  std::vector<std::string> removed;   // owned stanzas only `previous` has, dependents first
  std::set<std::string> previous_up;  // what `previous` brought up
  std::set<std::string> touched;      // every owned device either file names
};
// Checks `next` (Error 400) and works out the order of things.
Plan make_plan(const InterfacesFile& previous, const InterfacesFile& next, const std::set<std::string>& owned,
               bool autostart_only);

// ---- kernel state ----

struct DeviceState {
  std::optional<LinkState> link;               // nullopt: the device does not exist
  std::optional<BridgeStp> stp;                // bridges, when readable
  std::optional<std::vector<PortVlan>> vlans;  // bridges (self) and bridge ports, when readable
  std::vector<std::string> addresses;          // permanent ones, normalized, IPv6 link-local left out
  std::vector<RouteState> routes;              // main table, not the kernel's own
};
using Snapshot = std::map<std::string, DeviceState>;

// State of `names` plus of whatever hangs off them (ports, slaves, VLANs on top), since
// changing a device can change those too (a deleted bridge releases its ports).
Snapshot take_snapshot(Netlink& nl, const std::set<std::string>& names);
// What differs between two snapshots of the same devices, one line per difference.
std::vector<std::string> differences(const Snapshot& before, const Snapshot& after);
// Brings the devices of `before` back to it, logging each fix ("undo: ..."); returns the fixes
// that failed.
std::vector<std::string> restore(Netlink& nl, const Snapshot& before, const LogFn& log);

std::optional<BridgeStp> read_bridge_stp(Netlink& nl, const std::string& bridge);
std::vector<std::string> permanent_addresses(Netlink& nl, const std::string& ifname);
std::vector<RouteState> own_routes(const std::vector<RouteState>& all, const std::string& ifname);
bool same_route(const RouteState& a, const RouteState& b);
// Changes the VLANs of a bridge port (or of the bridge, `self`) from `current` to `wanted`.
void sync_vlans(Netlink& nl, const std::string& ifname, bool self, const std::vector<PortVlan>& current,
                const std::vector<PortVlan>& wanted);
// Creates a bridge, bond or VLAN device as `link` describes it (without bond primary).
void recreate(Netlink& nl, const LinkState& link);
BondOptions bond_options_of(const LinkState& link);

}  // namespace pvx::network::apply_detail
