// What two interfaces files ask of the kernel, worked out without touching it: checks, the
// order devices are set up in, and the wanted values (VLANs, STP, bond options, addresses).
#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <functional>
#include <map>
#include <tuple>

#include "base/error.h"
#include "base/strings.h"
#include "network/apply.h"
#include "network/apply_internal.h"

namespace pvx::network {
namespace apply_detail {
namespace {

constexpr int kMaxVid = 4094;

Error bad(const Interface& iface, const std::string& what) {
  return Error("interface '" + iface.name + "': " + what, 400);
}

bool is_one_of(const std::string& value, std::initializer_list<std::string_view> list) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

void validate(const Interface& iface) {
  switch (iface.type) {
    case IfaceType::Vxlan:
    case IfaceType::OVSBridge:
    case IfaceType::OVSBond:
    case IfaceType::OVSPort:
    case IfaceType::OVSIntPort:
      throw bad(iface, "type '" + std::string(type_name(iface.type)) + "' is not set up by pvx");
    case IfaceType::Bridge:
      wanted_stp(iface);
      if (iface.bridge_vlan_aware) wanted_vlans(iface);
      break;
    case IfaceType::Bond: {
      auto options = wanted_bond(iface);
      if (!options.primary.empty() &&
          std::find(iface.slaves.begin(), iface.slaves.end(), options.primary) == iface.slaves.end()) {
        throw bad(iface, "bond-primary '" + options.primary + "' is not one of its bond-slaves");
      }
      break;
    }
    case IfaceType::Vlan: {
      if (iface.vlan_parent().empty())
        throw bad(iface, "no raw device (set vlan-raw-device or name it <device>.<vid>)");
      auto vid = iface.effective_vlan_id();
      if (!vid || *vid < 1 || *vid > kMaxVid) throw bad(iface, "no VLAN id in 1-4094");
      break;
    }
    default: break;
  }
  if (iface.mtu && (*iface.mtu < 68 || *iface.mtu > 65535)) throw bad(iface, "mtu must be 68-65535");
  static_addresses(iface);
  gateway_routes(iface);
}

// Devices that end up up: stanzas with `auto` (all stanzas unless autostart_only) and, as
// ifupdown2 does, everything such a device is built on.
std::set<std::string> up_devices(const InterfacesFile& file, const std::vector<std::string>& order,
                                 bool autostart_only) {
  std::set<std::string> up;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Interface* iface = file.find(*it);
    bool wanted = up.count(*it) || (iface && (!autostart_only || iface->autostart));
    if (!wanted) continue;
    up.insert(*it);
    if (iface) {
      for (const auto& dep : dependencies(*iface)) up.insert(dep);
    }
  }
  std::set<std::string> in_order(order.begin(), order.end());
  std::erase_if(up, [&](const std::string& name) { return !in_order.count(name); });
  return up;
}

// Owned stanzas plus the owned devices they are built on (a port may have no stanza).
std::set<std::string> managed_devices(const InterfacesFile& file, const std::set<std::string>& owned) {
  std::set<std::string> out;
  for (const auto& [name, iface] : file.ifaces) {
    if (!owned.count(name)) continue;
    out.insert(name);
    for (const auto& dep : dependencies(iface)) {
      if (owned.count(dep)) out.insert(dep);
    }
  }
  return out;
}

std::string described(const InterfacesFile& file, const std::string& name) {
  const Interface* iface = file.find(name);
  std::string type = iface ? std::string(type_name(iface->type)) : "interface";
  return type + " '" + name + "'";
}

}  // namespace

std::vector<std::string> dependencies(const Interface& iface) {
  std::vector<std::string> out;
  switch (iface.type) {
    case IfaceType::Bridge:
      for (const auto& port : iface.bridge_ports) {
        if (port != "none" && !port.empty()) out.push_back(port);
      }
      break;
    case IfaceType::Bond: out = iface.slaves; break;
    case IfaceType::Vlan:
      if (auto parent = iface.vlan_parent(); !parent.empty()) out.push_back(parent);
      break;
    default: break;
  }
  return out;
}

std::string kernel_kind(IfaceType type) {
  switch (type) {
    case IfaceType::Bridge: return "bridge";
    case IfaceType::Bond: return "bond";
    case IfaceType::Vlan: return "vlan";
    default: return {};
  }
}

std::vector<std::pair<int, int>> parse_vids(const std::string& iface, std::string_view text) {
  std::vector<std::pair<int, int>> ranges;
  for (const auto& piece : split_any(text, " ,\t")) {
    auto range = parse_vlan_range(piece);
    if (!range) {
      throw Error("interface '" + iface + "': bridge-vids: '" + piece + "' is not a VLAN id or range in 1-4094", 400);
    }
    ranges.push_back(*range);
  }
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<int, int>> merged;
  for (const auto& r : ranges) {
    if (!merged.empty() && r.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

std::vector<PortVlan> wanted_vlans(const Interface& bridge) {
  std::vector<PortVlan> out{{1, true, true}};
  for (auto [first, last] : parse_vids(bridge.name, bridge.bridge_vids.empty() ? "2-4094" : bridge.bridge_vids)) {
    for (int vid = std::max(first, 2); vid <= last; ++vid) out.push_back({vid, false, false});
  }
  return out;
}

std::string vlans_text(const std::vector<PortVlan>& vlans) {
  std::vector<PortVlan> sorted = vlans;
  std::sort(sorted.begin(), sorted.end(), [](const PortVlan& a, const PortVlan& b) { return a.vid < b.vid; });
  std::string out;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1].vid == sorted[j].vid + 1 && sorted[j + 1].pvid == sorted[i].pvid &&
           sorted[j + 1].untagged == sorted[i].untagged) {
      ++j;
    }
    if (!out.empty()) out += ", ";
    out += std::to_string(sorted[i].vid);
    if (j > i) out += "-" + std::to_string(sorted[j].vid);
    if (sorted[i].pvid) out += " pvid";
    if (sorted[i].untagged) out += " untagged";
    i = j + 1;
  }
  return out.empty() ? "none" : out;
}

bool same_vlans(const std::vector<PortVlan>& a, const std::vector<PortVlan>& b) {
  auto as_map = [](const std::vector<PortVlan>& list) {
    std::map<int, std::pair<bool, bool>> m;
    for (const auto& v : list) m[v.vid] = {v.pvid, v.untagged};
    return m;
  };
  return as_map(a) == as_map(b);
}

std::optional<std::string> normalize_ip(std::string_view ip) {
  std::string text(ip);
  unsigned char bytes[16];
  char out[INET6_ADDRSTRLEN];
  for (int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, text.c_str(), bytes) == 1 && inet_ntop(family, bytes, out, sizeof out))
      return std::string(out);
  }
  return std::nullopt;
}

