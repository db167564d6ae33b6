#include "network/interface_params.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "base/error.h"
#include "base/strings.h"

namespace pvx::network {
namespace {

bool truthy(const Json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) return v == "1" || v == "yes" || v == "on" || v == "true";
  return false;
}

std::string text(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// "a b,c;a" -> {a, b, c}: PVE's separators, duplicates dropped, order kept.
std::vector<std::string> list_words(const std::string& s) {
  std::vector<std::string> out;
  for (auto& w : split_any(s, " ,;\t")) {
    if (!w.empty() && std::find(out.begin(), out.end(), w) == out.end()) out.push_back(w);
  }
  return out;
}

std::string join(const std::vector<std::string>& v, const char* sep = " ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// Comment lines go into the file after '#'. A carriage return or another control character
// would end the line for some readers (ifupdown2 reads with universal newlines) and a trailing
// backslash would join the next line to it: either could smuggle in configuration.
std::vector<std::string> comment_lines(const std::string& text, const std::string& param) {
  std::vector<std::string> out;
  for (auto& line : split_any(text, "\n")) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    for (unsigned char c : line) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) throw Error::param(param, "control characters are not allowed");
    }
    // The file's reader trims trailing blanks, so "x\\ " would come back as a line ending in '\\'.
    auto end = line.find_last_not_of(" \t");
    if (end != std::string::npos && line[end] == '\\') throw Error::param(param, "a line must not end with a backslash");
    out.push_back(line);
  }
  while (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

// Bytes of an address and its prefix; false when malformed.
bool parse_cidr(const std::string& cidr, int& family, unsigned char (&bytes)[16], int& prefix) {
  auto slash = cidr.find('/');
  std::string addr = cidr.substr(0, slash);
  family = addr.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (inet_pton(family, addr.c_str(), bytes) != 1) return false;
  int max = family == AF_INET ? 32 : 128;
  prefix = max;
  if (slash != std::string::npos) {
    try {
      std::size_t used = 0;
      prefix = std::stoi(cidr.substr(slash + 1), &used);
      if (used != cidr.size() - slash - 1) return false;
    } catch (...) {
      return false;
    }
  }
  return prefix >= 0 && prefix <= max;
}

std::string prefix_of(const std::string& cidr) {
  auto slash = cidr.find('/');
  return slash == std::string::npos ? std::string() : cidr.substr(slash + 1);
}

std::string address_of(const std::string& cidr) { return cidr.substr(0, cidr.find('/')); }

// Who names `name` as port, slave or VLAN raw device, other than `except`.
std::string user_of(const InterfacesFile& file, const std::string& name, const std::string& except) {
  for (const auto& [other, i] : file.ifaces) {
    if (other == except) continue;
    if (std::find(i.bridge_ports.begin(), i.bridge_ports.end(), name) != i.bridge_ports.end()) return other;
    if (std::find(i.slaves.begin(), i.slaves.end(), name) != i.slaves.end()) return other;
    if (i.type == IfaceType::Vlan && i.vlan_parent() == name) return other;
  }
  return {};
}

void set_family_address(std::optional<Family>& fam, const std::string& cidr) {
  if (!fam) fam.emplace();
  fam->cidr = cidr;
  if (!cidr.empty()) fam->method = "static";
  else if (fam->method == "static") fam->method = "manual";
}

// An address that names a network, not a host: multicast, loopback, unspecified, or (with room
// for hosts in the prefix) the subnet's own or broadcast address.
std::string bad_host_address(const std::string& cidr) {
  int family = 0, prefix = 0;
  unsigned char b[16] = {};
  if (!parse_cidr(cidr, family, b, prefix)) return "invalid address";
  int bits = family == AF_INET ? 32 : 128;
  int len = bits / 8;
  bool all_zero = std::all_of(b, b + len, [](unsigned char c) { return c == 0; });
  if (all_zero) return "the unspecified address is not a host address";
  if (family == AF_INET6) {
    if (b[0] == 0xff) return "a multicast address is not a host address";
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(b, b + 12, mapped)) return "an IPv4-mapped address belongs in cidr, not cidr6";
    static const unsigned char loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (std::equal(b, b + 16, loopback)) return "the loopback address cannot be configured here";
  } else {
    if (b[0] >= 224) return "a multicast or reserved address is not a host address";
    if (b[0] == 0) return "addresses in 0.0.0.0/8 cannot be configured";
    if (b[0] == 127) return "a loopback address cannot be configured here";
  }
  if (prefix < bits - 1) {
    bool host_zero = true, host_ones = true;
    for (int bit = prefix; bit < bits; ++bit) {
      bool set = b[bit / 8] & (0x80 >> (bit % 8));
      host_zero = host_zero && !set;
      host_ones = host_ones && set;
    }
    if (host_zero) return "this is the network address of the subnet, not a host address";
    if (host_ones && family == AF_INET) return "this is the broadcast address of the subnet";
  }
  return {};
}

void check_interface(const InterfacesFile& file, const Interface& i, const HostView& host, Error::ParamErrors& errors) {
  auto exists = [&](const std::string& n) { return file.find(n) != nullptr || host.links.count(n) > 0; };
  auto kernel = [&](const std::string& n) -> const LinkState* {
    auto it = host.links.find(n);
    return it == host.links.end() ? nullptr : &it->second;
  };
  // Enslaved in the kernel to a device this file does not describe: the host's, not ours to take.
  auto kernel_user = [&](const std::string& n) -> std::string {
    const auto* k = kernel(n);
    if (!k || k->master.empty() || k->master == i.name || file.find(k->master)) return {};
    return k->master;
  };
  if (i.inet && !i.inet->cidr.empty()) {
    if (auto why = bad_host_address(i.inet->cidr); !why.empty()) errors["cidr"] = why;
  }
  if (i.inet6 && !i.inet6->cidr.empty()) {
    if (auto why = bad_host_address(i.inet6->cidr); !why.empty()) errors["cidr6"] = why;
  }
  for (auto [fam, suffix] : {std::pair{&i.inet, ""}, std::pair{&i.inet6, "6"}}) {
    if (!*fam) continue;
    const auto& f = **fam;
    std::string gw_key = std::string("gateway") + suffix;
    if (!f.gateway.empty()) {
      if (f.cidr.empty()) {
        errors[gw_key] = "a gateway needs an address on the interface";
      } else if (!gateway_in_subnet(f.cidr, f.gateway)) {
        errors[gw_key] = "gateway " + f.gateway + " is not in the subnet of " + f.cidr;
      }
      for (const auto& [other, o] : file.ifaces) {
        const auto& ofam = *suffix ? o.inet6 : o.inet;
        if (other != i.name && ofam && !ofam->gateway.empty()) {
          errors[gw_key] = "Default gateway already exists on interface '" + other + "'.";
        }
      }
      // A default route the file does not configure (made by hand, DHCP, another tool) is the
      // host's, even on a device of the file.
      auto host_gw = host.default_route_dev.find(*suffix ? AF_INET6 : AF_INET);
      auto configured_on = [&](const std::string& dev) {
        const auto* o = file.find(dev);
        const auto& ofam = o ? (*suffix ? o->inet6 : o->inet) : std::nullopt;
        return ofam && !ofam->gateway.empty();
      };
      if (host_gw != host.default_route_dev.end() && host_gw->second != i.name && !configured_on(host_gw->second)) {
        errors[gw_key] = "the host already has a default gateway on '" + host_gw->second + "'";
      }
    }
  }
  if (i.type == IfaceType::Bridge) {
    for (const auto& p : i.bridge_ports) {
      if (p == i.name) {
        errors["bridge_ports"] = "bridge '" + i.name + "' cannot be a port of itself";
      } else if (p == "lo") {
        errors["bridge_ports"] = "the loopback interface cannot be a bridge port";
      } else if (!exists(p)) {
        errors["bridge_ports"] = "bridge port '" + p + "' does not exist";
      } else if (auto u = user_of(file, p, i.name); !u.empty()) {
        errors["bridge_ports"] = "interface '" + p + "' is already used by '" + u + "'";
      } else if (auto k = kernel_user(p); !k.empty()) {
        errors["bridge_ports"] = "interface '" + p + "' is already used by '" + k + "'";
      } else if (const auto* pi = file.find(p); (pi && pi->type == IfaceType::Bridge) ||
                                                (!pi && kernel(p) && kernel(p)->kind == "bridge")) {
        errors["bridge_ports"] = "bridge '" + p + "' cannot be a port of another bridge";
      }
    }
    if (!i.bridge_vids.empty() && !i.bridge_vlan_aware) {
      errors["bridge_vids"] = "bridge_vids needs bridge_vlan_aware";
    }
  }
  if (i.type == IfaceType::Bond) {
    if (i.slaves.empty()) errors["slaves"] = "a bond needs at least one slave";
    for (const auto& s : i.slaves) {
      if (s == i.name) {
        errors["slaves"] = "bond '" + i.name + "' cannot be a slave of itself";
      } else if (!exists(s)) {
        errors["slaves"] = "slave '" + s + "' does not exist";
      } else if (auto u = user_of(file, s, i.name); !u.empty()) {
        errors["slaves"] = "interface '" + s + "' is already used by '" + u + "'";
      } else if (auto k = kernel_user(s); !k.empty()) {
        errors["slaves"] = "interface '" + s + "' is already used by '" + k + "'";
      } else if (const auto* si = file.find(s); si && si->type != IfaceType::Eth && si->type != IfaceType::Unknown) {
        errors["slaves"] = "interface '" + s + "' of type " + std::string(type_name(si->type)) + " cannot be a bond slave";
      } else if (const auto* ks = kernel(s); !si && ks && (s == "lo" || ks->kind == "bridge" || ks->kind == "bond")) {
        errors["slaves"] = "interface '" + s + "' (" + (s == "lo" ? "loopback" : ks->kind) + ") cannot be a bond slave";
      }
    }
    if (i.bond_mode == "balance-slb" || i.bond_mode.starts_with("lacp-")) {
      errors["bond_mode"] = "bond mode '" + i.bond_mode + "' needs Open vSwitch; Linux bonds use 802.3ad for LACP";
    }
    if (!i.bond_primary.empty() && std::find(i.slaves.begin(), i.slaves.end(), i.bond_primary) == i.slaves.end()) {
      errors["bond-primary"] = "'" + i.bond_primary + "' is not a slave of this bond";
    }
  }
  if (i.type == IfaceType::Vlan) {
    auto id = i.effective_vlan_id();
    auto parent = i.vlan_parent();
    std::string id_key = i.vlan_id ? "vlan-id" : "iface";
    if (!id && !i.vlan_id && i.name.find('.') != std::string::npos) {
      errors["iface"] = "'" + i.name.substr(i.name.rfind('.') + 1) + "' is not a VLAN id";
    } else if (!id) {
      errors["vlan-id"] = "a VLAN needs vlan-id and vlan-raw-device unless its name is <device>.<vid>";
    } else if (*id < 1 || *id > 4094) {
      errors[id_key] = "VLAN id " + std::to_string(*id) + " is not in 1-4094";
    }
    std::string parent_key = i.vlan_raw_device.empty() ? "iface" : "vlan-raw-device";
    if (parent.empty()) {
      errors["vlan-raw-device"] = "a VLAN needs vlan-raw-device unless its name is <device>.<vid>";
    } else if (parent == i.name) {
      errors[parent_key] = "a VLAN cannot sit on itself";
    } else if (!exists(parent)) {
      errors[parent_key] = "VLAN raw device '" + parent + "' does not exist";
    }
  }
}

// One family's keys: method, cidr/address/netmask, gateway, comments, options, with PVE's
// suffix "6" for IPv6 (netmask6 is a number there, netmask a string).
void family_json(Json& j, const Family& f, const std::string& suffix) {
  j["method" + suffix] = f.method;
  if (!f.cidr.empty()) {
    j["cidr" + suffix] = f.cidr;
    j["address" + suffix] = address_of(f.cidr);
    int prefix = 0;
    auto p = prefix_of(f.cidr);
    if (std::from_chars(p.data(), p.data() + p.size(), prefix).ec == std::errc() && prefix >= 0 && prefix <= 128) {
      if (suffix.empty()) j["netmask"] = std::to_string(prefix);
      else j["netmask6"] = prefix;
    }
  }
  if (!f.gateway.empty()) j["gateway" + suffix] = f.gateway;
  if (!f.comments.empty()) j["comments" + suffix] = join(f.comments, "\n") + "\n";
  if (!f.options.empty()) {
    Json opts = Json::array();
    for (const auto& [k, v] : f.options) opts.push_back(v.empty() ? k : k + " " + v);
    j["options" + suffix] = opts;
  }
}

}  // namespace

