// /nodes/{node}/network: the node's interfaces as PVE shows them, edits staged as pending changes,
// applied (PUT, a `srvreload` task) or reverted (DELETE).
#include "api/handlers/common.h"
#include "api/handlers/guest_ids.h"
#include "api/handlers/register.h"
#include "base/strings.h"
#include "network/interface_params.h"
#include "schema/formats.h"
#include "network/network_service.h"
#include "network/netlink.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;

network::NetworkService& service(RequestContext& ctx) {
  auto* svc = ctx.services().network;
  if (!svc) throw Error("network management is not available on this node", 501);
  return *svc;
}

const std::vector<std::string> kTypes = {"bridge", "bond", "eth", "alias", "vlan", "fabric", "OVSBridge", "OVSBond",
                                         "OVSPort", "OVSIntPort", "vnet", "unknown"};
const std::vector<std::string> kBondModes = {"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad",
                                             "balance-tlb", "balance-alb", "balance-slb", "lacp-balance-slb",
                                             "lacp-balance-tcp"};

// The parameters POST and PUT share, as PVE declares them.
std::vector<std::pair<std::string, Schema>> interface_params(bool update) {
  std::vector<std::pair<std::string, Schema>> p = {
      {"node", std_opt::node()},
      {"iface", std_opt::iface()},
      {"type", enumeration(kTypes, "Network interface type")},
      {"address", string("IP address.").fmt("ipv4").req("netmask").opt()},
      {"address6", string("IP address.").fmt("ipv6").req("netmask6").opt()},
      {"autostart", boolean("Automatically start interface on boot.").opt()},
      {"bond-primary", string("Specify the primary interface for active-backup bond.").fmt("pve-iface").opt()},
      {"bond_mode", enumeration(kBondModes, "Bonding mode.").opt()},
      {"bond_xmit_hash_policy", enumeration({"layer2", "layer2+3", "layer3+4"},
                                            "Selects the transmit hash policy to use for slave selection in "
                                            "balance-xor and 802.3ad modes.").opt()},
      {"bridge_ports", string("Specify the interfaces you want to add to your bridge.").fmt("pve-iface-list").opt()},
      {"bridge_vids", string("Specify the allowed VLANs. For example: '2 4 100-200'. Only used if the bridge is VLAN aware.")
                          .fmt("pve-vlan-id-or-range-list").opt()},
      {"bridge_vlan_aware", boolean("Enable bridge vlan support.").opt()},
      {"cidr", string("IPv4 CIDR.").fmt("CIDRv4").opt()},
      {"cidr6", string("IPv6 CIDR.").fmt("CIDRv6").opt()},
      {"comments", string("Comments").opt()},
      {"comments6", string("Comments").opt()},
      {"gateway", string("Default gateway address.").fmt("ipv4").opt()},
      {"gateway6", string("Default ipv6 gateway address.").fmt("ipv6").opt()},
      {"mtu", integer("MTU.").min(1280).max(65520).opt()},
      {"netmask", string("Network mask.").fmt("ipv4mask").req("address").opt()},
      {"netmask6", integer("Network mask.").min(0).max(128).req("address6").opt()},
      {"ovs_bonds", string("Specify the interfaces used by the bonding device.").fmt("pve-iface-list").opt()},
      {"ovs_bridge", string("The OVS bridge associated with a OVS port. This is required when you create an OVS port.")
                         .fmt("pve-iface").opt()},
      {"ovs_options", string("OVS interface options.").max_len(1024).opt()},
      {"ovs_ports", string("Specify the interfaces you want to add to your bridge.").fmt("pve-iface-list").opt()},
      {"ovs_tag", integer("Specify a VLan tag (used by OVSPort, OVSIntPort, OVSBond)").min(1).max(4094).opt()},
      {"slaves", string("Specify the interfaces used by the bonding device.").fmt("pve-iface-list").opt()},
      {"vlan-id", integer("vlan-id for a custom named vlan interface (ifupdown2 only).").min(1).max(4094).opt()},
      {"vlan-raw-device", string("Specify the raw interface for the vlan interface.").fmt("pve-iface").opt()},
  };
  if (update) p.push_back({"delete", string("A list of settings you want to delete.").fmt("pve-configid-list").opt()});
  return p;
}