int cidr_family(std::string_view cidr) { return cidr.find(':') == std::string_view::npos ? AF_INET : AF_INET6; }

std::optional<std::string> normalize_cidr(std::string_view cidr) {
  auto slash = cidr.find('/');
  auto ip = normalize_ip(cidr.substr(0, slash));
  if (!ip) return std::nullopt;
  int max = cidr_family(*ip) == AF_INET ? 32 : 128;
  auto prefix = slash == std::string_view::npos ? std::optional<int>(max) : to_int(cidr.substr(slash + 1));
  if (!prefix || *prefix < 0 || *prefix > max) return std::nullopt;
  return *ip + "/" + std::to_string(*prefix);
}

BridgeStp wanted_stp(const Interface& bridge) {
  BridgeStp stp;
  std::string on = to_lower(bridge.bridge_stp);
  if (is_one_of(on, {"on", "yes", "1"})) {
    stp.on = true;
  } else if (!is_one_of(on, {"off", "no", "0", ""})) {
    throw bad(bridge, "bridge-stp must be on or off, not '" + bridge.bridge_stp + "'");
  }
  auto fd = bridge.bridge_fd.empty() ? std::optional<int>(0) : to_int(bridge.bridge_fd);
  if (!fd || *fd < 0 || *fd > 30) throw bad(bridge, "bridge-fd must be 0-30 seconds, not '" + bridge.bridge_fd + "'");
  if (stp.on && *fd < 2) throw bad(bridge, "bridge-fd must be 2-30 seconds when STP is on");
  stp.forward_delay = static_cast<unsigned>(*fd);
  return stp;
}

bool bond_uses_primary(const std::string& mode) {
  return is_one_of(mode, {"active-backup", "balance-tlb", "balance-alb"});
}

BondOptions wanted_bond(const Interface& bond) {
  BondOptions o;
  o.mode = bond.bond_mode.empty() ? "balance-rr" : bond.bond_mode;
  if (!is_one_of(o.mode, {"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb",
                          "balance-alb"})) {
    throw bad(bond, "unknown bond-mode '" + o.mode + "'");
  }
  if (!bond.bond_miimon.empty()) {
    auto miimon = to_int(bond.bond_miimon);
    if (!miimon || *miimon < 0) throw bad(bond, "bond-miimon must be a number of milliseconds");
    o.miimon = static_cast<unsigned>(*miimon);
  }
  o.xmit_hash_policy = bond.bond_xmit_hash_policy;
  if (!o.xmit_hash_policy.empty() && !is_one_of(o.xmit_hash_policy, {"layer2", "layer2+3", "layer3+4"})) {
    throw bad(bond, "unknown bond-xmit-hash-policy '" + o.xmit_hash_policy + "'");
  }
  if (bond_uses_primary(o.mode)) o.primary = bond.bond_primary;
  return o;
}

