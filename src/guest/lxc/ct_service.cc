// CtService: construction and start-up (host facts, re-watching running containers), the
// listing cache and runtime queries.
#include "guest/lxc/ct_service.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "base/error.h"
#include "base/log.h"
#include "base/proc_stat.h"
#include "cluster/config_store.h"
#include "guest/lxc/ct_service_impl.h"
#include "guest/lxc/ct_volumes.h"
#include "guest/lxc/lxc_runtime.h"
#include "guest/qemu/exit_watcher.h"

namespace pvx::guest::lxc {

namespace fs = std::filesystem;

namespace {

int host_cpu_count() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

LxcHostFacts detect_host() {
  LxcHostFacts h;
  h.cgroup_version = fs::exists("/sys/fs/cgroup/cgroup.controllers") ? 2 : 1;
  h.swap_accounting = h.cgroup_version == 2 || fs::exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
  std::ifstream aa("/sys/module/apparmor/parameters/enabled");
  std::string v;
  h.apparmor = aa && std::getline(aa, v) && v == "Y";
  h.host_cpus = host_cpu_count();
  return h;
}

}  // namespace

CtService::CtService(cluster::ConfigStore& store, storage::StorageService& storage, CtServiceOptions options)
    : store_(store),
      storage_(storage),
      options_(std::move(options)),
      configs_(store, options_.node, "lxc", "/var/lock/lxc/pve-config-{}.lock"),
      cache_(std::make_unique<Cache>()),
      exit_state_(std::make_shared<ExitState>()) {
  exit_state_->service = this;
  host_ = options_.host ? *options_.host : LxcHostFacts{};
}

// Containers outlive pvxd: nothing here stops one.
CtService::~CtService() {
  std::lock_guard lock(exit_state_->mutex);
  exit_state_->service = nullptr;
}

void CtService::start_up() {
  if (!options_.host) host_ = detect_host();
  fs::create_directories(lxcpath());
  for (auto vmid : configs_.list_vmids()) {
    auto rt = runtime(vmid);
    if (rt.running) {
      watch_exit(vmid, rt.pid);
      log::info("CT " + std::to_string(vmid) + " is running (init " + std::to_string(rt.pid) + ")");
    } else if (fs::exists(ct_dir(vmid) / "init.pid")) {
      cleanup_after_exit(vmid);
    }
  }
}

CtFigures CtService::figures(std::int64_t vmid, const ConfigSection& conf) const {
  CtFigures f;
  f.maxmem = ct_memory_mib(conf) * 1024 * 1024;
  f.maxswap = ct_swap_mib(conf) * 1024 * 1024;
  f.name = ct_hostname(conf, vmid);
  f.cpus = host_.host_cpus;
  try {
    if (auto c = conf.get("cores")) f.cpus = std::stoll(*c);
    auto mps = mount_points(conf);
    if (!mps.empty() && mps[0].size) f.maxdisk = *mps[0].size;
  } catch (const std::exception&) {
    // A broken value in the file: the listing shows what it can.
  }
  return f;
}

std::map<std::int64_t, std::shared_ptr<const CtLoaded>> CtService::all_configs() {
  const auto revision = store_.revision();
  std::map<std::int64_t, std::shared_ptr<const CtLoaded>> previous;
  {
    std::lock_guard lock(cache_->mutex);
    if (cache_->scanned && cache_->revision == revision) return cache_->configs;
    previous = cache_->configs;
  }
  std::map<std::int64_t, std::shared_ptr<const CtLoaded>> next;
  for (auto vmid : configs_.list_vmids()) {
    auto entry = store_.read(configs_.path(vmid));
    if (!entry) continue;
    auto it = previous.find(vmid);
    if (it != previous.end() && it->second->version == entry->version) {
      next[vmid] = it->second;
      continue;
    }
    auto c = std::make_shared<CtLoaded>();
    c->config = parse_guest_config(entry->data, vmid);
    c->digest = entry->digest();
    c->version = entry->version;
    c->figures = figures(vmid, c->config.main);
    next[vmid] = std::move(c);
  }
  std::lock_guard lock(cache_->mutex);
  cache_->configs = next;
  cache_->revision = revision;
  cache_->scanned = true;
  return next;
}

namespace {

// "<pid> <starttime>" of the init process pvxd started; running when that process still lives.
CtRuntime read_runtime(const fs::path& pid_file) {
  CtRuntime rt;
  std::ifstream in(pid_file);
  long long pid = 0;
  unsigned long long starttime = 0;
  if (!(in >> pid >> starttime) || pid <= 0) return rt;
  auto st = read_proc_stat(static_cast<pid_t>(pid));
  if (!st || st->gone() || st->starttime != starttime) return rt;
  rt.running = true;
  rt.pid = static_cast<pid_t>(pid);
  rt.start_time = start_time_unix(starttime);
  return rt;
}

}  // namespace

CtRuntime CtService::runtime(std::int64_t vmid) { return read_runtime(ct_dir(vmid) / "init.pid"); }

std::map<std::int64_t, CtRuntime> CtService::runtimes() {
  std::map<std::int64_t, CtRuntime> out;
  DIR* dir = ::opendir(lxcpath().c_str());
  if (dir == nullptr) return out;
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos || name.size() > 9) continue;
    auto rt = read_runtime(lxcpath() / name / "init.pid");
    if (rt.running) out[std::stoll(name)] = rt;
  }
  ::closedir(dir);
  return out;
}