// The list entry schema (PVE's keys; everything optional but iface and type).
Schema interface_returns() {
  return object({
      {"iface", std_opt::iface()},
      {"type", enumeration(kTypes, "Network interface type")},
      {"active", boolean("Set to true if the interface is active.").opt()},
      {"exists", boolean("Set to true if the interface physically exists.").opt()},
      {"autostart", boolean("Automatically start interface on boot.").opt()},
      {"priority", integer("The order of the interface.").opt()},
      {"families", array(enumeration({"inet", "inet6"}, "A network family."), "The network families.").opt()},
      {"method", enumeration({"loopback", "dhcp", "manual", "static", "auto"}, "The network configuration method for IPv4.").opt()},
      {"method6", enumeration({"loopback", "dhcp", "manual", "static", "auto"}, "The network configuration method for IPv6.").opt()},
      {"cidr", string("IPv4 CIDR.").opt()},
      {"address", string("IP address.").opt()},
      {"netmask", string("Network mask.").opt()},
      {"gateway", string("Default gateway address.").opt()},
      {"cidr6", string("IPv6 CIDR.").opt()},
      {"address6", string("IP address.").opt()},
      {"netmask6", integer("Network mask.").opt()},
      {"gateway6", string("Default ipv6 gateway address.").opt()},
      {"bridge_ports", string("Specify the interfaces you want to add to your bridge.").opt()},
      {"bridge_vlan_aware", boolean("Enable bridge vlan support.").opt()},
      {"bridge_vids", string("Specify the allowed VLANs.").opt()},
      {"bridge_stp", string("Spanning tree protocol of the bridge (on/off).").opt()},
      {"bridge_fd", string("Forward delay of the bridge in seconds.").opt()},
      {"bond_miimon", string("Link monitoring interval of the bond in milliseconds.").opt()},
      {"slaves", string("Specify the interfaces used by the bonding device.").opt()},
      {"bond_mode", string("Bonding mode.").opt()},
      {"bond-primary", string("Specify the primary interface for active-backup bond.").opt()},
      {"bond_xmit_hash_policy", string("Selects the transmit hash policy.").opt()},
      {"vlan-id", integer("vlan-id for a custom named vlan interface.").opt()},
      {"vlan-raw-device", string("Specify the raw interface for the vlan interface.").opt()},
      {"mtu", integer("MTU.").opt()},
      {"comments", string("Comments").opt()},
      {"comments6", string("Comments").opt()},
      {"options", array(string("An interface property."), "A list of additional interface options for IPv4.").opt()},
      {"options6", array(string("An interface property."), "A list of additional interface options for IPv6.").opt()},
  });
}

bool matches_type(const network::ListedInterface& li, const std::string& filter) {
  auto t = std::string(network::type_name(li.config.type));
  if (filter == "any_bridge" || filter == "any_local_bridge") return t == "bridge" || t == "OVSBridge";
  if (filter == "include_sdn") return true;  // pvx has no SDN vnets yet: everything local
  return t == filter;
}

Json list_network(RequestContext& ctx) {
  auto& svc = service(ctx);
  auto node = ctx.str("node");
  bool audit = ctx.allowed("/nodes/" + node, {"Sys.Audit"});
  auto type = ctx.opt_str("type");
  Json out = Json::array();
  for (const auto& li : svc.list()) {
    if (type && !matches_type(li, *type)) continue;
    // Without Sys.Audit a user sees the bridges they may attach guests to, as in PVE.
    if (!audit && !(li.config.type == network::IfaceType::Bridge &&
                    ctx.allowed("/sdn/zones/localnetwork/" + li.config.name, {"SDN.Audit", "SDN.Use"}, true))) {
      continue;
    }
    out.push_back(network::interface_json(li));
  }
  if (audit) {
    if (auto changes = svc.changes(); !changes.empty()) ctx.set_extra("changes", changes);
  }
  return out;
}

