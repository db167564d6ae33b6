#pragma once
// Attaching a guest's NIC (a VM's tap or a container's host-side veth) to a bridge the way
// qemu-server and pve-container do: VLAN tag and trunks on VLAN-aware bridges, a `<bridge>v<tag>`
// VLAN bridge on plain ones, MTU, rate limit and link state.
#include <optional>
#include <string>
#include <vector>

namespace pvx::network {

class Netlink;

struct GuestPort {
  std::string ifname;   // "tap100i0" or "veth100i0"
  std::string bridge;   // "vmbr0"
  std::optional<int> tag;         // access VLAN (1-4094)
  std::vector<std::pair<int, int>> trunks;  // allowed VLAN ranges on the port, inclusive
  std::optional<unsigned> mtu;    // default: the bridge's MTU
  std::optional<double> rate_mbps;  // MB/s as PVE's `rate=` (megabytes per second); limits both directions
  bool link_down = false;
};

// Throws Error(400) "bridge 'vmbrX' does not exist" when the bridge is missing, Error(500) naming
// the step on other failures. On failure the port is left detached (not half-configured).
void plug_guest_port(Netlink& nl, const GuestPort& port);
// Detaches from the bridge, removes the rate limit; the device itself stays (its owner deletes it).
void unplug_guest_port(Netlink& nl, const std::string& ifname);
// Changes that do not need a re-plug: link state and rate limit.
void set_guest_port_link(Netlink& nl, const std::string& ifname, bool link_down);
void set_guest_port_rate(const std::string& ifname, std::optional<double> rate_mbps);

// PVE's `trunks=` text "10;20-30" -> ranges. Error(400) naming `trunks` when malformed or out of 1-4094.
std::vector<std::pair<int, int>> parse_trunks(const std::string& text);

}  // namespace pvx::network