std::vector<std::string> static_addresses(const Interface& iface) {
  std::vector<std::string> out;
  for (const auto* fam : {&iface.inet, &iface.inet6}) {
    if (!*fam || (*fam)->cidr.empty() || !is_one_of((*fam)->method, {"static", "manual"})) continue;
    auto cidr = normalize_cidr((*fam)->cidr);
    int family = fam == &iface.inet ? AF_INET : AF_INET6;
    if (!cidr || cidr_family(*cidr) != family)
      throw bad(iface, "'" + (*fam)->cidr + "' is not an address of its family");
    out.push_back(*cidr);
  }
  return out;
}

std::vector<RouteState> gateway_routes(const Interface& iface) {
  std::vector<RouteState> out;
  for (const auto* fam : {&iface.inet, &iface.inet6}) {
    if (!*fam || (*fam)->gateway.empty() || !is_one_of((*fam)->method, {"static", "manual"})) continue;
    auto gateway = normalize_ip((*fam)->gateway);
    int family = fam == &iface.inet ? AF_INET : AF_INET6;
    if (!gateway || cidr_family(*gateway) != family) {
      throw bad(iface, "gateway '" + (*fam)->gateway + "' is not an address of its family");
    }
    RouteState route;
    route.dst = "default";
    route.gateway = *gateway;
    route.ifname = iface.name;
    route.family = family;
    out.push_back(std::move(route));
  }
  return out;
}

Plan make_plan(const InterfacesFile& previous, const InterfacesFile& next, const std::set<std::string>& owned,
               bool autostart_only) {
  Plan plan;
  auto managed = managed_devices(next, owned);
  for (const auto& name : managed) {
    if (const Interface* iface = next.find(name)) validate(*iface);
  }
  plan.order = creation_order(next, managed);
  plan.up = up_devices(next, plan.order, autostart_only);

  auto previously = managed_devices(previous, owned);
  std::vector<std::string> previous_order;
  try {
    previous_order = creation_order(previous, previously);
  } catch (const Error&) {
    // A cycle in the old file was never in the kernel either; any order will do to undo it.
    previous_order.assign(previously.begin(), previously.end());
  }
  plan.previous_up = up_devices(previous, previous_order, autostart_only);
  for (auto it = previous_order.rbegin(); it != previous_order.rend(); ++it) {
    if (previous.find(*it) && !managed.count(*it)) plan.removed.push_back(*it);
  }
  plan.touched = managed;
  plan.touched.insert(previously.begin(), previously.end());
  return plan;
}

}  // namespace apply_detail

std::vector<std::string> creation_order(const InterfacesFile& file, const std::set<std::string>& names) {
  enum class Mark { none, visiting, done };
  std::map<std::string, Mark> marks;
  std::vector<std::string> stack;
  std::vector<std::string> order;

  std::function<void(const std::string&)> visit = [&](const std::string& name) {
    marks[name] = Mark::visiting;
    stack.push_back(name);
    if (const Interface* iface = file.find(name)) {
      for (const auto& dep : apply_detail::dependencies(*iface)) {
        if (dep == name) {
          if (iface->type == IfaceType::Vlan) throw Error("vlan '" + name + "' is its own raw device", 400);
          throw Error(std::string(type_name(iface->type)) + " '" + name + "' is enslaved to itself", 400);
        }
        Mark mark = marks[dep];
        if (mark == Mark::visiting) {
          std::string path;
          for (auto it = std::find(stack.begin(), stack.end(), dep); it != stack.end(); ++it) path += *it + " -> ";
          throw Error(apply_detail::described(file, dep) + " depends on itself: " + path + dep, 400);
        }
        if (mark == Mark::none) visit(dep);
      }
    }
    stack.pop_back();
    marks[name] = Mark::done;
    if (names.count(name)) order.push_back(name);
  };

  // Roots in file order, so that unrelated devices keep the order of the file.
  std::vector<std::string> roots(names.begin(), names.end());
  auto rank = [&](const std::string& name) {
    const Interface* iface = file.find(name);
    return std::tuple(iface ? iface->priority : INT_MAX, name);
  };
  std::stable_sort(roots.begin(), roots.end(), [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
  for (const auto& root : roots) {
    if (marks[root] == Mark::none) visit(root);
  }
  return order;
}

}  // namespace pvx::network
