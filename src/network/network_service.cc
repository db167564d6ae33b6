#include "network/network_service.h"

#include <arpa/inet.h>

#include <algorithm>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/log.h"
#include "base/process.h"
#include "network/dnsmasq.h"
#include "network/nat.h"

namespace pvx::network {
namespace {

namespace fs = std::filesystem;

// The kernel kinds the node's network list shows; guest ports (tap, veth) and helper devices are not.
std::optional<IfaceType> listed_kind(const LinkState& link) {
  if (link.kind.empty() && link.physical) return IfaceType::Eth;
  if (link.kind == "bridge") return IfaceType::Bridge;
  if (link.kind == "bond") return IfaceType::Bond;
  if (link.kind == "vlan") return IfaceType::Vlan;
  return std::nullopt;
}

// Steps of applies pvxd makes itself (start-up, recovery) go to its log.
void log_step(const std::string& step) { log::info("network: " + step); }

bool is_nat_bridge(const Interface& i) {
  if (i.type != IfaceType::Bridge || !i.inet) return false;
  for (const auto& [k, v] : i.inet->options) {
    if (k == kNatOption && (v == "yes" || v == "1" || v == "on")) return true;
  }
  return false;
}

}  // namespace

NetworkService::NetworkService(NetworkOptions options)
    : options_(std::move(options)), dnsmasq_(std::make_unique<DnsmasqSupervisor>()) {}

NetworkService::~NetworkService() = default;

fs::path NetworkService::config_path() const {
  return options_.manage_host ? options_.host_file : options_.data_dir / "network" / "interfaces";
}

fs::path NetworkService::pending_path() const {
  auto p = config_path();
  p += ".new";
  return p;
}

InterfacesFile NetworkService::active() const {
  return parse_interfaces(read_file(config_path()).value_or(""));
}

InterfacesFile NetworkService::staged() const {
  if (auto pending = read_file(pending_path())) return parse_interfaces(*pending);
  return active();
}

InterfacesFile NetworkService::staged(const InterfacesFile& applied) const {
  if (auto pending = read_file(pending_path())) return parse_interfaces(*pending);
  return applied;
}

std::string NetworkService::changes() const {
  if (!fs::exists(pending_path())) return {};
  fs::path current = fs::exists(config_path()) ? config_path() : fs::path("/dev/null");
  auto r = run_command({"diff", "-u", current.string(), pending_path().string()}, {.timeout = std::chrono::seconds(10), .check = false});
  return r.out;
}

std::set<std::string> NetworkService::owned(const InterfacesFile& file) const {
  std::set<std::string> names;
  for (const auto& [name, i] : file.ifaces) {
    if (i.type == IfaceType::Loopback) continue;
    names.insert(name);
    // A port or slave named by an owned stanza was handed to pvx by that choice.
    names.insert(i.bridge_ports.begin(), i.bridge_ports.end());
    names.insert(i.slaves.begin(), i.slaves.end());
  }
  return names;
}

std::set<std::string> NetworkService::owned(const InterfacesFile& from, const InterfacesFile& to) const {
  auto names = owned(from);
  names.merge(owned(to));
  return names;
}

std::vector<ListedInterface> NetworkService::list() {
  auto applied = active();
  auto file = staged(applied);
  Netlink nl;
  auto links = nl.links();
  auto addrs = nl.addresses();
  auto routes = nl.routes();
  std::map<std::string, const LinkState*> by_name;
  for (const auto& l : links) by_name[l.name] = &l;

  std::vector<ListedInterface> out;
  for (const auto& [name, iface] : file.ifaces) {
    if (iface.type == IfaceType::Loopback) continue;
    ListedInterface li;
    li.config = iface;
    if (auto it = by_name.find(name); it != by_name.end()) {
      li.exists = true;
      li.active = it->second->up;
    }
    out.push_back(std::move(li));
  }

  // Devices the file does not have: NICs as PVE lists them, and (owning only our file) the
  // host's bridges, bonds and VLANs, read-only. A device of the applied file that the staged
  // one deletes is pvx's, not the host's: it is not listed.
  int priority = file.next_priority();
  for (const auto& link : links) {
    if (link.name == "lo" || file.find(link.name) || applied.find(link.name)) continue;
    auto type = listed_kind(link);
    if (!type) continue;
    if (options_.manage_host && *type != IfaceType::Eth) continue;
    ListedInterface li;
    li.owned = options_.manage_host;
    li.exists = true;
    li.active = link.up;
    auto& c = li.config;
    c.name = link.name;
    c.type = *type;
    c.priority = priority++;
    c.autostart = link.up && !options_.manage_host;
    if (link.mtu && link.mtu != 1500 && !options_.manage_host) c.mtu = static_cast<int>(link.mtu);
    if (!options_.manage_host) {
      for (const auto& other : links) {
        if (other.master != link.name) continue;
        if (*type == IfaceType::Bridge) c.bridge_ports.push_back(other.name);
        if (*type == IfaceType::Bond) c.slaves.push_back(other.name);
      }
      c.bridge_vlan_aware = link.vlan_filtering;
      if (*type == IfaceType::Bond) {
        c.bond_mode = link.bond_mode;
        c.bond_xmit_hash_policy = link.bond_xmit_hash_policy;
        c.bond_primary = link.bond_primary;
      }
      if (*type == IfaceType::Vlan) {
        c.vlan_raw_device = link.vlan_parent;
        c.vlan_id = link.vlan_id;
      }
      for (const auto& a : addrs) {
        if (a.ifname != link.name) continue;
        li.addresses.push_back(a);
        auto& fam = a.family == AF_INET6 ? c.inet6 : c.inet;
        if (!fam) fam.emplace();
        if (fam->cidr.empty()) {
          fam->cidr = a.cidr;
          fam->method = a.permanent ? "static" : "dhcp";
        }
      }
      for (const auto& r : routes) {
        if (r.ifname != link.name || r.dst != "default" || r.table != 254 || r.gateway.empty()) continue;
        auto& fam = r.family == AF_INET6 ? c.inet6 : c.inet;
        if (!fam) fam.emplace();
        if (fam->gateway.empty()) fam->gateway = r.gateway;
      }
    }
    if (!c.inet && !c.inet6) c.inet.emplace();
    out.push_back(std::move(li));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.config.priority < b.config.priority; });
  return out;
}

