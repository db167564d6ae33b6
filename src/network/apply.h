#pragma once
// Applying an interfaces configuration to the kernel with netlink, all or nothing.
//
// `apply_interfaces(previous, next, owned)` makes the devices of `next` exist and look as
// configured (kind, bond options, VLAN parent/id, master, MTU, bridge VLAN filtering and VIDs,
// static addresses, gateway routes, up/down for autostart), and undoes what `previous`
// configured but `next` no longer does (virtual devices deleted, ports released, addresses and
// routes removed). Only names in `owned` are touched; everything else is read at most.
//
// Before changing anything it records the kernel state of every device it will touch. If any
// step fails, the recorded state is restored (created devices deleted, masters, MTU, addresses,
// routes, VLANs and up/down put back) and Error(500) says which step failed and why, e.g.
// "apply failed at 'add veth9 to bridge vmbr9': No such device; previous state restored".
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "network/interfaces.h"

namespace pvx::network {

class Netlink;

struct ApplyOptions {
  // One line per step, for the task log ("create bridge vmbr9", "add 10.1.0.1/24 to vmbr9").
  // Also gets notes on what is deliberately left alone ("vmbr0: DHCP (inet) is not run by
  // pvx; ...", ports that are not owned) and, after a failure, each "undo: ..." line; neither
  // is a step.
  std::function<void(const std::string&)> log;
  // Only stanzas with `auto` are brought up (as `ifreload -a`); others are configured but down.
  bool autostart_only = true;
};

struct ApplyResult {
  std::vector<std::string> steps;  // what was done, in order
};

ApplyResult apply_interfaces(Netlink& nl, const InterfacesFile& previous, const InterfacesFile& next,
                             const std::set<std::string>& owned, const ApplyOptions& options = {});

// The order devices are created in: a device after what it depends on (bond after slaves, VLAN
// after its raw device, bridge after its ports). Error(400) on a cycle ("bridge 'vmbr0' is
// enslaved to itself").
std::vector<std::string> creation_order(const InterfacesFile& file, const std::set<std::string>& names);

}  // namespace pvx::network
