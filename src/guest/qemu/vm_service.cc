// VmService's configs (load, locked update, create/remove, `lock:` for long operations, the
// listing cache), start-up (KVM probe, re-adopting running QEMUs) and runtime queries.
#include "guest/qemu/vm_service.h"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>

#include "base/error.h"
#include "base/log.h"
#include "base/process.h"
#include "base/strings.h"
#include "cluster/config_store.h"
#include "guest/qemu/kvm_probe.h"
#include "guest/qemu/net.h"
#include "guest/qemu/vm_events.h"
#include "guest/qemu/vm_service_impl.h"
#include "storage/storage_service.h"

namespace pvx::guest::qemu {

cluster::LockGuardPtr lock_vm(cluster::ConfigStore& store, std::int64_t vmid, std::chrono::milliseconds timeout) {
  try {
    return store.lock("vm-" + std::to_string(vmid), timeout);
  } catch (const Error&) {
    throw Error("can't lock file '/var/lock/qemu-server/lock-" + std::to_string(vmid) + ".conf' - got timeout", 500);
  }
}

void write_if_unchanged(cluster::ConfigStore& store, const std::string& path, const std::string& text,
                        std::uint64_t version) {
  if (!store.write(path, text, version)) {
    throw Error("unable to write '" + path + "' - it was changed meanwhile, try again", 500);
  }
}

namespace {

// "7.2.0" from "QEMU emulator version 7.2.0 (Debian ...)".
std::string qemu_version_of(const std::string& binary) {
  try {
    auto r = run_command({binary, "--version"}, {.timeout = std::chrono::seconds(10)});
    const std::string key = "version ";
    auto at = r.out.find(key);
    if (at == std::string::npos) return {};
    auto start = at + key.size();
    auto end = r.out.find_first_not_of("0123456789.", start);
    return r.out.substr(start, end - start);
  } catch (const std::exception& e) {
    log::warn(std::string("cannot ask QEMU for its version: ") + e.what());
    return {};
  }
}

int host_cpu_count() {
  int n = 0;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("processor")) ++n;
  }
  return n > 0 ? n : 1;
}

std::string first_existing(std::initializer_list<const char*> paths, const std::string& fallback) {
  for (const char* p : paths) {
    if (std::filesystem::exists(p)) return p;
  }
  return fallback;
}

}  // namespace

VmService::VmService(cluster::ConfigStore& store, storage::StorageService& storage, network::NetworkService* network,
                     VmServiceOptions options)
    : store_(store),
      storage_(storage),
      network_(network),
      options_(std::move(options)),
      configs_(store, options_.node, "qemu-server", "/var/lock/qemu-server/lock-{}.conf"),
      impl_(std::make_unique<Impl>()),
      exit_state_(std::make_shared<ExitState>()) {
  exit_state_->service = this;
}

// Guests outlive pvxd: nothing here stops a QEMU.
VmService::~VmService() {
  std::lock_guard lock(exit_state_->mutex);
  exit_state_->service = nullptr;
}