void NetworkService::edit(const std::function<void(InterfacesFile&)>& change) {
  std::lock_guard lock(mutex_);
  auto file = staged();
  change(file);
  auto text = print_interfaces(file);
  if (text == read_file(config_path()).value_or("\x01")) {
    fs::remove(pending_path());  // back to what is applied: nothing pending
    return;
  }
  fs::create_directories(pending_path().parent_path());
  write_file_atomic(pending_path(), text);
  // pvxd's umask keeps its own files private; the host's file stays world-readable as ifupdown wants.
  if (options_.manage_host) fs::permissions(pending_path(), fs::perms(0644));
}

void NetworkService::revert() {
  std::lock_guard lock(mutex_);
  fs::remove(pending_path());
}

ApplyResult NetworkService::apply(const std::function<void(const std::string&)>& log) {
  std::lock_guard lock(mutex_);
  auto previous = active();
  auto next = staged(previous);
  auto names = owned(previous, next);
  Netlink nl;
  // If pvxd dies half way, the next start finds this marker and takes the kernel back to the
  // applied file (a failing step is rolled back here; a killed process cannot do that itself).
  write_file_atomic(marker_path(), "");
  ApplyResult result;
  try {
    result = apply_interfaces(nl, previous, next, names, {.log = log});
  } catch (...) {
    fs::remove(marker_path());  // a failed step was rolled back already
    throw;
  }
  if (fs::exists(pending_path())) fs::rename(pending_path(), config_path());
  fs::remove(marker_path());
  update_nat();
  return result;
}

fs::path NetworkService::marker_path() const {
  return options_.data_dir / "network" / "apply-in-progress";
}

void NetworkService::recover_interrupted_apply() {
  if (!fs::exists(marker_path())) return;
  auto applied = active();
  auto interrupted = staged(applied);
  auto names = owned(interrupted, applied);
  log::warn("network: an apply of the interfaces file was interrupted; returning to the applied configuration");
  Netlink nl;
  try {
    apply_interfaces(nl, interrupted, applied, names, {.log = log_step});
  } catch (const std::exception& e) {
    // The applied file cannot come up as a whole (a port vanished meanwhile). Still remove what
    // the interrupted apply created, or those devices would look like the host's afterwards;
    // bringing up the rest is left to the per-interface start-up.
    log::error(std::string("network: ") + e.what() + "; removing the devices the interrupted apply added");
    for (const auto& [name, iface] : interrupted.ifaces) {
      bool virtual_device = iface.type == IfaceType::Bridge || iface.type == IfaceType::Bond || iface.type == IfaceType::Vlan;
      if (applied.find(name) || !virtual_device || !nl.link(name)) continue;
      try {
        nl.delete_link(name);
      } catch (const std::exception& d) {
        log::error(std::string("network: ") + d.what());
      }
    }
  }
  fs::remove(marker_path());
}

