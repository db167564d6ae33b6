#include "guest/lxc/lxc_config.h"

#include <cmath>

#include "base/error.h"

namespace pvx::guest::lxc {

namespace {

class Writer {
 public:
  void set(const std::string& key, const std::string& value) { out_ += key + " = " + value + "\n"; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string relative_target(const std::string& path) {
  std::string t = path;
  while (!t.empty() && t[0] == '/') t.erase(0, 1);
  return t;
}

void render_cgroups(Writer& w, const LxcRenderInput& in) {
  const auto& conf = *in.conf;
  const std::int64_t mem = ct_memory_mib(conf) * 1024 * 1024;
  const std::int64_t swap = ct_swap_mib(conf) * 1024 * 1024;
  const std::string id = std::to_string(in.vmid);
  // PVE's layout: the container's processes in lxc/<vmid>/ns, the monitor beside it.
  w.set("lxc.cgroup.dir.container", "lxc/" + id);
  w.set("lxc.cgroup.dir.container.inner", "ns");
  w.set("lxc.cgroup.dir.monitor", "lxc.monitor/" + id);

  double cpulimit = 0;
  if (auto v = conf.get("cpulimit")) cpulimit = std::strtod(v->c_str(), nullptr);
  const std::string units = conf.get_or("cpuunits", "");
  int cores = 0;
  if (auto v = conf.get("cores")) cores = std::atoi(v->c_str());
  if (cores > in.host.host_cpus) cores = in.host.host_cpus;
  const std::string cpus = cores > 0 ? (cores == 1 ? "0" : "0-" + std::to_string(cores - 1)) : "";

  if (in.host.cgroup_version == 2) {
    w.set("lxc.cgroup2.memory.max", std::to_string(mem));
    w.set("lxc.cgroup2.memory.swap.max", std::to_string(swap));
    if (cpulimit > 0) w.set("lxc.cgroup2.cpu.max", std::to_string(std::llround(cpulimit * 100000)) + " 100000");
    if (!units.empty()) w.set("lxc.cgroup2.cpu.weight", units);
    if (!cpus.empty()) w.set("lxc.cgroup2.cpuset.cpus", cpus);
    return;
  }
  w.set("lxc.cgroup.memory.limit_in_bytes", std::to_string(mem));
  if (in.host.swap_accounting) w.set("lxc.cgroup.memory.memsw.limit_in_bytes", std::to_string(mem + swap));
  if (cpulimit > 0) {
    w.set("lxc.cgroup.cpu.cfs_period_us", "100000");
    w.set("lxc.cgroup.cpu.cfs_quota_us", std::to_string(std::llround(cpulimit * 100000)));
  }
  // cgroup v1 shares: PVE maps its v2-style default (100) to v1's 1024.
  w.set("lxc.cgroup.cpu.shares", units.empty() ? "1024" : units);
  if (!cpus.empty()) w.set("lxc.cgroup.cpuset.cpus", cpus);
}

void render_nets(Writer& w, const LxcRenderInput& in) {
  int n = 0;
  for (const auto& net : ct_nets(*in.conf)) {
    if (net.type != "veth") throw Error(net.key + ": unsupported network type '" + net.type + "'", 500);
    const std::string p = "lxc.net." + std::to_string(n++) + ".";
    w.set(p + "type", "veth");
    w.set(p + "veth.pair", veth_name(in.vmid, net.index));
    if (!net.hwaddr.empty()) w.set(p + "hwaddr", net.hwaddr);
    w.set(p + "name", net.name);
    if (!net.bridge.empty()) {
      w.set(p + "link", net.bridge);
      if (net.tag) w.set(p + "veth.vlan.id", std::to_string(*net.tag));
      if (!net.trunks.empty()) {
        std::string t = net.trunks;
        std::size_t start = 0;
        while (start <= t.size()) {
          auto end = t.find(';', start);
          std::string item = t.substr(start, end == std::string::npos ? std::string::npos : end - start);
          if (!item.empty()) w.set(p + "veth.vlan.tagged.id", item);
          if (end == std::string::npos) break;
          start = end + 1;
        }
      }
    }
    if (net.mtu) w.set(p + "mtu", std::to_string(*net.mtu));
    if (!net.link_down) w.set(p + "flags", "up");
  }
}

void render_mounts(Writer& w, const LxcRenderInput& in, const CtFeatures& features) {
  std::string automount = features.force_rw_sys ? "proc:mixed sys:rw" : "proc:mixed sys:mixed";
  automount += features.nesting ? " cgroup:rw:force" : " cgroup:mixed";
  w.set("lxc.mount.auto", automount);
  for (const auto& m : in.mounts) {
    std::string opts = m.is_file ? "bind,create=file" : "rbind,create=dir";
    if (m.mp.ro) opts += ",ro";
    for (const auto& o : {"nodev", "noexec", "nosuid", "noatime", "lazytime"}) {
      if (m.mp.mountoptions.find(o) != std::string::npos) opts += std::string(",") + o;
    }
    w.set("lxc.mount.entry", m.host_path + " " + relative_target(m.mp.path) + " none " + opts + " 0 0");
  }
  if (features.fuse) {
    w.set("lxc.cgroup" + std::string(in.host.cgroup_version == 2 ? "2" : "") + ".devices.allow", "c 10:229 rwm");
    w.set("lxc.mount.entry", "/dev/fuse dev/fuse none bind,create=file 0 0");
  }
}

}  // namespace

std::string render_lxc_config(const LxcRenderInput& in) {
  if (in.conf == nullptr) throw Error("render_lxc_config: no config", 500);
  const auto& conf = *in.conf;
  for (const auto& [key, value] : conf.values) {
    if (key.starts_with("dev") && key.size() > 3 && std::isdigit(static_cast<unsigned char>(key[3]))) {
      throw Error(key + ": device passthrough is not supported by this version", 500);
    }
  }
  const bool unprivileged = ct_unprivileged(conf);
  const CtFeatures features = parse_features(conf);
  Writer w;
  const std::string arch = conf.get_or("arch", "amd64");
  w.set("lxc.arch", arch == "amd64" ? "x86_64" : arch == "i386" ? "i686" : arch == "arm64" ? "aarch64" : arch);
  w.set("lxc.include", (in.host.share_dir / "common.conf").string());
  if (unprivileged) w.set("lxc.include", (in.host.share_dir / "userns.conf").string());
  if (features.nesting) w.set("lxc.include", (in.host.share_dir / "nesting.conf").string());
  if (in.host.apparmor) w.set("lxc.apparmor.profile", features.nesting ? "unconfined" : "generated");
  w.set("lxc.monitor.unshare", "1");
  w.set("lxc.tty.max", conf.get_or("tty", "2"));
  w.set("lxc.environment", "TERM=linux");
  w.set("lxc.uts.name", ct_hostname(conf, in.vmid));
  render_cgroups(w, in);
  w.set("lxc.rootfs.path", in.rootfs.string());
  if (conf.get("rootfs") && parse_mount_point("rootfs", *conf.get("rootfs")).ro) w.set("lxc.rootfs.options", "ro");
  if (unprivileged) {
    const std::string map = " 0 " + std::to_string(kUnprivilegedIdBase) + " " + std::to_string(kUnprivilegedIdCount);
    w.set("lxc.idmap", "u" + map);
    w.set("lxc.idmap", "g" + map);
  }
  render_nets(w, in);
  render_mounts(w, in, features);
  w.set("lxc.autodev", "1");
  if (!in.log_file.empty()) {
    w.set("lxc.log.file", in.log_file.string());
    w.set("lxc.log.level", "WARN");
  }
  // The user's raw lines last, so they override what came before.
  for (const auto& [key, value] : conf.raw_lxc) w.set(key, value);
  return w.take();
}

}  // namespace pvx::guest::lxc