std::string CtService::lxc_state(std::int64_t vmid) {
  if (!runtime(vmid).running) return "STOPPED";
  LxcHandle h(lxcpath(), std::to_string(vmid));
  return h.state();
}

void CtService::write_init_pid(std::int64_t vmid, pid_t pid) {
  auto st = read_proc_stat(pid);
  if (!st) throw Error("CT " + std::to_string(vmid) + ": init process " + std::to_string(pid) + " vanished", 500);
  // init's parent is liblxc's monitor; its start time tells a reused pid from it.
  auto monitor = read_proc_stat(st->ppid);
  std::ofstream(ct_dir(vmid) / "init.pid") << pid << " " << st->starttime << " " << st->ppid << " "
                                           << (monitor ? monitor->starttime : 0) << "\n";
}

void CtService::wait_monitor_exit(std::int64_t vmid, std::chrono::milliseconds timeout) {
  std::ifstream in(ct_dir(vmid) / "init.pid");
  long long pid = 0, monitor = 0;
  unsigned long long starttime = 0, monitor_start = 0;
  if (!(in >> pid >> starttime >> monitor >> monitor_start) || monitor <= 1) return;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto st = read_proc_stat(static_cast<pid_t>(monitor));
    if (!st || st->gone() || st->starttime != monitor_start) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  log::warn("CT " + std::to_string(vmid) + ": the monitor " + std::to_string(monitor) + " is still there");
}

void CtService::watch_exit(std::int64_t vmid, pid_t pid) {
  std::weak_ptr<ExitState> state = exit_state_;
  qemu::watch_process_exit(pid, -1, false, [state, vmid] {
    auto s = state.lock();
    if (!s) return;
    std::lock_guard lock(s->mutex);
    if (s->service != nullptr) s->service->on_init_exit(vmid);
  });
}

// init exited: a stop, a poweroff inside, or a reboot inside (liblxc then starts a new init in
// the same monitor). A container that is running again is watched anew, not cleaned up.
void CtService::on_init_exit(std::int64_t vmid) {
  {
    std::lock_guard lock(cache_->mutex);
    if (cache_->starting.count(vmid)) return;  // a start or stop in progress handles it
  }
  try {
    LxcHandle h(lxcpath(), std::to_string(vmid));
    for (int i = 0; i < 20; ++i) {
      std::string s = h.state();
      if (s == "STOPPED") break;
      if (s == "RUNNING") {
        pid_t pid = h.init_pid();
        if (pid > 0) {
          write_init_pid(vmid, pid);
          watch_exit(vmid, pid);
          return;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  } catch (const std::exception& e) {
    log::warn("CT " + std::to_string(vmid) + ": " + e.what());
  }
  wait_monitor_exit(vmid);
  cleanup_after_exit(vmid);
}

namespace {

// Removes a cgroup directory tree bottom-up. rmdir only succeeds for cgroups without
// processes, so a live container's cgroups are never touched.
void remove_cgroup_tree(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_directory(ec)) remove_cgroup_tree(e.path());
  }
  ::rmdir(dir.c_str());
}

// The cgroups a stopped container left: liblxc keeps them after an aborted start, and a new
// start then fails to create the monitor's ("Failed to create monitor cgroup").
void remove_stale_cgroups(std::int64_t vmid, int cgroup_version) {
  const std::string id = std::to_string(vmid);
  std::vector<fs::path> roots;
  if (cgroup_version == 2) {
    roots.push_back("/sys/fs/cgroup");
  } else {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      if (e.is_directory(ec) && !e.is_symlink(ec)) roots.push_back(e.path());
    }
  }
  for (const auto& root : roots) {
    remove_cgroup_tree(root / "lxc" / id);
    remove_cgroup_tree(root / "lxc.monitor" / id);
  }
}

}  // namespace

