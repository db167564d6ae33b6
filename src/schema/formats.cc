#include "schema/formats.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <map>
#include <regex>
#include <stdexcept>

namespace pvx::schema {
namespace {

// A checker returns nullopt for a good value, else PVE's message for the bad one.
using Result = std::optional<std::string>;
using Checker = Result (*)(std::string_view);

std::string q(std::string_view v) { return "'" + std::string(v) + "'"; }

bool match(std::string_view v, const std::regex& re) { return std::regex_match(v.begin(), v.end(), re); }

std::regex icase(const char* pattern) { return std::regex(pattern, std::regex::ECMAScript | std::regex::icase); }

bool is_ipv4(std::string_view v) {
  // inet_pton refuses leading zeros and octets over 255, the same values PVE's octet regex refuses.
  std::string s(v);
  in_addr a{};
  return !s.empty() && s.size() <= 15 && inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool is_ipv6(std::string_view v) {
  std::string s(v);
  in6_addr a{};
  return !s.empty() && inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

bool is_ip(std::string_view v) { return is_ipv4(v) || is_ipv6(v); }

// "addr/bits" with PVE's prefix bounds: more than 7 bits, at most the address width.
bool is_cidr(std::string_view v, bool v6) {
  auto slash = v.rfind('/');
  if (slash == std::string_view::npos) return false;
  std::string_view bits = v.substr(slash + 1);
  if (bits.empty() || bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), ::isdigit)) return false;
  int n = std::stoi(std::string(bits));
  if (n <= 7 || n > (v6 ? 128 : 32)) return false;
  return v6 ? is_ipv6(v.substr(0, slash)) : is_ipv4(v.substr(0, slash));
}

bool is_dns_name(std::string_view v) {
  static const std::regex re("(?:[a-zA-Z0-9](?:[a-zA-Z0-9\\-]*[a-zA-Z0-9])?\\.)*[a-zA-Z0-9](?:[a-zA-Z0-9\\-]*[a-zA-Z0-9])?");
  return match(v, re);
}

bool is_node_name(std::string_view v) {
  static const std::regex re("[a-zA-Z0-9](?:[a-zA-Z0-9\\-]*[a-zA-Z0-9])?");
  return match(v, re);
}

bool is_email(std::string_view v) {
  static const std::regex re("[A-Za-z0-9_+\\-~]+(?:\\.[A-Za-z0-9_+\\-~]+)*@[a-zA-Z0-9\\-]+(?:\\.[a-zA-Z0-9\\-]+)*");
  return match(v, re);
}

bool is_email_user(std::string_view v) {
  static const std::regex re("[A-Za-z0-9_+\\-~]+(?:\\.[A-Za-z0-9_+\\-~]+)*");
  return match(v, re);
}

// Storage, ACME plugin ids: letters first, at least two characters.
Result check_id(std::string_view v, const char* what) {
  static const std::regex re = icase("[a-z][a-z0-9\\-_.]*[a-z0-9]");
  if (v.size() < 2) return std::string(what) + " ID " + q(v) + " cannot be shorter than 2 characters";
  if (!match(v, re)) return std::string(what) + " ID " + q(v) + " contains illegal characters";
  return std::nullopt;
}

const char* const kUserRe = "[^\\s:/]+";
const char* const kRealmRe = "[A-Za-z][A-Za-z0-9.\\-_]+";

Result check_userid(std::string_view v) {
  static const std::regex re(std::string("(") + kUserRe + ")@(" + kRealmRe + ")");
  if (v.size() < 3) return "user name " + q(v) + " is too short";
  if (v.size() > 64) return "user name " + q(v) + " is too long (" + std::to_string(v.size()) + " > 64)";
  if (!match(v, re)) return "value " + q(v) + " does not look like a valid user name";
  return std::nullopt;
}

Result check_tokenid(std::string_view v) {
  static const std::regex re(std::string(kUserRe) + "@" + kRealmRe + "!" + kRealmRe);
  if (!match(v, re)) return "value " + q(v) + " does not look like a valid token ID";
  return std::nullopt;
}

Result check_volume_id(std::string_view v) {
  static const std::regex re = icase("[a-z][a-z0-9\\-_.]*[a-z0-9]:[\\s\\S]+");
  if (!match(v, re)) return "unable to parse volume ID " + q(v);
  return std::nullopt;
}

Result check_volume_id_or_absolute_path(std::string_view v) {
  if (!v.empty() && v.front() == '/') return std::nullopt;
  return check_volume_id(v);
}

Result check_startup_order(std::string_view v) {
  static const std::regex re("(?:order=)?\\d+|up=\\d+|down=\\d+");
  // PVE refuses a false value ("" or "0") before looking at the parts.
  if (v.empty() || v == "0") return "unable to parse startup options";
  std::size_t pos = 0;
  while (pos <= v.size()) {
    std::size_t comma = v.find(',', pos);
    std::string_view part = v.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    bool blank = std::all_of(part.begin(), part.end(), ::isspace);
    if (!blank) {
      if (!match(part, re)) return "unable to parse startup options";
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return std::nullopt;
}

Result check_vlan_id_or_range(std::string_view v) {
  static const std::regex re("(\\d+)(?:-(\\d+))?");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(v.begin(), v.end(), m, re) || m[1].length() > 9 || m[2].length() > 9) {
    return "invalid VLAN configuration " + q(v);
  }
  long start = std::stol(m[1].str());
  if (start < 2 || start > 4094) return "invalid VLAN tag '" + std::to_string(start) + "'";
  if (m[2].matched) {
    long end = std::stol(m[2].str());
    if (end == 0) return std::nullopt;  // "5-0": PVE ignores a false end value
    if (end < 2 || end > 4094) return "invalid VLAN tag '" + std::to_string(end) + "'";
    if (start >= end) return "VLAN range must go from lower to higher tag " + q(v);
  }
  return std::nullopt;
}

// One entry of a storage-pair / bridge-pair list: "1", "source:target" or a single default id.
Result check_id_pair(std::string_view v, Checker id_check) {
  if (v == "1") return std::nullopt;
  auto colon = v.find(':');
  if (colon != std::string_view::npos) {
    std::string_view a = v.substr(0, colon), b = v.substr(colon + 1);
    if (a.empty() || b.empty() || b.find(':') != std::string_view::npos) {
      if (auto e = id_check(v)) return "entry " + q(v) + " contains invalid ID - " + *e;
      return std::nullopt;
    }
    if (auto e = id_check(a)) return "entry " + q(v) + " contains invalid ID - " + *e;
    if (auto e = id_check(b)) return "entry " + q(v) + " contains invalid ID - " + *e;
    return std::nullopt;
  }
  if (auto e = id_check(v)) return "entry " + q(v) + " contains invalid ID - " + *e;
  return std::nullopt;
}

Result check_storage_id(std::string_view v) { return check_id(v, "storage"); }

Result check_bridge_id(std::string_view v) {
  static const std::regex re("[\\-_.A-Za-z0-9]+");
  if (!match(v, re)) return "invalid bridge ID " + q(v);
  return std::nullopt;
}

Result check_ipv4mask(std::string_view v) {
  if (!is_ipv4(v)) return "value does not look like a valid IP netmask";
  in_addr a{};
  inet_pton(AF_INET, std::string(v).c_str(), &a);
  std::uint32_t m = ntohl(a.s_addr);
  // A netmask is a run of ones followed by zeros: inverting and adding one gives a power of two.
  std::uint32_t inv = ~m;
  if ((inv & (inv + 1)) != 0) return "value does not look like a valid IP netmask";
  return std::nullopt;
}

// A loose check for formats whose exact PVE rules live in subsystems we check elsewhere: no
// control characters and not empty.
Result check_printable(std::string_view v) {
  if (v.empty()) return "value must not be empty";
  for (unsigned char c : v) {
    if (c < 0x20 || c == 0x7f) return "value contains control characters";
  }
  return std::nullopt;
}

Result check_sdn_id(std::string_view v) {
  static const std::regex re = icase("[a-z][a-z0-9_\\-]*");
  if (!match(v, re)) return "invalid SDN ID " + q(v);
  return std::nullopt;
}

const std::map<std::string, Checker, std::less<>>& registry() {
  static const std::map<std::string, Checker, std::less<>> table = {
      {"string", [](std::string_view) -> Result { return std::nullopt; }},
      {"urlencoded",
       [](std::string_view v) -> Result {
         static const std::regex re("[\\-%a-zA-Z0-9_.!~*'()]*");
         if (!match(v, re)) return "invalid urlencoded string: " + std::string(v);
         return std::nullopt;
       }},
      {"pve-configid",
       [](std::string_view v) -> Result {
         static const std::regex re = icase("[a-z][a-z0-9_\\-]+");
         if (!match(v, re)) return "invalid configuration ID " + q(v);
         return std::nullopt;
       }},
      {"pve-storage-id", check_storage_id},
      {"acme-plugin-id", [](std::string_view v) { return check_id(v, "ACME plugin"); }},
      {"pve-bridge-id", check_bridge_id},
      {"pve-vmid",
       [](std::string_view v) -> Result {
         static const std::regex re("[1-9][0-9]{2,8}");
         if (!match(v, re)) return "value does not look like a valid VM ID";
         return std::nullopt;
       }},
      {"pve-node",
       [](std::string_view v) -> Result {
         if (!is_node_name(v)) return "value does not look like a valid node name";
         return std::nullopt;
       }},
      {"mac-addr",
       [](std::string_view v) -> Result {
         // The I/G bit must be clear: multicast MACs break guests' networking.
         static const std::regex re = icase("[a-f0-9][02468ace](?::[a-f0-9]{2}){5}");
         if (!match(v, re)) return "value does not look like a valid unicast MAC address";
         return std::nullopt;
       }},
      {"mac-prefix",
       [](std::string_view v) -> Result {
         static const std::regex re = icase("[a-f0-9][02468ace](?::[a-f0-9]{2}){0,2}:?");
         if (!match(v, re)) return "value does not look like a valid unicast MAC address prefix";
         return std::nullopt;
       }},
      {"ipv4",
       [](std::string_view v) -> Result {
         if (!is_ipv4(v)) return "value does not look like a valid IPv4 address";
         return std::nullopt;
       }},
      {"ipv6",
       [](std::string_view v) -> Result {
         if (!is_ipv6(v)) return "value does not look like a valid IPv6 address";
         return std::nullopt;
       }},
      {"ip",
       [](std::string_view v) -> Result {
         if (!is_ip(v)) return "value does not look like a valid IP address";
         return std::nullopt;
       }},
      {"ipv4mask", check_ipv4mask},
      {"CIDRv4",
       [](std::string_view v) -> Result {
         if (!is_cidr(v, false)) return "value does not look like a valid IPv4 CIDR network";
         return std::nullopt;
       }},
      {"CIDRv6",
       [](std::string_view v) -> Result {
         if (!is_cidr(v, true)) return "value does not look like a valid IPv6 CIDR network";
         return std::nullopt;
       }},
      {"CIDR",
       [](std::string_view v) -> Result {
         if (!is_cidr(v, false) && !is_cidr(v, true)) return "value does not look like a valid CIDR network";
         return std::nullopt;
       }},
      {"IPorCIDR",
       [](std::string_view v) -> Result {
         if (!is_ip(v) && !is_cidr(v, false) && !is_cidr(v, true)) return "value does not look like a valid IP address or CIDR network";
         return std::nullopt;
       }},
      {"IPorCIDRorAlias",
       [](std::string_view v) -> Result {
         static const std::regex alias = icase("(?:(?:dc|guest)/)?[a-z][a-z0-9_\\-]+");
         if (!is_ip(v) && !is_cidr(v, false) && !is_cidr(v, true) && !match(v, alias)) {
           return "value does not look like a valid IP address, CIDR network or alias";
         }
         return std::nullopt;
       }},
      {"pve-ipv4-config",
       [](std::string_view v) -> Result {
         if (v != "dhcp" && v != "manual" && !is_cidr(v, false)) return "value does not look like a valid ipv4 network configuration";
         return std::nullopt;
       }},
      {"pve-ipv6-config",
       [](std::string_view v) -> Result {
         if (v != "auto" && v != "dhcp" && v != "manual" && !is_cidr(v, true)) {
           return "value does not look like a valid ipv6 network configuration";
         }
         return std::nullopt;
       }},
      {"lxc-ip-with-ll-iface",
       [](std::string_view v) -> Result {
         auto pct = v.find('%');
         if (!is_ip(v.substr(0, pct)) || (pct != std::string_view::npos && pct + 1 == v.size())) {
           return "value does not look like a valid IP address";
         }
         return std::nullopt;
       }},
      {"email",
       [](std::string_view v) -> Result {
         if (!is_email(v)) return "value does not look like a valid email address";
         return std::nullopt;
       }},
      {"email-or-username",
       [](std::string_view v) -> Result {
         if (!is_email(v) && !is_email_user(v)) return "value does not look like a valid email address or user name";
         return std::nullopt;
       }},
      {"dns-name",
       [](std::string_view v) -> Result {
         if (!is_dns_name(v)) return "value does not look like a valid DNS name";
         return std::nullopt;
       }},
      {"address",
       [](std::string_view v) -> Result {
         if (!is_ip(v) && !is_dns_name(v)) return "value does not look like a valid address: " + std::string(v);
         return std::nullopt;
       }},
      {"timezone",
       [](std::string_view v) -> Result {
         // PVE consults zone.tab; the zone name shape is enough here and keeps checks hermetic.
         static const std::regex re("UTC|[A-Za-z][A-Za-z0-9_+\\-]*(?:/[A-Za-z0-9_+\\-]+){1,2}");
         if (!match(v, re)) return "invalid time zone " + q(v);
         return std::nullopt;
       }},
      {"pve-ct-timezone",
       [](std::string_view v) -> Result {
         static const std::regex re("host|UTC|[A-Za-z][A-Za-z0-9_+\\-]*(?:/[A-Za-z0-9_+\\-]+){1,2}");
         if (!match(v, re)) return "invalid time zone " + q(v);
         return std::nullopt;
       }},
      {"pve-iface",
       [](std::string_view v) -> Result {
         static const std::regex re = icase("[a-z][a-z0-9_]{1,20}(?:[:.]\\d+)?");
         if (!match(v, re)) return "invalid network interface name " + q(v);
         return std::nullopt;
       }},
      {"pve-vlan-id-or-range", check_vlan_id_or_range},
      {"disk-size",
       [](std::string_view v) -> Result {
         if (!parse_disk_size(v)) return "value does not look like a valid disk size: " + std::string(v);
         return std::nullopt;
       }},
      {"pve-startup-order", check_startup_order},
      {"pve-tag",
       [](std::string_view v) -> Result {
         static const std::regex re = icase("[a-z0-9_][a-z0-9_\\-+.]*");
         if (!match(v, re)) return "invalid characters in tag";
         return std::nullopt;
       }},
      {"pve-tfa-secret",
       [](std::string_view v) -> Result {
         static const std::regex re("v2-0x[0-9a-fA-F]{16,128}|v2-[A-Z2-7=]{16,128}|[A-Z2-7=]{16}|[A-Fa-f0-9]{40}");
         if (!match(v, re)) return "unable to decode TFA secret";
         return std::nullopt;
       }},
      {"pve-task-status-type",
       [](std::string_view v) -> Result {
         static const std::regex re = icase("ok|error|warning|unknown");
         if (!match(v, re)) return "invalid status " + q(v);
         return std::nullopt;
       }},
      {"ldap-simple-attr",
       [](std::string_view v) -> Result {
         static const std::regex re("[a-zA-Z0-9]+");
         if (!match(v, re)) return "value " + q(v) + " does not look like a simple ldap attribute name";
         return std::nullopt;
       }},
      // Access control.
      {"pve-userid", check_userid},
      {"pve-tokenid", check_tokenid},
      {"pve-realm",
       [](std::string_view v) -> Result {
         static const std::regex re(kRealmRe);
         if (!match(v, re)) return "value does not look like a valid realm";
         return std::nullopt;
       }},
      {"pve-groupid",
       [](std::string_view v) -> Result {
         static const std::regex re("[A-Za-z0-9.\\-_]+");
         if (!match(v, re)) return "group name " + q(v) + " contains invalid characters";
         return std::nullopt;
       }},
      {"pve-roleid",
       [](std::string_view v) -> Result {
         static const std::regex re("[A-Za-z0-9.\\-_]+");
         if (!match(v, re)) return "role name " + q(v) + " contains invalid characters";
         return std::nullopt;
       }},
      {"pve-poolid",
       [](std::string_view v) -> Result {
         static const std::regex re("[A-Za-z0-9.\\-_]+(?:/[A-Za-z0-9.\\-_]+){0,2}");
         std::string_view trimmed = v;
         while (!trimmed.empty() && trimmed.back() == '/') trimmed.remove_suffix(1);
         if (std::count(trimmed.begin(), trimmed.end(), '/') >= 3) {
           return "pool name " + q(v) + " nested too deeply (max levels = 3)";
         }
         if (!match(v, re)) return "pool name " + q(v) + " contains invalid characters";
         return std::nullopt;
       }},
      {"pve-priv",
       [](std::string_view v) -> Result {
         // The privilege list belongs to auth/; here only the "Area.Name[.Sub]" shape is checked.
         static const std::regex re("[A-Z][A-Za-z0-9]*(?:\\.[A-Za-z][A-Za-z0-9]*)+");
         if (!match(v, re)) return "invalid privilege " + q(v);
         return std::nullopt;
       }},
      // Storage.
      {"pve-volume-id", check_volume_id},
      {"pve-volume-id-or-absolute-path", check_volume_id_or_absolute_path},
      {"pve-volume-id-or-qm-path",
       [](std::string_view v) -> Result {
         if (v == "none" || v == "cdrom") return std::nullopt;
         return check_volume_id_or_absolute_path(v);
       }},
      {"pve-storage-path",
       [](std::string_view v) -> Result {
         static const std::regex re("/[^;()]+[\\s\\S]*");
         if (!match(v, re)) return "value does not look like a valid absolute path";
         return std::nullopt;
       }},
      {"pve-storage-server",
       [](std::string_view v) -> Result {
         if (!is_ip(v) && !is_dns_name(v)) return "value does not look like a valid server name or IP address";
         return std::nullopt;
       }},
      {"pve-storage-portal-dns",
       [](std::string_view v) -> Result {
         static const std::regex bracketed("\\[([^\\]]+)\\](?::\\d+)?");
         std::string_view host = v;
         std::match_results<std::string_view::const_iterator> m;
         if (std::regex_match(v.begin(), v.end(), m, bracketed)) {
           if (is_ipv6(std::string_view(&*m[1].first, m[1].length()))) return std::nullopt;
         } else {
           auto colon = v.rfind(':');
           if (colon != std::string_view::npos && v.find(':') == colon) host = v.substr(0, colon);
           if (is_ip(v) || is_ip(host) || is_dns_name(host)) return std::nullopt;
         }
         return "value does not look like a valid portal address";
       }},
      {"pve-storage-vgname",
       [](std::string_view v) -> Result {
         static const std::regex re("[a-zA-Z0-9.+_][a-zA-Z0-9.+_\\-]+");
         if (!match(v, re)) return "value does not look like a valid volume group name";
         return std::nullopt;
       }},
      {"pve-storage-options",
       [](std::string_view v) -> Result {
         // Mount options go to mount(8) as one argument: no blanks, no control characters.
         for (unsigned char c : v) {
           if (c <= 0x20 || c == 0x7f) return "invalid options " + q(v);
         }
         if (v.empty()) return "invalid options " + q(v);
         return std::nullopt;
       }},
      {"pve-storage-content",
       [](std::string_view v) -> Result {
         static const std::regex re("images|rootdir|vztmpl|iso|backup|snippets|import|none");
         if (!match(v, re)) return "invalid content type " + q(v);
         return std::nullopt;
       }},
      {"pve-dir-override",
       [](std::string_view v) -> Result {
         static const std::regex re("[a-z]+=[^.]*(?:\\.?[^.]+)+");
         if (!match(v, re)) return "invalid directory override " + q(v);
         return std::nullopt;
       }},
      {"storage-pair", [](std::string_view v) { return check_id_pair(v, check_storage_id); }},
      {"bridge-pair", [](std::string_view v) { return check_id_pair(v, check_bridge_id); }},
      // Guests.
      {"pve-lxc-mp-string",
       [](std::string_view v) -> Result {
         // No "/./", "/../", trailing "/." or "/..", or leading "../": the path must not escape.
         static const std::regex bad("[\\s\\S]*/\\.\\.?/[\\s\\S]*|[\\s\\S]*/\\.\\.?|\\.\\./[\\s\\S]*");
         if (match(v, bad)) return std::string(v) + " contains illegal character sequences";
         return std::nullopt;
       }},
      {"pve-lxc-dev-string", check_printable},
      {"pve-cpuset",
       [](std::string_view v) -> Result {
         static const std::regex re("\\s*\\d+(?:-\\d+)?\\s*(?:,\\s*\\d+(?:-\\d+)?\\s*)*");
         if (!match(v, re)) return "unable to parse cpuset option";
         return std::nullopt;
       }},
      {"pve-hotplug-features",
       [](std::string_view v) -> Result {
         static const std::regex re("0|1|(?:(?:disk|network|usb|memory|cpu|cloudinit)(?:,(?!$)|$))+");
         if (!match(v, re)) return "invalid hotplug feature " + q(v);
         return std::nullopt;
       }},
      {"pve-replication-job-id",
       [](std::string_view v) -> Result {
         static const std::regex re("[1-9][0-9]{2,8}-\\d{1,9}");
         if (!match(v, re)) return "replication job ID " + q(v) + " invalid";
         return std::nullopt;
       }},
      {"pve-ha-resource-id",
       [](std::string_view v) -> Result {
         static const std::regex re("(?:vm|ct):[1-9][0-9]{2,8}");
         if (!match(v, re)) return "unable to parse service id " + q(v);
         return std::nullopt;
       }},
      {"pve-ha-resource-or-vm-id",
       [](std::string_view v) -> Result {
         static const std::regex re("(?:(?:vm|ct):)?[1-9][0-9]{2,8}");
         if (!match(v, re)) return "unable to parse service id " + q(v);
         return std::nullopt;
       }},
      {"pve-ha-node",
       [](std::string_view v) -> Result {
         auto colon = v.find(':');
         std::string_view name = v.substr(0, colon);
         static const std::regex prio("\\d+");
         if (!is_node_name(name) || (colon != std::string_view::npos && !match(v.substr(colon + 1), prio))) {
           return "value does not look like a valid node name";
         }
         return std::nullopt;
       }},
      {"pve-day-of-week",
       [](std::string_view v) -> Result {
         static const std::regex re("mon|tue|wed|thu|fri|sat|sun");
         if (!match(v, re)) return "invalid day of week " + q(v);
         return std::nullopt;
       }},
      {"pve-acme-domain",
       [](std::string_view v) -> Result {
         if (v.substr(0, 2) == "*." ? !is_dns_name(v.substr(2)) : !is_dns_name(v)) return "value " + q(v) + " does not look like a valid domain name";
         return std::nullopt;
       }},
      {"pve-acme-alias",
       [](std::string_view v) -> Result {
         // DNS challenge aliases usually start with "_acme-challenge", so labels may hold '_'.
         static const std::regex re("(?:[a-zA-Z0-9_](?:[a-zA-Z0-9_\\-]*[a-zA-Z0-9])?\\.)*[a-zA-Z0-9_](?:[a-zA-Z0-9_\\-]*[a-zA-Z0-9])?");
         if (!match(v, re)) return "value " + q(v) + " does not look like a valid alias name";
         return std::nullopt;
       }},
      {"graphite-path",
       [](std::string_view v) -> Result {
         static const std::regex re("[a-zA-Z0-9_.\\-]+");
         if (!match(v, re)) return "value does not look like a valid graphite path";
         return std::nullopt;
       }},
      {"pem-string",
       [](std::string_view v) -> Result {
         if (v.find("-----BEGIN ") == std::string_view::npos) return "value does not look like a PEM encoded string";
         return std::nullopt;
       }},
      {"pem-certificate",
       [](std::string_view v) -> Result {
         if (v.find("-----BEGIN CERTIFICATE-----") == std::string_view::npos) return "value does not look like a PEM certificate";
         return std::nullopt;
       }},
      {"pem-certificate-chain",
       [](std::string_view v) -> Result {
         if (v.find("-----BEGIN CERTIFICATE-----") == std::string_view::npos) return "value does not look like a PEM certificate chain";
         return std::nullopt;
       }},
      // Exact rules for these live with the subsystems that use them (calendar, firewall, SDN);
      // at the API edge a value only has to be printable.
      {"pve-calendar-event", check_printable},
      {"pve-command-batch", check_printable},
      {"pve-fw-addr-spec", check_printable},
      {"pve-fw-dport-spec", check_printable},
      {"pve-fw-sport-spec", check_printable},
      {"pve-fw-icmp-type-spec", check_printable},
      {"pve-fw-protocol-spec", check_printable},
      {"pve-fw-conntrack-helper", check_printable},
      {"pve-sdn-bgp-rt", check_printable},
      {"pve-sdn-dhcp-range", check_printable},
      {"pve-sdn-isis-net", check_printable},
      {"pve-sdn-controller-id", check_sdn_id},
      {"pve-sdn-dns-id", check_sdn_id},
      {"pve-sdn-fabric-id", check_sdn_id},
      {"pve-sdn-ipam-id", check_sdn_id},
      {"pve-sdn-subnet-id", check_printable},
      {"pve-sdn-vnet-id", check_sdn_id},
      {"pve-sdn-zone-id", check_sdn_id},
  };
  return table;
}

// Splits "name-list" / "name-opt" into the base name and the suffix kind.
std::pair<std::string_view, std::string_view> split_suffix(std::string_view format) {
  for (std::string_view suffix : {std::string_view("-list"), std::string_view("-opt")}) {
    if (format.size() > suffix.size() && format.substr(format.size() - suffix.size()) == suffix) {
      std::string_view base = format.substr(0, format.size() - suffix.size());
      if (registry().count(base) != 0) return {base, suffix};
    }
  }
  return {format, {}};
}

}  // namespace

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  if (text.find('\0') != std::string_view::npos) {
    std::size_t pos = 0;
    while (true) {
      std::size_t z = text.find('\0', pos);
      out.emplace_back(text.substr(pos, z == std::string_view::npos ? std::string_view::npos : z - pos));
      if (z == std::string_view::npos) break;
      pos = z + 1;
    }
    while (!out.empty() && out.back().empty()) out.pop_back();  // trailing empties vanish, as in Perl's split
    return out;
  }
  std::string cur;
  for (char c : text) {
    if (c == ',' || c == ';' || std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

bool format_known(std::string_view format) {
  auto [base, suffix] = split_suffix(format);
  return registry().count(base) != 0;
}

std::vector<std::string> known_formats() {
  std::vector<std::string> out;
  for (const auto& [name, fn] : registry()) out.push_back(name);
  return out;
}

std::optional<std::string> check_format(std::string_view format, std::string_view value) {
  auto [base, suffix] = split_suffix(format);
  auto it = registry().find(base);
  if (it == registry().end()) throw std::logic_error("undefined format '" + std::string(format) + "'");
  // Format checks use std::regex, whose stack use grows with the input; no single formatted
  // value is this long, so longer ones are refused before any check runs.
  constexpr std::size_t kMaxValue = 4096;
  auto check_one = [&](std::string_view v) -> std::optional<std::string> {
    if (v.size() > kMaxValue) return "value is too long (at most " + std::to_string(kMaxValue) + " characters)";
    return it->second(v);
  };
  if (suffix == "-list") {
    // Empty lists are allowed, as in PVE.
    for (const auto& item : split_list(value)) {
      if (auto err = check_one(item)) return err;
    }
    return std::nullopt;
  }
  if (suffix == "-opt" && value.empty()) return std::nullopt;
  return check_one(value);
}

std::optional<std::uint64_t> parse_disk_size(std::string_view text) {
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    return text.substr(start, i - start);
  };
  std::string_view whole = digits();
  if (whole.empty()) return std::nullopt;
  std::string_view frac;
  if (i < text.size() && text[i] == '.') {
    ++i;
    frac = digits();
    if (frac.empty()) return std::nullopt;
  }
  std::string_view unit = text.substr(i);
  std::uint64_t mult = 1;
  if (!unit.empty()) {
    static const std::pair<const char*, int> kUnits[] = {{"K", 1}, {"M", 2}, {"G", 3}, {"T", 4}};
    bool found = false;
    for (auto [u, power] : kUnits) {
      if (unit == u || unit == std::string(u) + "iB") {
        mult = std::uint64_t{1} << (10 * power);
        found = true;
      }
    }
    if (!found) return std::nullopt;
  }
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t n = 0;
  for (char c : whole) {
    std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (n > (kMax - d) / 10) return std::nullopt;
    n = n * 10 + d;
  }
  if (n > kMax / mult) return std::nullopt;
  std::uint64_t bytes = n * mult;
  if (!frac.empty()) {
    // The fractional part times the unit, truncated like PVE's int().
    long double f = std::stold("0." + std::string(frac));
    bytes += static_cast<std::uint64_t>(f * static_cast<long double>(mult));
  }
  return bytes;
}

std::string format_disk_size(std::uint64_t bytes) {
  static const char kUnits[] = {'K', 'M', 'G', 'T'};
  std::uint64_t v = bytes;
  int unit = -1;
  while (unit < 3 && v != 0 && v % 1024 == 0) {
    v /= 1024;
    ++unit;
  }
  if (bytes == 0) return "0T";  // zero is exact in every unit; PVE ends at the largest
  return unit < 0 ? std::to_string(v) : std::to_string(v) + kUnits[unit];
}

}  // namespace pvx::schema