// Brings up what the file configures. When the whole file cannot be applied (a port vanished
// while the host was down), each device is tried with what it depends on, so one broken stanza
// does not leave the node without its other bridges.
void NetworkService::bring_up(const InterfacesFile& file) {
  Netlink nl;
  try {
    apply_interfaces(nl, {}, file, owned(file), {.log = log_step});
    return;
  } catch (const std::exception& e) {
    log::error(std::string("network: ") + e.what() + "; bringing up the interfaces one by one");
  }
  std::set<std::string> present;
  for (const auto& l : nl.links()) present.insert(l.name);
  for (const auto& [name, iface] : file.ifaces) {
    if (iface.type == IfaceType::Loopback) continue;
    try {
      InterfacesFile part;
      for (const auto& dep : creation_order(file, {name})) {
        if (const auto* i = file.find(dep)) part.ifaces[dep] = *i;
      }
      // As ifupdown2 does at boot: a bridge or bond comes up without a member that is gone.
      for (auto& [n, i] : part.ifaces) {
        for (auto* members : {&i.bridge_ports, &i.slaves}) {
          std::erase_if(*members, [&](const std::string& m) {
            bool gone = !present.count(m) && !file.find(m);
            if (gone) log::warn("network: " + n + " comes up without '" + m + "', which does not exist");
            return gone;
          });
        }
      }
      apply_interfaces(nl, {}, part, owned(part), {.log = log_step});
    } catch (const std::exception& e) {
      log::error("network: " + name + ": " + e.what());
    }
  }
}

int NetworkService::dnsmasq_pid(const std::string& bridge) const { return dnsmasq_->pid(bridge); }

void NetworkService::create_default_bridge(Netlink& nl) {
  std::vector<Ipv4Net> in_use;
  for (const auto& r : nl.routes(AF_INET)) {
    if (r.dst == "default") continue;
    if (auto net = parse_ipv4_cidr(r.dst.find('/') == std::string::npos ? r.dst + "/32" : r.dst)) in_use.push_back(*net);
  }
  for (const auto& a : nl.addresses()) {
    if (a.family != AF_INET) continue;
    if (auto net = parse_ipv4_cidr(a.cidr)) in_use.push_back(net->network());
  }
  auto subnet = choose_nat_subnet(in_use);
  if (!subnet) {
    log::warn("network: no free private subnet for the default bridge vmbr0; not created");
    return;
  }
  Interface br;
  br.name = "vmbr0";
  br.type = IfaceType::Bridge;
  br.autostart = true;
  br.priority = 1;
  Family inet;
  inet.method = "static";
  inet.cidr = gateway_address(*subnet) + "/" + std::to_string(subnet->prefix);
  inet.options.emplace_back(kNatOption, "yes");
  inet.comments.push_back("NAT bridge made by pvx: DHCP and DNS from dnsmasq, masquerading to the host's networks");
  br.inet = inet;
  InterfacesFile file = active();
  file.ifaces[br.name] = br;
  write_file_atomic(config_path(), print_interfaces(file));
  log::info("network: created the default NAT bridge vmbr0 with " + inet.cidr);
}

void NetworkService::update_nat() {
  std::vector<NatBridge> nat;
  std::vector<DnsmasqConfig> dhcp;
  for (const auto& [name, iface] : active().ifaces) {
    if (!is_nat_bridge(iface)) continue;
    auto net = parse_ipv4_cidr(iface.inet->cidr);
    if (!net) continue;
    nat.push_back({name, net->network()});
    dhcp.push_back({name, net->network(), options_.run_dir});
  }
  try {
    // Without NAT bridges the host's nftables stay untouched, unless this pvxd made the table.
    if (!nat.empty() || nat_active_) apply_nat(nat);
    nat_active_ = !nat.empty();
  } catch (const Error& e) {
    log::error(std::string("network: NAT rules not applied: ") + e.what());
  }
  if (!dhcp.empty() && !dnsmasq_installed()) {
    log::error("network: dnsmasq is not installed (Debian package dnsmasq-base); NAT bridges get no DHCP");
    dhcp.clear();
  }
  try {
    dnsmasq_->update(dhcp);
  } catch (const Error& e) {
    log::error(std::string("network: dnsmasq not started: ") + e.what());
  }
}

void NetworkService::start() {
  std::lock_guard lock(mutex_);
  // Each part on its own: a failure in one must not keep the others (NAT, dnsmasq) from starting.
  auto attempt = [](const char* what, const std::function<void()>& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      log::error(std::string("network: ") + what + ": " + e.what());
    }
  };
  fs::create_directories(options_.data_dir / "network");
  attempt("first start", [&] {
    if (options_.manage_host || fs::exists(config_path())) return;
    Netlink nl;
    if (options_.default_bridge && !nl.link("vmbr0")) {
      create_default_bridge(nl);
    } else {
      write_file_atomic(config_path(), print_interfaces({}));
    }
  });
  attempt("recovering an interrupted apply", [&] { recover_interrupted_apply(); });
  if (!options_.manage_host) attempt("bringing up interfaces", [&] { bring_up(active()); });
  attempt("NAT", [&] { update_nat(); });
}

}  // namespace pvx::network