void VmService::start_up() {
  std::filesystem::create_directories(paths(0).dir);
  std::filesystem::create_directories(options_.data_dir / "qemu-server");
  events_ = std::make_unique<VmEventListener>(options_.run_dir / "qmeventd.sock");
  events_->start();

  host_.qemu_binary = first_existing({"/usr/bin/qemu-system-x86_64"}, find_program("qemu-system-x86_64"));
  if (auto v = qemu_version_of(host_.qemu_binary); !v.empty()) host_.qemu_version = v;
  host_.host_cpus = host_cpu_count();
  host_.ovmf_code = first_existing({"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_CODE.fd"}, host_.ovmf_code);
  host_.ovmf_code_secboot = first_existing({"/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", "/usr/share/OVMF/OVMF_CODE.secboot.fd"},
                                           host_.ovmf_code_secboot);
  host_.ovmf_vars = first_existing({"/usr/share/OVMF/OVMF_VARS_4M.fd", "/usr/share/OVMF/OVMF_VARS.fd"}, host_.ovmf_vars);
  host_.ovmf_vars_ms = first_existing({"/usr/share/OVMF/OVMF_VARS_4M.ms.fd", "/usr/share/OVMF/OVMF_VARS.ms.fd"},
                                      host_.ovmf_vars_ms);

  if (options_.force_tcg) {
    host_.kvm = false;
    kvm_reason_ = "disabled by --no-kvm";
  } else {
    auto probe = probe_kvm(options_.kvm_probe_timeout);
    host_.kvm = probe.usable;
    kvm_reason_ = probe.reason;
  }
  if (!host_.kvm) log::warn("KVM not available (" + kvm_reason_ + "), VMs run with TCG (slow)");

  // Re-adopt: QEMUs started by an earlier pvxd keep running; dead ones leave taps and files.
  for (auto vmid : list_vmids()) {
    auto proc = find_vm_process(paths(vmid));
    if (proc) {
      log::info("VM " + std::to_string(vmid) + " is running (pid " + std::to_string(proc->pid) + "), adopted");
      watch_vm_exit(proc->pid, exit_callback(vmid));
      // Gone between the lookup and the watch: the watcher has nothing to report.
      if (!find_vm_process(paths(vmid))) cleanup_locked(vmid);
    } else {
      try {
        cleanup_locked(vmid);
      } catch (const std::exception& e) {
        log::warn("VM " + std::to_string(vmid) + ": cleanup failed: " + e.what());
      }
    }
  }
}

// ---- configs

std::string VmService::config_path(std::int64_t vmid) const { return qemu_config_path(options_.node, vmid); }

std::optional<LoadedConfig> VmService::load(std::int64_t vmid) {
  auto entry = store_.read(config_path(vmid));
  if (!entry) return std::nullopt;
  LoadedConfig out;
  out.config = parse_guest_config(entry->data, vmid);
  out.digest = entry->digest();
  out.version = entry->version;
  out.figures = vm_figures(out.config.main);
  return out;
}

LoadedConfig VmService::load_or_throw(std::int64_t vmid) {
  auto c = load(vmid);
  if (!c) throw Error("Configuration file '" + config_path(vmid) + "' does not exist", 500);
  return std::move(*c);
}

void VmService::write_config(std::int64_t vmid, const GuestConfig& config) {
  store_.write(config_path(vmid), print_guest_config(config));
}

void VmService::update(std::int64_t vmid, const std::function<bool(GuestConfig&)>& change, const std::string& digest) {
  configs_.update(vmid, change, digest);
}

void VmService::create_config(std::int64_t vmid, const GuestConfig& config) { configs_.create(vmid, config); }

void VmService::reserve_vmid(std::int64_t vmid) {
  GuestConfig c;
  c.main.values["lock"] = "create";
  create_config(vmid, c);
}

void VmService::remove_config(std::int64_t vmid) { configs_.remove(vmid); }

void VmService::with_config_lock(std::int64_t vmid, const std::string& lock, const std::function<void()>& fn,
                                 bool skiplock) {
  configs_.with_lock(vmid, lock, fn, skiplock);
}

std::vector<std::int64_t> VmService::list_vmids() { return configs_.list_vmids(); }

std::map<std::int64_t, std::shared_ptr<const LoadedConfig>> VmService::all_configs() {
  const auto revision = store_.revision();
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->scanned && impl_->scanned_revision == revision) return impl_->configs;
  }
  std::map<std::int64_t, std::shared_ptr<const LoadedConfig>> previous;
  {
    std::lock_guard lock(impl_->mutex);
    previous = impl_->configs;
  }
  std::map<std::int64_t, std::shared_ptr<const LoadedConfig>> next;
  for (auto vmid : list_vmids()) {
    auto entry = store_.read(config_path(vmid));
    if (!entry) continue;
    auto it = previous.find(vmid);
    if (it != previous.end() && it->second->version == entry->version) {
      next[vmid] = it->second;
      continue;
    }
    auto c = std::make_shared<LoadedConfig>();
    c->config = parse_guest_config(entry->data, vmid);
    c->digest = entry->digest();
    c->version = entry->version;
    c->figures = vm_figures(c->config.main);
    next[vmid] = std::move(c);
  }
  std::lock_guard lock(impl_->mutex);
  impl_->configs = next;
  impl_->scanned_revision = revision;
  impl_->scanned = true;
  return next;
}

// ---- runtime