Json read_network(RequestContext& ctx) {
  auto& svc = service(ctx);
  auto iface = ctx.str("iface");
  for (const auto& li : svc.list()) {
    if (li.config.name == iface) return network::interface_json(li);
  }
  throw Error::param("iface", "interface does not exist");
}

// The kernel's view for the checks: devices (existence, kind, master) and the host's default
// routes (a second default gateway would fail at apply).
network::HostView host_view(network::NetworkService& svc) {
  network::Netlink nl;
  network::HostView view;
  view.manage_host = svc.options().manage_host;
  for (auto& l : nl.links()) view.links.emplace(l.name, std::move(l));
  for (const auto& r : nl.routes()) {
    if (r.dst == "default" && r.table == 254 && !r.ifname.empty()) view.default_route_dev.emplace(r.family, r.ifname);
  }
  return view;
}

// Owning only its file, pvx refuses to take over a device the host already has. A device of
// the applied file is pvx's even while a pending change deletes it.
void check_not_host_device(network::NetworkService& svc, const std::string& iface, const network::HostView& host,
                           const network::InterfacesFile& file) {
  if (svc.options().manage_host || file.find(iface) || !host.links.count(iface)) return;
  if (svc.active().find(iface)) return;
  throw Error::param("iface", "interface '" + iface +
                                  "' belongs to the host; pvx manages only the interfaces it created "
                                  "(start pvxd with --manage-host-network to manage /etc/network/interfaces)");
}

Json create_network(RequestContext& ctx) {
  auto& svc = service(ctx);
  auto iface = ctx.str("iface");
  auto host = host_view(svc);
  svc.edit([&](network::InterfacesFile& file) {
    check_not_host_device(svc, iface, host, file);
    network::apply_interface_params(file, iface, ctx.params(), true, {}, host);
  });
  return nullptr;
}

Json update_network(RequestContext& ctx) {
  auto& svc = service(ctx);
  auto iface = ctx.str("iface");
  auto host = host_view(svc);
  std::vector<std::string> deletes;
  if (auto d = ctx.opt_str("delete")) deletes = schema::split_list(*d);
  svc.edit([&](network::InterfacesFile& file) {
    check_not_host_device(svc, iface, host, file);
    network::apply_interface_params(file, iface, ctx.params(), false, deletes, host);
  });
  return nullptr;
}

// Guests whose NICs name this bridge (`bridge=<name>` in a net<N> value).
std::vector<std::int64_t> guests_on_bridge(cluster::ConfigStore& store, const std::string& bridge) {
  const std::string needle = "bridge=" + bridge;
  return guests_where(store, [&](std::string_view key, std::string_view value) {
    if (!key.starts_with("net")) return false;
    for (auto pos = value.find(needle); pos != std::string_view::npos; pos = value.find(needle, pos + 1)) {
      auto end = pos + needle.size();
      bool starts = pos == 0 || value[pos - 1] == ',';
      if (starts && (end == value.size() || value[end] == ',')) return true;
    }
    return false;
  });
}

Json delete_network(RequestContext& ctx) {
  auto& svc = service(ctx);
  auto iface = ctx.str("iface");
  auto host = host_view(svc);
  svc.edit([&](network::InterfacesFile& file) {
    check_not_host_device(svc, iface, host, file);
    if (const auto* i = file.find(iface); i && i->type == network::IfaceType::Bridge) {
      auto users = guests_on_bridge(*ctx.services().store, iface);
      if (!users.empty()) {
        std::string ids;
        for (auto id : users) ids += (ids.empty() ? "" : ", ") + std::to_string(id);
        throw Error::param("iface", "bridge '" + iface + "' is used by guest(s) " + ids + "; move their network devices first");
      }
    }
    network::remove_interface(file, iface);
  });
  return nullptr;
}