bool gateway_in_subnet(const std::string& cidr, const std::string& gateway) {
  int fa = 0, fb = 0, prefix = 0, unused = 0;
  unsigned char a[16] = {}, b[16] = {};
  if (!parse_cidr(cidr, fa, a, prefix) || !parse_cidr(gateway, fb, b, unused) || fa != fb) return false;
  for (int bit = 0; bit < prefix; ++bit) {
    int mask = 0x80 >> (bit % 8);
    if ((a[bit / 8] & mask) != (b[bit / 8] & mask)) return false;
  }
  return true;
}

void apply_interface_params(InterfacesFile& file, const std::string& iface, const Json& params, bool create,
                            const std::vector<std::string>& deletes, const HostView& host) {
  auto type_text = params.value("type", std::string());
  auto type = parse_type(type_text).value_or(IfaceType::Unknown);
  Interface* existing = file.find(iface);
  if (existing && existing->type == IfaceType::Loopback) throw Error::param("iface", "the loopback interface cannot be changed");
  if (create) {
    if (existing) throw Error::param("iface", "interface already exists");
    // The kernel's limits (IFNAMSIZ) and the names it reserves under /proc/sys/net/*/conf.
    if (iface.size() > 15) throw Error::param("iface", "interface names have at most 15 characters");
    if (iface == "all" || iface == "default" || iface == "lo") throw Error::param("iface", "'" + iface + "' is a reserved name");
    switch (type) {
      case IfaceType::Bridge: case IfaceType::Bond: case IfaceType::Vlan: break;
      case IfaceType::Eth:
        if (!host.links.count(iface)) throw Error::param("iface", "network device '" + iface + "' does not exist");
        break;
      case IfaceType::OVSBridge: case IfaceType::OVSBond: case IfaceType::OVSPort: case IfaceType::OVSIntPort:
        throw Error::param("type", "Open vSwitch interfaces are not supported by pvx; use a Linux bridge");
      default:
        throw Error::param("type", "interfaces of type '" + type_text + "' cannot be created");
    }
  } else {
    if (!existing) throw Error::param("iface", "interface does not exist");
    if (existing->type != type && existing->type != IfaceType::Unknown) {
      throw Error::param("type", "interface type is '" + std::string(type_name(existing->type)) + "', not '" + type_text + "'");
    }
  }

  Interface i = existing ? *existing : Interface{};
  if (create) {
    i.name = iface;
    i.type = type;
    i.priority = file.next_priority();
    i.autostart = true;
    i.inet = Family{};
  }
  if (i.type == IfaceType::Unknown) i.type = type;

  for (const auto& key : deletes) {
    if (key == "cidr" || key == "address" || key == "netmask") set_family_address(i.inet, "");
    else if (key == "cidr6" || key == "address6" || key == "netmask6") set_family_address(i.inet6, "");
    else if (key == "gateway") { if (i.inet) i.inet->gateway.clear(); }
    else if (key == "gateway6") { if (i.inet6) i.inet6->gateway.clear(); }
    else if (key == "comments") { if (i.inet) i.inet->comments.clear(); }
    else if (key == "comments6") { if (i.inet6) i.inet6->comments.clear(); }
    else if (key == "mtu") i.mtu.reset();
    else if (key == "bridge_ports") i.bridge_ports.clear();
    else if (key == "bridge_vlan_aware") i.bridge_vlan_aware = false;
    else if (key == "bridge_vids") i.bridge_vids.clear();
    else if (key == "slaves") i.slaves.clear();
    else if (key == "bond_mode") i.bond_mode.clear();
    else if (key == "bond-primary") i.bond_primary.clear();
    else if (key == "bond_xmit_hash_policy") i.bond_xmit_hash_policy.clear();
    else if (key == "vlan-id") i.vlan_id.reset();
    else if (key == "vlan-raw-device") i.vlan_raw_device.clear();
    else if (key == "autostart") i.autostart = false;
    // Other keys (ovs_*, ...) mean nothing to a Linux stanza; PVE ignores them as well.
  }

  auto has = [&](const char* k) { return params.contains(k) && !params[k].is_null(); };
  // The address: `cidr`, or `address` with `netmask` (dotted mask or prefix length).
  if (has("cidr")) {
    auto cidr = text(params["cidr"]);
    if (has("address") && text(params["address"]) != address_of(cidr)) {
      throw Error::param("address", "address conflicts with cidr");
    }
    set_family_address(i.inet, cidr);
  } else if (has("address")) {
    std::string mask = has("netmask") ? text(params["netmask"]) : std::string("32");
    if (mask.find('.') != std::string::npos) {
      unsigned char m[4];
      if (inet_pton(AF_INET, mask.c_str(), m) != 1) throw Error::param("netmask", "invalid netmask");
      int prefix = 0;
      for (unsigned char byte : m) prefix += __builtin_popcount(byte);
      mask = std::to_string(prefix);
    }
    set_family_address(i.inet, text(params["address"]) + "/" + mask);
  }
  if (has("cidr6")) {
    auto cidr6 = text(params["cidr6"]);
    if (has("address6") && text(params["address6"]) != address_of(cidr6)) {
      throw Error::param("address6", "address6 conflicts with cidr6");
    }
    set_family_address(i.inet6, cidr6);
  } else if (has("address6")) {
    set_family_address(i.inet6, text(params["address6"]) + "/" + (has("netmask6") ? text(params["netmask6"]) : "128"));
  }
  if (has("gateway")) {
    if (!i.inet) i.inet.emplace();
    i.inet->gateway = text(params["gateway"]);
  }
  if (has("gateway6")) {
    if (!i.inet6) i.inet6.emplace();
    i.inet6->gateway = text(params["gateway6"]);
  }
  if (has("comments")) {
    if (!i.inet) i.inet.emplace();
    i.inet->comments = comment_lines(text(params["comments"]), "comments");
  }
  if (has("comments6")) {
    if (!i.inet6) i.inet6.emplace();
    i.inet6->comments = comment_lines(text(params["comments6"]), "comments6");
  }
  if (has("autostart")) i.autostart = truthy(params["autostart"]);
  if (has("mtu")) i.mtu = params["mtu"].is_number() ? params["mtu"].get<int>() : std::stoi(text(params["mtu"]));
  if (has("bridge_ports")) i.bridge_ports = list_words(text(params["bridge_ports"]));
  if (has("bridge_vlan_aware")) i.bridge_vlan_aware = truthy(params["bridge_vlan_aware"]);
  if (has("bridge_vids")) i.bridge_vids = join(list_words(text(params["bridge_vids"])));
  if (has("slaves")) i.slaves = list_words(text(params["slaves"]));
  if (has("bond_mode")) i.bond_mode = text(params["bond_mode"]);
  if (has("bond-primary")) i.bond_primary = text(params["bond-primary"]);
  if (has("bond_xmit_hash_policy")) i.bond_xmit_hash_policy = text(params["bond_xmit_hash_policy"]);
  if (has("vlan-id")) i.vlan_id = params["vlan-id"].is_number() ? params["vlan-id"].get<int>() : std::stoi(text(params["vlan-id"]));
  if (has("vlan-raw-device")) i.vlan_raw_device = text(params["vlan-raw-device"]);
  if (i.type == IfaceType::Bond && i.bond_mode.empty()) i.bond_mode = "balance-rr";
  // Turning VLAN awareness off drops the VLAN list with it (PVE's GUI sends only the flag).
  if (!i.bridge_vlan_aware) i.bridge_vids.clear();

  // An IPv6 stanza with nothing left in it goes away; some family always stays.
  if (i.inet6 && i.inet6->cidr.empty() && i.inet6->gateway.empty() && i.inet6->comments.empty() &&
      i.inet6->options.empty() && i.inet6->method == "manual" && i.inet) {
    i.inet6.reset();
  }
  if (!i.inet && !i.inet6) i.inet.emplace();

  InterfacesFile next = file;
  next.ifaces[iface] = i;
  Error::ParamErrors errors;
  check_interface(next, i, host, errors);
  if (!errors.empty()) throw Error::params(std::move(errors));
  // Slaves of a bond start with it and carry no addresses, as ifupdown2 expects. Only in the
  // host's own file: in pvx's file a stanza would make the host's NIC look like pvx's.
  for (const auto& s : i.slaves) {
    if (host.manage_host && !next.find(s) && host.links.count(s)) {
      Interface slave;
      slave.name = s;
      slave.type = IfaceType::Eth;
      slave.autostart = true;
      slave.priority = next.next_priority();
      slave.inet = Family{};
      next.ifaces[s] = slave;
    }
  }
  file = std::move(next);
}

