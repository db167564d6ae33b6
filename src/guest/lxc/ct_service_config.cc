// CtService::update_config: PUT /config as pve-container applies it. Stopped containers take
// every change at once; running ones take what liblxc can change live (cgroup limits and
// options that only pvx reads) and keep the rest in [PENDING] until the next start.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "base/error.h"
#include "base/log.h"
#include "guest/lxc/ct_schema.h"
#include "guest/lxc/ct_service.h"
#include "guest/lxc/ct_volumes.h"
#include "guest/lxc/lxc_runtime.h"
#include "guest/qemu/net.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::guest::lxc {

namespace {

// Changes a running container takes without a restart.
const std::set<std::string> kLive = {"memory", "swap", "cpulimit", "cpuunits", "description", "onboot",
                                     "protection", "tags", "startup", "lock", "template"};

bool is_live(const std::string& key) { return kLive.count(key) != 0 || key.starts_with("unused"); }

// The container's outer cgroup (lxc/<vmid>, where its limits live) for a controller's file.
std::filesystem::path cgroup_file(std::int64_t vmid, const LxcHostFacts& host, const std::string& key) {
  const std::string id = std::to_string(vmid);
  if (host.cgroup_version == 2) return "/sys/fs/cgroup/lxc/" + id + "/" + key;
  std::string controller = key.substr(0, key.find('.'));
  return "/sys/fs/cgroup/" + controller + "/lxc/" + id + "/" + key;
}

// Writes the cgroup limits of `conf` into the running container.
void apply_limits(std::int64_t vmid, const ConfigSection& conf, const LxcHostFacts& host) {
  const std::int64_t mem = ct_memory_mib(conf) * 1024 * 1024;
  const std::int64_t swap = ct_swap_mib(conf) * 1024 * 1024;
  double cpulimit = std::strtod(conf.get_or("cpulimit", "0").c_str(), nullptr);
  const std::string units = conf.get_or("cpuunits", "");
  auto set = [&](const std::string& k, const std::string& v) {
    const auto path = cgroup_file(vmid, host, k);
    std::ofstream out(path);
    out << v;
    out.flush();
    if (!out) throw Error("unable to set cgroup value '" + k + "' to '" + v + "'", 500);
  };
  if (host.cgroup_version == 2) {
    set("memory.max", std::to_string(mem));
    set("memory.swap.max", std::to_string(swap));
    set("cpu.max", cpulimit > 0 ? std::to_string(std::llround(cpulimit * 100000)) + " 100000" : "max 100000");
    if (!units.empty()) set("cpu.weight", units);
    return;
  }
  // memsw must stay >= memory: raise it first when growing, lower it last when shrinking.
  std::string cur;
  std::ifstream(cgroup_file(vmid, host, "memory.limit_in_bytes")) >> cur;
  const bool growing = cur.empty() || mem >= std::stoll(cur);
  if (host.swap_accounting && growing) set("memory.memsw.limit_in_bytes", std::to_string(mem + swap));
  set("memory.limit_in_bytes", std::to_string(mem));
  if (host.swap_accounting && !growing) set("memory.memsw.limit_in_bytes", std::to_string(mem + swap));
  set("cpu.cfs_quota_us", cpulimit > 0 ? std::to_string(std::llround(cpulimit * 100000)) : "-1");
  set("cpu.shares", units.empty() ? "1024" : units);
}

}  // namespace

