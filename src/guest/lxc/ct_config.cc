#include "guest/lxc/ct_config.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "base/error.h"
#include "base/strings.h"
#include "guest/lxc/ct_schema.h"
#include "schema/formats.h"
#include "schema/validate.h"

namespace pvx::guest::lxc {

namespace {

using schema::Json;

// "mp12" -> 12 when the key is `prefix` + an index below `count`.
std::optional<int> key_index(std::string_view key, std::string_view prefix, int count) {
  if (!key.starts_with(prefix) || key.size() == prefix.size()) return std::nullopt;
  std::string_view digits = key.substr(prefix.size());
  if (digits.size() > 3 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  int n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n < count ? std::optional<int>(n) : std::nullopt;
}

Json parse_with_format(std::string_view key, std::string_view value) {
  const schema::Schema* format = ct_key_format(key);
  if (format == nullptr) throw Error::param(std::string(key), "property is not defined in schema");
  return schema::parse_property_string(*format, value, std::string(key));
}

bool flag(const Json& j, const char* name, bool fallback = false) {
  if (!j.contains(name)) return fallback;
  const Json& v = j[name];
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) return v.get<std::int64_t>() != 0;
  return fallback;
}

// A path inside the container: absolute, and no "." or ".." component (PVE refuses those, and
// they could point a mount outside the root filesystem).
void check_container_path(const std::string& key, const std::string& path) {
  if (path.empty() || path[0] != '/') throw Error::param(key, "mount point path must be absolute: '" + path + "'");
  for (const auto& part : split_any(path, "/")) {
    if (part == "." || part == "..") throw Error::param(key, "mount point path '" + path + "' contains illegal character sequences");
  }
}

}  // namespace

bool MountPoint::is_new_volume() const {
  if (kind != MountKind::Volume) return false;
  auto colon = volume.find(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string rest = volume.substr(colon + 1);
  if (rest.empty()) return false;
  char* end = nullptr;
  std::strtod(rest.c_str(), &end);
  return end != nullptr && *end == '\0' && rest.find_first_not_of("0123456789.") == std::string::npos;
}

std::string MountPoint::new_volume_storage() const { return volume.substr(0, volume.find(':')); }

double MountPoint::new_volume_gib() const { return std::strtod(volume.c_str() + volume.find(':') + 1, nullptr); }

bool is_mount_key(std::string_view key) { return key == "rootfs" || key_index(key, "mp", 256).has_value(); }

MountPoint parse_mount_point(std::string_view key, std::string_view value) {
  if (!is_mount_key(key)) throw Error::param(std::string(key), "not a mount point key");
  const std::string k(key);
  MountPoint m;
  m.key = k;
  m.props = parse_with_format(key, value);
  m.volume = m.props.value("volume", "");
  if (m.volume.empty()) throw Error::param(k, "missing volume");
  if (k == "rootfs") {
    m.path = "/";
    m.backup = true;
  } else {
    m.path = m.props.value("mp", "");
    if (m.path.empty()) throw Error::param(k, "missing mount point path (mp=...)");
    check_container_path(k, m.path);
    if (m.path == "/") throw Error::param(k, "mount point path '/' is the root filesystem");
    m.backup = flag(m.props, "backup");
  }
  if (m.volume[0] == '/') {
    m.kind = m.volume.starts_with("/dev/") ? MountKind::Device : MountKind::Bind;
    for (const auto& part : split_any(m.volume, "/")) {
      if (part == "." || part == "..") throw Error::param(k, "mount point source '" + m.volume + "' contains illegal character sequences");
    }
  }
  if (m.props.contains("size")) {
    auto bytes = schema::parse_disk_size(m.props["size"].is_string() ? m.props["size"].get<std::string>()
                                                                     : m.props["size"].dump());
    if (!bytes) throw Error::param(k, "invalid size '" + m.props["size"].dump() + "'");
    m.size = static_cast<std::int64_t>(*bytes);
  }
  m.ro = flag(m.props, "ro");
  if (m.props.contains("acl")) m.acl = flag(m.props, "acl");
  m.quota = flag(m.props, "quota");
  m.replicate = flag(m.props, "replicate", true);
  m.shared = flag(m.props, "shared");
  m.mountoptions = m.props.value("mountoptions", "");
  check_mount_options(k, m.mountoptions);
  return m;
}

void check_mount_options(const std::string& key, const std::string& options) {
  static const std::set<std::string> kAllowed = {"noatime", "lazytime", "nodev", "noexec", "nosuid", "discard"};
  for (const auto& o : split_any(options, ";")) {
    if (!o.empty() && !kAllowed.count(o)) throw Error::param(key, "invalid mount option '" + o + "'");
  }
}

std::string print_mount_point(const MountPoint& mp) {
  Json v = mp.props;
  v["volume"] = mp.volume;
  if (mp.key != "rootfs") v["mp"] = mp.path;
  if (mp.size) {
    v["size"] = schema::format_disk_size(static_cast<std::uint64_t>(*mp.size));
  }
  return schema::print_property_string(*ct_key_format(mp.key), v);
}

std::vector<MountPoint> mount_points(const ConfigSection& conf) {
  std::vector<MountPoint> out;
  if (auto r = conf.get("rootfs")) out.push_back(parse_mount_point("rootfs", *r));
  std::vector<std::pair<int, MountPoint>> mps;
  for (const auto& [key, value] : conf.values) {
    if (auto i = key_index(key, "mp", 256)) mps.emplace_back(*i, parse_mount_point(key, value));
  }
  std::sort(mps.begin(), mps.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [i, m] : mps) out.push_back(std::move(m));
  return out;
}

bool is_net_key(std::string_view key) { return key_index(key, "net", 32).has_value(); }

CtNet parse_ct_net(std::string_view key, std::string_view value) {
  auto index = key_index(key, "net", 32);
  if (!index) throw Error::param(std::string(key), "not a network key");
  CtNet n;
  n.key = std::string(key);
  n.index = *index;
  n.props = parse_with_format(key, value);
  n.name = n.props.value("name", "");
  if (n.name.empty()) throw Error::param(n.key, "missing interface name (name=...)");
  n.bridge = n.props.value("bridge", "");
  n.hwaddr = n.props.value("hwaddr", "");
  std::transform(n.hwaddr.begin(), n.hwaddr.end(), n.hwaddr.begin(), [](unsigned char c) { return std::toupper(c); });
  n.ip = n.props.value("ip", "");
  n.gw = n.props.value("gw", "");
  n.ip6 = n.props.value("ip6", "");
  n.gw6 = n.props.value("gw6", "");
  if (n.props.contains("tag")) n.tag = n.props["tag"].get<int>();
  n.trunks = n.props.value("trunks", "");
  if (n.props.contains("rate")) n.rate = n.props["rate"].get<double>();
  if (n.props.contains("mtu")) n.mtu = n.props["mtu"].get<int>();
  n.firewall = flag(n.props, "firewall");
  n.link_down = flag(n.props, "link_down");
  n.type = n.props.value("type", "veth");
  return n;
}

std::string print_ct_net(const CtNet& net) {
  Json v = net.props;
  if (!net.hwaddr.empty()) v["hwaddr"] = net.hwaddr;
  return schema::print_property_string(*ct_key_format(net.key), v);
}

std::vector<CtNet> ct_nets(const ConfigSection& conf) {
  std::vector<CtNet> out;
  for (const auto& [key, value] : conf.values) {
    if (is_net_key(key)) out.push_back(parse_ct_net(key, value));
  }
  std::sort(out.begin(), out.end(), [](const CtNet& a, const CtNet& b) { return a.index < b.index; });
  return out;
}

std::string veth_name(std::int64_t vmid, int index) { return "veth" + std::to_string(vmid) + "i" + std::to_string(index); }

CtFeatures parse_features(const ConfigSection& conf) {
  CtFeatures f;
  auto value = conf.get("features");
  if (!value) return f;
  Json j = parse_with_format("features", *value);
  f.nesting = flag(j, "nesting");
  f.keyctl = flag(j, "keyctl");
  f.fuse = flag(j, "fuse");
  f.mknod = flag(j, "mknod");
  f.force_rw_sys = flag(j, "force_rw_sys");
  for (const auto& t : split_any(j.value("mount", ""), ";")) {
    if (!t.empty()) f.mount.push_back(t);
  }
  return f;
}

namespace {
std::int64_t int_or(const ConfigSection& conf, const char* key, std::int64_t fallback) {
  auto v = conf.get(key);
  if (!v) return fallback;
  try {
    return std::stoll(*v);
  } catch (const std::exception&) {
    return fallback;
  }
}
}  // namespace

std::int64_t ct_memory_mib(const ConfigSection& conf) { return int_or(conf, "memory", 512); }
std::int64_t ct_swap_mib(const ConfigSection& conf) { return int_or(conf, "swap", 512); }

std::string ct_hostname(const ConfigSection& conf, std::int64_t vmid) {
  auto h = conf.get_or("hostname", "");
  return h.empty() ? "CT" + std::to_string(vmid) : h;
}

bool ct_unprivileged(const ConfigSection& conf) { return conf.get_or("unprivileged", "0") == "1"; }

std::vector<std::string> ct_nameservers(const ConfigSection& conf) {
  std::vector<std::string> out;
  for (const auto& s : split_any(conf.get_or("nameserver", ""), " ,;")) {
    if (!s.empty()) out.push_back(s);
  }
  return out;
}

}  // namespace pvx::guest::lxc