void remove_interface(InterfacesFile& file, const std::string& iface) {
  const auto* i = file.find(iface);
  if (!i) throw Error::param("iface", "interface does not exist");
  if (i->type == IfaceType::Loopback) throw Error::param("iface", "the loopback interface cannot be deleted");
  if (auto u = user_of(file, iface, iface); !u.empty()) {
    throw Error::param("iface", "interface '" + iface + "' is used by '" + u + "'; change '" + u + "' first");
  }
  file.ifaces.erase(iface);
}

Json interface_json(const ListedInterface& li) {
  const auto& i = li.config;
  Json j = {{"iface", i.name}, {"type", std::string(type_name(i.type))}, {"priority", i.priority}};
  if (i.autostart) j["autostart"] = 1;
  if (li.active) j["active"] = 1;
  if (li.exists && i.type == IfaceType::Eth) j["exists"] = 1;  // PVE: "physically exists", NICs only
  Json families = Json::array();
  if (i.inet) {
    families.push_back("inet");
    family_json(j, *i.inet, "");
  }
  if (i.inet6) {
    families.push_back("inet6");
    family_json(j, *i.inet6, "6");
  }
  if (!i.inet) j["method"] = "manual";
  if (!i.inet6) j["method6"] = "manual";  // PVE always reports both methods
  j["families"] = families;
  if (i.mtu) j["mtu"] = *i.mtu;
  switch (i.type) {
    case IfaceType::Bridge:
      j["bridge_ports"] = join(i.bridge_ports);
      j["bridge_stp"] = i.bridge_stp.empty() ? "off" : i.bridge_stp;
      j["bridge_fd"] = i.bridge_fd.empty() ? "0" : i.bridge_fd;
      if (i.bridge_vlan_aware) {
        j["bridge_vlan_aware"] = 1;
        j["bridge_vids"] = i.bridge_vids.empty() ? "2-4094" : i.bridge_vids;
      }
      break;
    case IfaceType::Bond:
      j["slaves"] = join(i.slaves);
      if (!i.bond_mode.empty()) j["bond_mode"] = i.bond_mode;
      j["bond_miimon"] = i.bond_miimon.empty() ? "100" : i.bond_miimon;
      if (!i.bond_xmit_hash_policy.empty()) j["bond_xmit_hash_policy"] = i.bond_xmit_hash_policy;
      if (!i.bond_primary.empty()) j["bond-primary"] = i.bond_primary;
      break;
    case IfaceType::Vlan:
      if (auto id = i.effective_vlan_id()) j["vlan-id"] = *id;
      if (auto p = i.vlan_parent(); !p.empty()) j["vlan-raw-device"] = p;
      break;
    default:
      break;
  }
  return j;
}

}  // namespace pvx::network
