// Cloud-init file generation (NoCloud, ConfigDrive v2, OpenNebula) from a VM's main config
// section, with qemu-server's exact texts: guests parse these files, and instance-id is a hash
// of them, so a byte of difference makes cloud-init re-run its first-boot modules.
#include "guest/qemu/cloudinit.h"

#include <openssl/sha.h>

#include <cctype>
#include <cstdio>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/strings.h"
#include "guest/qemu/net.h"

namespace pvx::guest::qemu {
namespace {

constexpr std::size_t kMaxSnippetSum = 3 * 1024 * 1024;  // the image is 4 MiB, ISO overhead included

const std::string* value_of(const ConfigSection& conf, const std::string& key) {
  auto it = conf.values.find(key);
  return it == conf.values.end() ? nullptr : &it->second;
}

// Perl truthiness of a config value: absent, "" and "0" are false.
bool truthy(const std::string* v) { return v && !v->empty() && *v != "0"; }

std::string sha1_hex(std::string_view data) {
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  std::string out;
  char buf[3];
  for (unsigned char c : md) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

std::vector<std::string> split_ws(std::string_view s) { return split_any(s, " \t\r\n"); }

struct IpConfig {
  std::optional<std::string> ip, gw, ip6, gw6;
};

bool is_ipv6_address(std::string_view v) { return v != "auto" && v != "dhcp"; }

// `ipN: ip=..,gw=..,ip6=..,gw6=..` with PVE's parse_ipconfig rules: contradictory settings make
// the interface unconfigured (nullopt), no address at all means DHCP for both families.
std::optional<IpConfig> parse_ipconfig(std::string_view text) {
  IpConfig c;
  for (const auto& part : split_any(text, ",")) {
    auto eq = part.find('=');
    if (eq == std::string::npos) return std::nullopt;
    auto k = part.substr(0, eq);
    auto v = part.substr(eq + 1);
    if (k == "ip") c.ip = v;
    else if (k == "gw") c.gw = v;
    else if (k == "ip6") c.ip6 = v;
    else if (k == "gw6") c.gw6 = v;
    else return std::nullopt;
  }
  if (c.gw && !c.ip) return std::nullopt;
  if (c.gw6 && !c.ip6) return std::nullopt;
  if (c.gw && *c.ip == "dhcp") return std::nullopt;
  if (c.gw6 && !is_ipv6_address(*c.ip6)) return std::nullopt;
  if (!c.ip && !c.ip6) {
    c.ip = "dhcp";
    c.ip6 = "dhcp";
  }
  return c;
}

// "10.0.0.5/24" -> ("10.0.0.5", "255.255.255.0").
std::pair<std::string, std::string> split_ip4(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) throw Error("not a CIDR: " + cidr);
  auto bits = to_int(std::string_view(cidr).substr(slash + 1));
  if (!bits || *bits < 0 || *bits > 32) throw Error("not a CIDR: " + cidr);
  std::uint32_t mask = *bits == 0 ? 0 : 0xffffffffu << (32 - *bits);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", mask >> 24, (mask >> 16) & 0xff, (mask >> 8) & 0xff, mask & 0xff);
  return {cidr.substr(0, slash), buf};
}

std::pair<std::string, std::string> split_ip6(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return {cidr, ""};
  return {cidr.substr(0, slash), cidr.substr(slash + 1)};
}

// The configured NICs that have an ipconfig, in PVE's (byte) order: (index, net value, ipconfig).
struct Nic {
  std::string key;  // net0
  int index = 0;
  std::string net;
  std::optional<IpConfig> ip;
};
std::vector<Nic> configured_nics(const ConfigSection& conf) {
  std::vector<Nic> out;
  for (const auto& [key, value] : conf.values) {
    if (!is_net_key(key)) continue;
    int index = std::stoi(key.substr(3));
    const std::string* ipc = value_of(conf, "ipconfig" + std::to_string(index));
    if (!truthy(ipc)) continue;
    out.push_back({key, index, value, parse_ipconfig(*ipc)});
  }
  return out;
}

std::string mac_of(const Nic& nic) {
  std::string mac;
  try {
    mac = parse_net(nic.key, nic.net).macaddr;
  } catch (const Error&) {
  }
  if (mac.empty()) throw Error("network interface '" + nic.key + "' has no mac address");
  return mac;
}

void dns_conf(const ConfigSection& conf, const HostDns& host, std::vector<std::string>& search,
              std::vector<std::string>& nameservers) {
  const std::string* sd = value_of(conf, "searchdomain");
  search = sd ? split_ws(*sd) : host.search;
  const std::string* ns = value_of(conf, "nameserver");
  nameservers = ns ? split_ws(*ns) : host.nameservers;
}

std::pair<std::string, std::string> hostname_fqdn(const ConfigSection& conf, std::int64_t vmid) {
  const std::string* name = value_of(conf, "name");
  std::string hostname = name ? *name : "VM" + std::to_string(vmid);
  if (auto dot = hostname.find('.'); dot != std::string::npos) return {hostname.substr(0, dot), hostname};
  if (const std::string* search = value_of(conf, "searchdomain"); truthy(search)) {
    return {hostname, hostname + "." + *search};
  }
  return {hostname, hostname};
}

// sshkeys is URL-encoded (one OpenSSH key per line); blank lines are dropped.
std::vector<std::string> ssh_keys(const ConfigSection& conf) {
  std::vector<std::string> keys;
  const std::string* enc = value_of(conf, "sshkeys");
  if (!enc) return keys;
  std::string text = url_decode(*enc, false);
  std::size_t start = 0;
  while (start <= text.size()) {
    auto nl = text.find('\n', start);
    std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (line.find_first_not_of(" \t\r\f\v") != std::string::npos) keys.push_back(line);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return keys;
}

std::string user_data(const ConfigSection& conf, std::int64_t vmid, bool mask_password) {
  auto [hostname, fqdn] = hostname_fqdn(conf, vmid);
  std::string out = "#cloud-config\n";
  out += "hostname: " + hostname + "\n";
  out += "manage_etc_hosts: true\n";
  out += "fqdn: " + fqdn + "\n";
  const std::string* user = value_of(conf, "ciuser");
  const std::string* password = value_of(conf, "cipassword");
  if (user) out += "user: " + *user + "\n";
  if (user && *user == "root") out += "disable_root: False\n";
  if (password) out += "password: " + (mask_password ? std::string("**********") : *password) + "\n";
  if (value_of(conf, "sshkeys")) {
    out += "ssh_authorized_keys:\n";
    for (const auto& k : ssh_keys(conf)) out += "  - " + k + "\n";
  }
  out += "chpasswd:\n";
  out += "  expire: False\n";
  if (!user || *user != "root") {
    out += "users:\n";
    out += "  - default\n";
  }
  const std::string* upgrade = value_of(conf, "ciupgrade");
  if (!upgrade || truthy(upgrade)) out += "package_upgrade: true\n";
  return out;
}

// NoCloud network-config, version 1 (interfaces matched by MAC, named ethN).
std::string nocloud_network(const ConfigSection& conf, const HostDns& host) {
  std::string out = "version: 1\nconfig:\n";
  for (const auto& nic : configured_nics(conf)) {
    const std::string mac = to_lower(mac_of(nic));
    out += "    - type: physical\n";
    out += "      name: eth" + std::to_string(nic.index) + "\n";
    out += "      mac_address: '" + mac + "'\n";
    out += "      subnets:\n";
    const std::string i = "      ";
    if (!nic.ip) continue;
    if (const auto& ip = nic.ip->ip) {
      if (*ip == "dhcp") {
        out += i + "- type: dhcp4\n";
      } else {
        auto [addr, mask] = split_ip4(*ip);
        out += i + "- type: static\n";
        out += i + "  address: '" + addr + "'\n";
        out += i + "  netmask: '" + mask + "'\n";
        if (nic.ip->gw) out += i + "  gateway: '" + *nic.ip->gw + "'\n";
      }
    }
    if (const auto& ip6 = nic.ip->ip6) {
      if (*ip6 == "dhcp") {
        out += i + "- type: dhcp6\n";
      } else if (*ip6 == "auto") {
        out += i + "- type: ipv6_slaac\n";  // cloud-init 19.4 and newer
      } else {
        out += i + "- type: static6\n";
        out += i + "  address: '" + *ip6 + "'\n";
        if (nic.ip->gw6) out += i + "  gateway: '" + *nic.ip->gw6 + "'\n";
      }
    }
  }
  std::vector<std::string> search, nameservers;
  dns_conf(conf, host, search, nameservers);
  out += "    - type: nameserver\n";
  if (!nameservers.empty()) {
    out += "      address:\n";
    for (const auto& n : nameservers) out += "      - '" + n + "'\n";
  }
  if (!search.empty()) {
    out += "      search:\n";
    for (const auto& s : search) out += "      - '" + s + "'\n";
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// ConfigDrive v2 network data in ifupdown (ENI) syntax, interfaces named ethN. Windows guests
// (cloudbase-init) get the variant without the loopback and with per-interface DNS.
std::string eni_network(const ConfigSection& conf, const HostDns& host, bool cloudbase) {
  std::vector<std::string> search, nameservers;
  dns_conf(conf, host, search, nameservers);
  const std::string ns = join(nameservers, " ");
  std::string out;
  if (!cloudbase) {
    out += "auto lo\niface lo inet loopback\n\n";
    if (!nameservers.empty()) out += "        dns_nameservers " + ns + "\n";
    if (!search.empty()) out += "        dns_search " + join(search, " ") + "\n";
  }
  for (const auto& nic : configured_nics(conf)) {
    const std::string id = "eth" + std::to_string(nic.index);
    out += "auto " + id + "\n";
    if (!nic.ip) continue;
    if (const auto& ip = nic.ip->ip) {
      if (*ip == "dhcp") {
        out += "iface " + id + " inet dhcp\n";
      } else {
        auto [addr, mask] = split_ip4(*ip);
        out += "iface " + id + " inet static\n";
        out += "        address " + addr + "\n";
        out += "        netmask " + mask + "\n";
        if (nic.ip->gw && !nic.ip->gw->empty()) out += "        gateway " + *nic.ip->gw + "\n";
        if (cloudbase && !ns.empty()) out += "        dns-nameservers " + ns + "\n";
      }
    }
    if (const auto& ip6 = nic.ip->ip6) {
      if (*ip6 == "auto" || *ip6 == "dhcp") {
        out += "iface " + id + " inet6 " + *ip6 + "\n";
      } else {
        auto [addr, mask] = split_ip6(*ip6);
        out += "iface " + id + " inet6 static\n";
        out += "        address " + addr + "\n";
        out += "        netmask " + mask + "\n";
        if (nic.ip->gw6 && !nic.ip->gw6->empty()) out += "        gateway " + *nic.ip->gw6 + "\n";
        if (cloudbase && !ns.empty()) out += "        dns-nameservers " + ns + "\n";
      }
    }
  }
  return out;
}

std::string nocloud_meta(const std::string& user, const std::string& network) {
  return "instance-id: " + sha1_hex(user + network) + "\n";
}

std::string configdrive2_meta(const std::string& user, const std::string& network) {
  return "{\n     \"uuid\": \"" + sha1_hex(user + network) +
         "\",\n     \"network_config\": { \"content_path\": \"/content/0000\" }\n}\n";
}

// cloudbase-init reads the password and keys from meta_data.json.
std::string cloudbase_meta(const ConfigSection& conf, const std::string& user, const std::string& network) {
  schema::Json meta = {{"uuid", sha1_hex(user + network)},
                       {"network_config", {{"content_path", "/content/0000"}}}};
  if (const std::string* pw = value_of(conf, "cipassword"); truthy(pw)) meta["admin_pass"] = *pw;
  if (value_of(conf, "sshkeys")) {
    int i = 0;
    for (const auto& k : ssh_keys(conf)) meta["public_keys"]["key-" + std::to_string(i++)] = k;
  }
  return meta.dump();
}

// Perl's encode_base64: lines of 76 characters, each ending in a newline.
std::string base64_lines(std::string_view data) {
  std::string b64 = base64_encode(data), out;
  for (std::size_t i = 0; i < b64.size(); i += 76) out += b64.substr(i, 76) + "\n";
  return out;
}

std::string opennebula_context(const ConfigSection& conf, std::int64_t vmid, const HostDns& host) {
  std::string out;
  const std::string* user = value_of(conf, "ciuser");
  out += "USERNAME=" + (truthy(user) ? *user : std::string("root")) + "\n";
  if (const std::string* pw = value_of(conf, "cipassword")) out += "CRYPTED_PASSWORD_BASE64=" + base64_lines(*pw) + "\n";
  if (value_of(conf, "sshkeys")) {
    std::vector<std::string> keys;
    for (const auto& k : ssh_keys(conf)) keys.emplace_back(trim(k));
    out += "SSH_PUBLIC_KEY=\"" + join(keys, "\n") + "\"\n";
  }
  out += "SET_HOSTNAME=" + hostname_fqdn(conf, vmid).first + "\n";
  std::vector<std::string> search, nameservers;
  dns_conf(conf, host, search, nameservers);
  if (!nameservers.empty()) out += "DNS=\"" + join(nameservers, " ") + "\"\n";
  if (!search.empty()) out += "SEARCH_DOMAIN=\"" + join(search, " ") + "\"\n";
  bool enabled = false;
  for (const auto& nic : configured_nics(conf)) {
    if (!nic.ip) continue;
    const std::string eth = "ETH" + std::to_string(nic.index);
    std::string mac;
    std::optional<int> mtu;
    try {
      auto net = parse_net(nic.key, nic.net);
      mac = to_lower(net.macaddr);
      mtu = net.mtu;
    } catch (const Error&) {
    }
    const std::string mtu_line = mtu ? eth + "_MTU=" + std::to_string(*mtu) + "\n" : "";
    if (const auto& ip = nic.ip->ip) {
      enabled = true;
      if (*ip == "dhcp") {
        out += eth + "_DHCP=YES\n";
      } else {
        auto [addr, mask] = split_ip4(*ip);
        out += eth + "_IP=" + addr + "\n" + eth + "_MASK=" + mask + "\n" + eth + "_MAC=" + mac + "\n";
        if (nic.ip->gw) out += eth + "_GATEWAY=" + *nic.ip->gw + "\n";
      }
      out += mtu_line;
    }
    if (const auto& ip6 = nic.ip->ip6) {
      enabled = true;
      if (*ip6 == "dhcp") {
        out += eth + "_DHCP6=YES\n";
      } else if (*ip6 == "auto") {
        out += eth + "_AUTO6=YES\n";
      } else {
        auto [addr, mask] = split_ip6(*ip6);
        out += eth + "_IP6=" + addr + "\n" + eth + "_MASK6=" + mask + "\n" + eth + "_MAC6=" + mac + "\n";
        if (nic.ip->gw6) out += eth + "_GATEWAY6=" + *nic.ip->gw6 + "\n";
      }
      out += mtu_line;
    }
  }
  if (enabled) out += "NETWORK=YES\n";
  return out;
}

// `cicustom: user=<volid>,network=<volid>,meta=<volid>,vendor=<volid>`: the snippets replacing
// generated parts.
struct CustomParts {
  std::optional<std::string> user, network, meta, vendor;
};
CustomParts custom_parts(const ConfigSection& conf, const SnippetReader& read_snippet) {
  CustomParts parts;
  const std::string* text = value_of(conf, "cicustom");
  if (!truthy(text)) return parts;
  for (const auto& item : split_any(*text, ",")) {
    auto eq = item.find('=');
    if (eq == std::string::npos) throw Error::param("cicustom", "invalid format - missing key in '" + item + "'");
    auto key = item.substr(0, eq);
    auto volid = item.substr(eq + 1);
    std::optional<std::string>* slot = key == "user"      ? &parts.user
                                       : key == "network" ? &parts.network
                                       : key == "meta"    ? &parts.meta
                                       : key == "vendor"  ? &parts.vendor
                                                          : nullptr;
    if (!slot) throw Error::param("cicustom", "invalid format - unknown key '" + key + "'");
    if (volid.empty()) continue;
    if (!read_snippet) throw Error("cannot read cloud-init snippet '" + volid + "'");
    *slot = read_snippet(volid);
  }
  return parts;
}

void check_size(const CloudInitFiles& files) {
  std::size_t sum = 0;
  for (const auto& [path, content] : files.files) sum += content.size();
  if (sum > kMaxSnippetSum) throw Error("Cloud-Init sum of snippets too big (> 3 MiB)");
}

}  // namespace

HostDns parse_resolv_conf(std::string_view text) {
  HostDns dns;
  std::optional<std::vector<std::string>> search, domain;
  for (const auto& raw : split_any(text, "\n")) {
    auto words = split_ws(raw);
    if (words.empty() || words[0].starts_with('#') || words[0].starts_with(';')) continue;
    if (words[0] == "search") search = std::vector<std::string>(words.begin() + 1, words.end());
    else if (words[0] == "domain" && words.size() > 1) domain = std::vector<std::string>{words[1]};
    else if (words[0] == "nameserver" && words.size() > 1 && dns.nameservers.size() < 3) dns.nameservers.push_back(words[1]);
  }
  dns.search = search ? *search : domain ? *domain : std::vector<std::string>{};
  return dns;
}

HostDns read_host_dns(const std::filesystem::path& resolv_conf) {
  auto text = read_file(resolv_conf);
  return text ? parse_resolv_conf(*text) : HostDns{};
}

int windows_version(std::string_view ostype) {
  if (ostype == "wxp" || ostype == "w2k3" || ostype == "w2k") return 5;
  if (ostype == "w2k8" || ostype == "wvista") return 6;
  if (ostype.starts_with("win")) {
    if (auto n = to_int(ostype.substr(3)); n && *n >= 0) return *n;
  }
  return 0;
}

std::string cloudinit_format(const ConfigSection& conf) {
  if (const std::string* t = value_of(conf, "citype")) return *t;
  if (const std::string* os = value_of(conf, "ostype"); os && windows_version(*os)) return "configdrive2";
  return "nocloud";
}

CloudInitFiles generate_cloudinit(std::int64_t vmid, const ConfigSection& conf, const SnippetReader& read_snippet,
                                  const std::optional<HostDns>& host_dns) {
  const HostDns host = host_dns ? *host_dns : read_host_dns();
  CloudInitFiles out;
  out.citype = cloudinit_format(conf);
  if (out.citype == "opennebula") {
    out.label = "CONTEXT";
    out.files["context.sh"] = opennebula_context(conf, vmid, host);
    return out;
  }
  if (out.citype != "nocloud" && out.citype != "configdrive2") {
    throw Error("missing cloudinit methods for format '" + out.citype + "'");
  }
  auto custom = custom_parts(conf, read_snippet);
  const bool nocloud = out.citype == "nocloud";
  const std::string* ostype = value_of(conf, "ostype");
  const bool cloudbase = !nocloud && ostype && windows_version(*ostype) > 0;

  std::string user = custom.user ? *custom.user : user_data(conf, vmid, false);
  std::string network = custom.network ? *custom.network
                        : nocloud      ? nocloud_network(conf, host)
                                       : eni_network(conf, host, cloudbase);
  std::string vendor = custom.vendor ? *custom.vendor : "";
  std::string meta = custom.meta        ? *custom.meta
                     : nocloud          ? nocloud_meta(user, network)
                     : cloudbase        ? cloudbase_meta(conf, user, network)
                                        : configdrive2_meta(user, network);
  if (nocloud) {
    out.label = "cidata";
    out.files["user-data"] = std::move(user);
    out.files["network-config"] = std::move(network);
    out.files["meta-data"] = std::move(meta);
    out.files["vendor-data"] = std::move(vendor);
  } else {
    out.label = "config-2";
    out.files["openstack/latest/user_data"] = std::move(user);
    out.files["openstack/content/0000"] = std::move(network);
    out.files["openstack/latest/meta_data.json"] = std::move(meta);
    out.files["openstack/latest/vendor_data.json"] = std::move(vendor);
  }
  check_size(out);
  return out;
}

std::string cloudinit_dump(std::int64_t vmid, const ConfigSection& conf, const std::string& type, bool mask_password,
                           const std::optional<HostDns>& host_dns) {
  const HostDns host = host_dns ? *host_dns : read_host_dns();
  const bool nocloud = cloudinit_format(conf) == "nocloud";
  if (type == "user") return user_data(conf, vmid, mask_password);
  // Like PVE, anything but nocloud dumps the ENI text of configdrive2.
  auto network = [&] { return nocloud ? nocloud_network(conf, host) : eni_network(conf, host, false); };
  if (type == "network") return network();
  if (type != "meta") throw Error::param("type", "value '" + type + "' does not have a value in the enumeration 'user, network, meta'");
  auto user = user_data(conf, vmid, false);  // unmasked: the id must match the image's
  return nocloud ? nocloud_meta(user, network()) : configdrive2_meta(user, network());
}

}  // namespace pvx::guest::qemu