void CtService::cleanup_after_exit(std::int64_t vmid) {
  const fs::path dir = ct_dir(vmid);
  std::error_code ec;
  if (fs::is_directory(dir / "mnt", ec)) {
    for (const auto& e : fs::directory_iterator(dir / "mnt", ec)) {
      try {
        unmount_ct_volume(e.path());
      } catch (const std::exception& ex) {
        log::warn("CT " + std::to_string(vmid) + ": " + ex.what());
      }
    }
  }
  try {
    unmount_ct_volume(dir / "rootfs");
  } catch (const std::exception& ex) {
    log::warn("CT " + std::to_string(vmid) + ": " + ex.what());
  }
  fs::remove(dir / "init.pid", ec);
  remove_stale_cgroups(vmid, host_.cgroup_version);
}

}  // namespace pvx::guest::lxc

namespace pvx::guest::lxc {

namespace {

std::uint64_t read_u64(const fs::path& p) {
  std::ifstream in(p);
  std::uint64_t v = 0;
  in >> v;
  return v;
}

// "key value" lines (memory.stat, cpu.stat): the value of `key`.
std::uint64_t stat_value(const fs::path& p, const std::string& key) {
  std::ifstream in(p);
  std::string k;
  std::uint64_t v = 0;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return 0;
}

}  // namespace

CtService::Usage CtService::usage(std::int64_t vmid, const LoadedGuestConfig& loaded, const CtRuntime& rt) {
  Usage u;
  if (!rt.running) return u;
  const std::string id = std::to_string(vmid);
  const fs::path cg = "/sys/fs/cgroup";
  double cpu_seconds_total = 0;
  if (host_.cgroup_version == 2) {
    u.mem = read_u64(cg / "lxc" / id / "memory.current");
    u.swap = read_u64(cg / "lxc" / id / "memory.swap.current");
    cpu_seconds_total = static_cast<double>(stat_value(cg / "lxc" / id / "cpu.stat", "usage_usec")) / 1e6;
  } else {
    // Page cache is not the container's use (PVE subtracts it too).
    const std::uint64_t usage = read_u64(cg / "memory/lxc" / id / "memory.usage_in_bytes");
    const std::uint64_t cache = stat_value(cg / "memory/lxc" / id / "memory.stat", "total_cache");
    u.mem = usage > cache ? usage - cache : usage;
    const std::uint64_t memsw = read_u64(cg / "memory/lxc" / id / "memory.memsw.usage_in_bytes");
    u.swap = memsw > usage ? memsw - usage : 0;
    cpu_seconds_total = static_cast<double>(read_u64(cg / "cpuacct/lxc" / id / "cpuacct.usage")) / 1e9;
  }
  // CPU use is a rate: seconds of CPU per second since the previous sample of this container.
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(cache_->mutex);
    auto& prev = cache_->cpu_samples[vmid];
    if (prev.pid == rt.pid && prev.at.time_since_epoch().count() != 0) {
      double dt = std::chrono::duration<double>(now - prev.at).count();
      if (dt > 0.05) u.cpu_seconds = std::max(0.0, (cpu_seconds_total - prev.cpu) / dt);
      else u.cpu_seconds = prev.rate;
    }
    if (std::chrono::duration<double>(now - prev.at).count() > 0.05 || prev.pid != rt.pid) {
      prev = {rt.pid, now, cpu_seconds_total, u.cpu_seconds};
    }
  }
  // The host side of a veth counts the other way round.
  for (const auto& [key, value] : loaded.config.main.values) {
    if (!is_net_key(key)) continue;
    const fs::path stats = fs::path("/sys/class/net") / veth_name(vmid, std::stoi(key.substr(3))) / "statistics";
    u.netin += read_u64(stats / "tx_bytes");
    u.netout += read_u64(stats / "rx_bytes");
  }
  return u;
}

}  // namespace pvx::guest::lxc