VmRuntime VmService::runtime(std::int64_t vmid, bool with_qmp_status) {
  VmRuntime rt;
  auto proc = find_vm_process(paths(vmid));
  if (!proc) {
    rt.qmpstatus = "stopped";
    return rt;
  }
  rt.running = true;
  rt.pid = proc->pid;
  rt.start_time = proc->start_time;
  rt.qmpstatus = known_qmpstatus(vmid);
  if (with_qmp_status) {
    try {
      QmpClient q(paths(vmid).qmp(), vmid, std::chrono::seconds(2));
      auto st = q.execute("query-status");
      if (st.contains("status") && st["status"].is_string()) rt.qmpstatus = st["status"].get<std::string>();
    } catch (const std::exception& e) {
      log::debug("VM " + std::to_string(vmid) + ": query-status failed: " + e.what());
    }
  }
  return rt;
}

std::map<std::int64_t, VmRuntime> VmService::runtimes(const std::vector<std::int64_t>& vmids) {
  std::set<std::int64_t> with_pid_file;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(VmPaths(options_.run_dir, 0).dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".pid")) continue;
    if (auto id = to_int(name.substr(0, name.size() - 4))) with_pid_file.insert(*id);  // "<vmid>.pid" only
  }
  std::map<std::int64_t, VmRuntime> out;
  for (auto vmid : vmids) {
    if (with_pid_file.count(vmid)) {
      out[vmid] = runtime(vmid, false);
    } else {
      out[vmid].qmpstatus = "stopped";
    }
  }
  return out;
}

std::string VmService::known_qmpstatus(std::int64_t vmid) {
  std::lock_guard lock(impl_->mutex);
  return impl_->paused.count(vmid) ? "paused" : "running";
}

std::unique_ptr<QmpClient> VmService::qmp(std::int64_t vmid) {
  if (!find_vm_process(paths(vmid))) throw Error("VM " + std::to_string(vmid) + " not running", 500);
  return std::make_unique<QmpClient>(paths(vmid).qmp(), vmid);
}

namespace {

std::uint64_t read_counter(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::uint64_t v = 0;
  in >> v;
  return in ? v : 0;
}

}  // namespace

VmService::Usage VmService::usage(std::int64_t vmid, const VmRuntime& rt, bool blockstats) {
  Usage u;
  if (!rt.running) return u;
  u.uptime = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::time(nullptr)) - rt.start_time);
  if (auto st = process_stats(rt.pid)) {
    u.mem = st->rss_bytes;
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(impl_->mutex);
    auto& s = impl_->cpu_samples[vmid];
    bool keep = false;
    if (s.pid == rt.pid) {
      double wall = std::chrono::duration<double>(now - s.at).count();
      if (wall > 0) u.cpu = std::max(0.0, (st->cpu_seconds - s.cpu_seconds) / wall);
      // Samples closer than a second apart keep the older one, so the figure stays meaningful.
      keep = wall < 1.0;
    }
    if (!keep) s = {rt.pid, st->cpu_seconds, now};
  }
  // Tap counters are the host's view: what the tap transmits is what the guest receives.
  std::error_code ec;
  const std::string prefix = "tap" + std::to_string(vmid) + "i";
  for (const auto& dev : std::filesystem::directory_iterator("/sys/class/net", ec)) {
    auto name = dev.path().filename().string();
    if (!name.starts_with(prefix)) continue;
    u.netin += read_counter(dev.path() / "statistics" / "tx_bytes");
    u.netout += read_counter(dev.path() / "statistics" / "rx_bytes");
  }
  if (blockstats) {
    try {
      QmpClient q(paths(vmid).qmp(), vmid, std::chrono::seconds(2));
      auto stats = q.execute("query-blockstats");
      for (const auto& dev : stats) {
        if (!dev.contains("stats")) continue;
        u.diskread += dev["stats"].value("rd_bytes", std::uint64_t{0});
        u.diskwrite += dev["stats"].value("wr_bytes", std::uint64_t{0});
      }
    } catch (const std::exception& e) {
      log::debug("VM " + std::to_string(vmid) + ": query-blockstats failed: " + e.what());
    }
  }
  return u;
}

}  // namespace pvx::guest::qemu
