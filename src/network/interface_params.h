#pragma once
// The API side of one interface: PVE's parameters (cidr, bridge_ports, slaves, vlan-id, ...)
// turned into a stanza with PVE's checks, and a stanza plus its kernel state turned into the
// object GET /nodes/{node}/network lists.
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "network/interfaces.h"
#include "network/network_service.h"

namespace pvx::network {

using Json = nlohmann::json;

// What the checks know of the host: its devices as the kernel has them, which device holds a
// default route the file does not configure, and whether pvx owns the host's file.
struct HostView {
  std::map<std::string, LinkState> links;
  std::map<int, std::string> default_route_dev;  // AF_INET/AF_INET6 -> device
  bool manage_host = false;
};

// Creates (`create`) or updates `iface` in `file` from validated API parameters, then checks
// the result as a whole: names the kernel accepts, addresses and gateways (inside the subnet, one
// default gateway per family, none while the host has one elsewhere), bridge ports and bond
// slaves (exist, not the interface itself, not taken by another bridge or bond in the file or
// the kernel, of a kind that can be enslaved), bonds with slaves, VLAN ids and raw devices.
// Throws Error(400) naming the parameter at fault; `file` is unchanged then.
void apply_interface_params(InterfacesFile& file, const std::string& iface, const Json& params, bool create,
                            const std::vector<std::string>& deletes, const HostView& host);

// Removes `iface`; Error(400) when another stanza uses it (port, slave, VLAN raw device).
void remove_interface(InterfacesFile& file, const std::string& iface);

// The list/read object in PVE's shape: iface, type, method(6), families, cidr/address/netmask,
// gateway(6), bridge/bond/vlan keys, mtu, comments, options, autostart, active, exists, priority.
Json interface_json(const ListedInterface& li);

// Whether `gateway` lies in the subnet of `cidr` (same family); false when either is malformed.
bool gateway_in_subnet(const std::string& cidr, const std::string& gateway);

}  // namespace pvx::network