Json reload_network(RequestContext& ctx) {
  auto& svc = service(ctx);
  auto upid = ctx.services().tasks->spawn("srvreload", "networking", ctx.who().full(), [&svc](tasks::TaskContext& task) {
    auto result = svc.apply([&task](const std::string& line) { task.log(line); });
    if (result.steps.empty()) task.log("nothing to change");
  });
  return upid.str();
}

Json revert_network(RequestContext& ctx) {
  service(ctx).revert();
  return nullptr;
}

}  // namespace

void register_node_network(Router& r) {
  const auto node_only = [] { return ref(object({{"node", std_opt::node()}})); };
  r.add({
      .name = "index",
      .verb = Verb::Get,
      .path = "/nodes/{node}/network",
      .description = "List available networks",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"type", enumeration({"bridge", "bond", "eth", "alias", "vlan", "fabric", "OVSBridge", "OVSBond", "OVSPort",
                                "OVSIntPort", "vnet", "any_bridge", "any_local_bridge", "include_sdn"},
                               "Only list specific interface types.").opt()},
      })),
      .returns = ref(array(interface_returns()).link("{iface}")),
      .permission = all().describe("Only list entries where you have 'Sys.Audit' on '/nodes/<node>', or bridges where "
                                   "you have 'SDN.Audit' or 'SDN.Use' on '/sdn/zones/localnetwork/<bridge>'"),
      .proxyto = "node",
      .blocking = true,
      .handler = list_network,
  });
  r.add({
      .name = "create_network",
      .verb = Verb::Post,
      .path = "/nodes/{node}/network",
      .description = "Create network device configuration",
      .parameters = ref(object(interface_params(false))),
      .returns = ref(null_type()),
      .permission = perm("/nodes/{node}", {"Sys.Modify"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = create_network,
  });
  r.add({
      .name = "reload_network_config",
      .verb = Verb::Put,
      .path = "/nodes/{node}/network",
      .description = "Reload network configuration",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"regenerate-frr", boolean("Whether FRR config generation should get skipped or not.").def(0).opt()},
      })),
      .returns = ref(string()),
      .permission = perm("/nodes/{node}", {"Sys.Modify"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = reload_network,
  });
  r.add({
      .name = "revert_network_changes",
      .verb = Verb::Delete,
      .path = "/nodes/{node}/network",
      .description = "Revert network configuration changes.",
      .parameters = node_only(),
      .returns = ref(null_type()),
      .permission = perm("/nodes/{node}", {"Sys.Modify"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = revert_network,
  });
  r.add({
      .name = "network_config",
      .verb = Verb::Get,
      .path = "/nodes/{node}/network/{iface}",
      .description = "Read network device configuration",
      .parameters = ref(object({{"node", std_opt::node()}, {"iface", std_opt::iface()}})),
      .returns = ref(object({{"method", string()}, {"type", string()}}).additional()),
      .permission = perm("/nodes/{node}", {"Sys.Audit"}),
      .proxyto = "node",
      .blocking = true,
      .handler = read_network,
  });
  r.add({
      .name = "update_network",
      .verb = Verb::Put,
      .path = "/nodes/{node}/network/{iface}",
      .description = "Update network device configuration",
      .parameters = ref(object(interface_params(true))),
      .returns = ref(null_type()),
      .permission = perm("/nodes/{node}", {"Sys.Modify"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = update_network,
  });
  r.add({
      .name = "delete_network",
      .verb = Verb::Delete,
      .path = "/nodes/{node}/network/{iface}",
      .description = "Delete network device configuration",
      .parameters = ref(object({{"node", std_opt::node()}, {"iface", std_opt::iface()}})),
      .returns = ref(null_type()),
      .permission = perm("/nodes/{node}", {"Sys.Modify"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = delete_network,
  });
}

}  // namespace pvx::api::handlers