void CtService::update_config(std::int64_t vmid, const std::map<std::string, std::string>& set_in,
                              const std::vector<std::string>& deletes, const std::vector<std::string>& revert,
                              const std::string& digest, tasks::TaskContext* task) {
  for (const auto& k : deletes) {
    if (set_in.count(k)) throw Error::param("delete", "you can't use '-" + k + "' and -delete " + k + "' at the same time");
  }
  for (const auto& k : revert) {
    if (std::find(deletes.begin(), deletes.end(), k) != deletes.end()) {
      throw Error::param("revert", "you can't use '-delete " + k + "' and -revert " + k + "' at the same time");
    }
  }
  std::map<std::string, std::string> set = set_in;
  for (auto& [k, v] : set) {
    if (k != "description") check_ct_value(k, v);
    if (k == "rootfs") throw Error::param(k, "changing the root filesystem is not possible through the config (use resize or move_volume)");
  }
  // Setting or removing the lock itself (root only, pct mount/unlock) is what a lock allows.
  const bool only_lock = std::all_of(set.begin(), set.end(), [](const auto& kv) { return kv.first == "lock"; }) &&
                         std::all_of(deletes.begin(), deletes.end(), [](const auto& k) { return k == "lock"; }) &&
                         revert.empty();
  auto current = configs_.load_or_throw(vmid);
  if (!only_lock) check_not_locked(current.config);
  const bool unprivileged = ct_unprivileged(current.config.main);
  const uid_t root_id = unprivileged ? kUnprivilegedIdBase : 0;

  // New mount point volumes are allocated before the lock; freed again if the write fails.
  std::vector<std::string> allocated;
  try {
    for (auto& [k, v] : set) {
      if (is_net_key(k)) {
        auto n = parse_ct_net(k, v);
        if (n.hwaddr.empty()) {
          auto old = current.config.main.get(k);
          n.hwaddr = old ? parse_ct_net(k, *old).hwaddr : "";
          if (n.hwaddr.empty()) n.hwaddr = qemu::generate_mac();
          v = print_ct_net(n);
        }
      }
      if (!is_mount_key(k)) continue;
      auto mp = parse_mount_point(k, v);
      if (!mp.is_new_volume()) continue;
      std::string volid = alloc_ct_volume(storage_, k, mp.new_volume_storage(), vmid, mp.new_volume_gib(), root_id, root_id);
      allocated.push_back(volid);
      if (task) task->log(k + ": allocated '" + volid + "'");
      const double gib = mp.new_volume_gib();
      mp.volume = volid;
      if (gib > 0) mp.size = static_cast<std::int64_t>(gib * 1024 * 1024 * 1024);
      v = print_mount_point(mp);
    }

    const bool running = runtime(vmid).running;
    std::vector<std::string> to_free;
    configs_.update(vmid, [&](GuestConfig& c) {
      if (!only_lock) check_not_locked(c);
      auto& main = c.main;
      for (const auto& k : revert) {
        c.pending.values.erase(k);
        c.pending_delete.erase(k);
      }
      for (const auto& k : deletes) {
        if (!main.has(k) && !c.pending.has(k)) continue;
        if (running && !is_live(k)) {
          c.pending_delete[k] = false;
          continue;
        }
        if (k.starts_with("unused")) {
          if (main.get_or("protection", "0") == "1") throw Error("can't remove unused disk - protection mode enabled", 500);
          to_free.push_back(main.get_or(k, ""));
        } else if (is_mount_key(k)) {
          auto mp = parse_mount_point(k, main.get_or(k, ""));
          if (mp.kind == MountKind::Volume) add_unused_volume(main, mp.volume);
        }
        main.values.erase(k);
        c.pending.values.erase(k);
      }
      for (const auto& [k, v] : set) {
        c.pending_delete.erase(k);
        if (running && !is_live(k)) {
          c.pending.values[k] = v;
          continue;
        }
        if (k == "description") {
          main.description = v;
          continue;
        }
        if (is_mount_key(k)) {
          if (auto old = main.get(k)) {
            auto mp = parse_mount_point(k, *old);
            if (mp.kind == MountKind::Volume && mp.volume != parse_mount_point(k, v).volume) add_unused_volume(main, mp.volume);
          }
        }
        main.values[k] = v;
        c.pending.values.erase(k);
      }
      return true;
    }, digest);
    allocated.clear();
    for (const auto& volid : to_free) {
      try {
        auto r = storage_.resolve(volid);
        r.plugin->free_image(r.def, r.volname);
      } catch (const std::exception& e) {
        if (task) task->warn("unable to free '" + volid + "': " + e.what());
      }
    }
    if (running) {
      auto after = configs_.load_or_throw(vmid);
      apply_limits(vmid, after.config.main, host_);
    }
  } catch (...) {
    for (const auto& volid : allocated) {
      try {
        auto r = storage_.resolve(volid);
        r.plugin->free_image(r.def, r.volname);
      } catch (const std::exception& e) {
        log::warn("unable to free '" + volid + "': " + e.what());
      }
    }
    throw;
  }
}

}  // namespace pvx::guest::lxc
