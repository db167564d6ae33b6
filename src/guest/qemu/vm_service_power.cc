// Stopping, shutting down, rebooting, resetting, suspending and resuming VMs, and the cleanup
// after a QEMU exited (whoever ended it: pvx, the guest or a crash).
#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <thread>

#include "base/error.h"
#include "base/log.h"
#include "guest/qemu/agent.h"
#include "guest/qemu/drive.h"
#include "guest/qemu/net.h"
#include "guest/qemu/swtpm.h"
#include "guest/qemu/vm_state.h"
#include "guest/qemu/vm_service.h"
#include "guest/qemu/vm_service_impl.h"
#include "network/netlink.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::guest::qemu {
namespace {

int running_pid_or_throw(const VmPaths& paths) {
  auto proc = find_vm_process(paths);
  if (!proc) throw Error("VM " + std::to_string(paths.vmid) + " not running", 500);
  return proc->pid;
}

// `agent: 1` or `agent: enabled=1,...`.
bool agent_enabled(const ConfigSection& conf) {
  auto v = conf.get_or("agent", "0");
  return v == "1" || v.starts_with("1,") || v.find("enabled=1") != std::string::npos;
}

}  // namespace

// ---- exit watching and cleanup

std::function<void()> VmService::exit_callback(std::int64_t vmid) {
  std::weak_ptr<ExitState> weak = exit_state_;
  return [weak, vmid] {
    auto state = weak.lock();
    if (!state) return;
    std::lock_guard lock(state->mutex);
    if (state->service) state->service->on_qemu_exit(vmid);
  };
}

void VmService::on_qemu_exit(std::int64_t vmid) {
  // An operation holding the VM (stop, shutdown, a failed start) cleans up itself, and a QEMU
  // started meanwhile keeps its taps. The wait is short: this runs in the one exit-watcher thread.
  try {
    auto guard = lock_vm(store_, vmid, std::chrono::seconds(2));
    if (find_vm_process(paths(vmid))) return;
    log::info("VM " + std::to_string(vmid) + ": QEMU exited");
    cleanup_locked(vmid);
  } catch (const std::exception& e) {
    log::debug("VM " + std::to_string(vmid) + ": cleanup after exit left to the next operation: " + e.what());
  }
}

void VmService::cleanup_after_exit(std::int64_t vmid) {
  auto guard = lock_vm(store_, vmid);
  if (find_vm_process(paths(vmid))) return;
  cleanup_locked(vmid);
}

void VmService::cleanup_locked(std::int64_t vmid) {
  const auto vm_paths = paths(vmid);
  // Taps named after the VM, whatever the config says now (a NIC may have been removed).
  const std::string prefix = "tap" + std::to_string(vmid) + "i";
  std::error_code ec;
  std::vector<std::string> taps;
  for (const auto& dev : std::filesystem::directory_iterator("/sys/class/net", ec)) {
    auto name = dev.path().filename().string();
    if (name.starts_with(prefix) && name.find_first_not_of("0123456789", prefix.size()) == std::string::npos) {
      taps.push_back(name);
    }
  }
  if (!taps.empty()) {
    network::Netlink nl;
    for (const auto& tap : taps) {
      try {
        nl.delete_link(tap);
      } catch (const std::exception& e) {
        log::warn("VM " + std::to_string(vmid) + ": cannot remove " + tap + ": " + e.what());
      }
    }
  }
  try {
    stop_swtpm(vm_paths);
  } catch (const std::exception& e) {
    log::warn("VM " + std::to_string(vmid) + ": cannot stop swtpm: " + e.what());
  }
  cleanup_vm_files(vm_paths);
  std::lock_guard lock(impl_->mutex);
  impl_->paused.erase(vmid);
  impl_->cpu_samples.erase(vmid);
}

// ---- stop and shutdown

void VmService::stop(std::int64_t vmid, tasks::TaskContext& task, const StopOptions& options) {
  auto guard = lock_vm(store_, vmid);
  auto loaded = load_or_throw(vmid);
  check_not_locked(loaded.config, options.skiplock);
  stop_locked(vmid, &task, options);
}

void VmService::stop_locked(std::int64_t vmid, tasks::TaskContext* task, const StopOptions& options) {
  const auto vm_paths = paths(vmid);
  if (auto proc = find_vm_process(vm_paths)) {
    if (task) task->log("stopping VM " + std::to_string(vmid) + " (pid " + std::to_string(proc->pid) + ")");
    kill_vm_process(vm_paths, options.timeout);
  }
  cleanup_locked(vmid);
}

void VmService::shutdown(std::int64_t vmid, tasks::TaskContext& task, const ShutdownOptions& options) {
  auto guard = lock_vm(store_, vmid);
  shutdown_locked(vmid, task, options);
}

void VmService::shutdown_locked(std::int64_t vmid, tasks::TaskContext& task, const ShutdownOptions& options) {
  const auto vm_paths = paths(vmid);
  auto loaded = load_or_throw(vmid);
  check_not_locked(loaded.config, options.skiplock);
  auto proc = find_vm_process(vm_paths);
  if (!proc) {
    cleanup_locked(vmid);
    return;
  }
  auto rt = runtime(vmid, true);
  if (rt.qmpstatus == "paused" && !options.force_stop) throw Error("VM is paused - cannot shutdown", 500);

  bool requested = false;
  if (rt.qmpstatus != "paused" && agent_enabled(loaded.config.main)) {
    try {
      AgentClient agent(vm_paths.qga(), vmid);
      agent.execute("guest-shutdown", schema::Json::object(), std::chrono::seconds(10));
      requested = true;
    } catch (const Error& e) {
      // The agent may quit before it answers; an agent that never answered the sync is not running.
      requested = std::string(e.what()).find("not running") == std::string::npos;
      if (!requested) task.log("guest agent not running, sending ACPI power button event");
    }
  }
  if (!requested && rt.qmpstatus != "paused") {
    QmpClient q(vm_paths.qmp(), vmid);
    q.execute("system_powerdown");
  }
  bool exited = false;
  if (rt.qmpstatus != "paused") {
    // In slices: an abort of the task (DELETE of the task, pvxd stopping) ends the wait early.
    const auto deadline = std::chrono::steady_clock::now() + options.timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      exited = wait_vm_exit(vm_paths, proc->pid, std::clamp(left, std::chrono::milliseconds(0),
                                                             std::chrono::milliseconds(1000)));
      if (exited || left <= std::chrono::milliseconds(1000)) break;
      task.check_abort();
    }
  }
  if (!exited) {
    if (!options.force_stop) throw Error("VM quit/powerdown failed - got timeout", 500);
    task.log("VM still running - terminating now with SIGTERM");
    kill_vm_process(vm_paths, std::chrono::seconds(10));
  }
  cleanup_locked(vmid);
}

void VmService::reboot(std::int64_t vmid, tasks::TaskContext& task) { reboot(vmid, task, {}); }

void VmService::reboot(std::int64_t vmid, tasks::TaskContext& task, const ShutdownOptions& options) {
  auto guard = lock_vm(store_, vmid);
  running_pid_or_throw(paths(vmid));
  shutdown_locked(vmid, task, options);
  start_locked(vmid, task, {.skiplock = options.skiplock});
}

void VmService::reset(std::int64_t vmid) { reset(vmid, false); }

void VmService::reset(std::int64_t vmid, bool skiplock) {
  auto guard = lock_vm(store_, vmid);
  check_not_locked(load_or_throw(vmid).config, skiplock);
  running_pid_or_throw(paths(vmid));
  QmpClient(paths(vmid).qmp(), vmid).execute("system_reset");
}

// ---- suspend and resume

void VmService::suspend(std::int64_t vmid, tasks::TaskContext& task, bool todisk, const std::string& statestorage) {
  suspend(vmid, task, todisk, statestorage, false);
}

void VmService::suspend(std::int64_t vmid, tasks::TaskContext& task, bool todisk, const std::string& statestorage,
                        bool skiplock) {
  auto guard = lock_vm(store_, vmid);
  const auto vm_paths = paths(vmid);
  auto loaded = load_or_throw(vmid);
  check_not_locked(loaded.config, skiplock);
  running_pid_or_throw(vm_paths);
  QmpClient q(vm_paths.qmp(), vmid);
  if (!todisk) {
    q.execute("stop");
    std::lock_guard lock(impl_->mutex);
    impl_->paused.insert(vmid);
    return;
  }
  save_state_and_quit(vmid, task, statestorage, loaded);
}

namespace {

std::int64_t memory_mib(const ConfigSection& conf) {
  auto v = conf.get_or("memory", "512");
  if (v.starts_with("current=")) v = v.substr(8);
  v = v.substr(0, v.find(','));
  try {
    return std::stoll(v);
  } catch (...) {
    return 512;
  }
}

// The storage of the first disk, for a vmstate without `vmstatestorage`.
std::string first_disk_storage(const ConfigSection& conf) {
  for (const auto& key : all_drive_keys()) {
    auto v = conf.get(key);
    if (!v) continue;
    auto d = try_parse_drive(key, *v);
    if (!d || d->is_cdrom() || d->is_cloudinit()) continue;
    auto colon = d->file.find(':');
    if (colon != std::string::npos && d->file.front() != '/') return d->file.substr(0, colon);
  }
  return "local";
}

}  // namespace

// Suspend to disk: the paused VM's state goes into a raw vmstate volume (vm_state.h), QEMU
// quits, and the next start (or resume) loads it back.
void VmService::save_state_and_quit(std::int64_t vmid, tasks::TaskContext& task, const std::string& statestorage,
                                    const LoadedConfig& loaded) {
  const auto vm_paths = paths(vmid);
  const auto& conf = loaded.config.main;
  std::string sid = !statestorage.empty() ? statestorage : conf.get_or("vmstatestorage", first_disk_storage(conf));
  auto def = storage_.get(sid);
  if (!def.content().count("images")) throw Error("storage '" + sid + "' does not support vm images", 500);
  storage_.activate(def);
  const auto& plugin = storage_.plugin(def);
  char date[32];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  std::strftime(date, sizeof date, "%Y-%m-%d-%H%M%S", &tm);
  const std::string name = "vm-" + std::to_string(vmid) + "-state-suspend-" + date + ".raw";
  const std::string volname = plugin.alloc_image(def, vmid, "raw", name, vm_state_size_kib(memory_mib(conf)));
  const std::string volid = def.id + ":" + volname;
  const std::string path = plugin.path(def, volname);
  task.log("suspending VM " + std::to_string(vmid) + " to '" + volid + "'");

  auto set_lock = [&](const std::string& lock, const std::string& vmstate) {
    auto c = load_or_throw(vmid);
    if (lock.empty()) {
      c.config.main.values.erase("lock");
    } else {
      c.config.main.values["lock"] = lock;
    }
    if (vmstate.empty()) {
      c.config.main.values.erase("vmstate");
    } else {
      c.config.main.values["vmstate"] = vmstate;
    }
    store_.write(config_path(vmid), print_guest_config(c.config));
  };
  set_lock("suspending", "");
  try {
    QmpClient(vm_paths.qmp(), vmid).execute("stop");
    save_vm_state(vm_paths.qmp(), vmid, path);
  } catch (...) {
    free_volumes({volid}, &task);
    try {
      set_lock("", "");
      QmpClient(vm_paths.qmp(), vmid).execute("cont");
    } catch (const std::exception& e) {
      task.log(std::string("cannot resume after the failed suspend: ") + e.what());
    }
    throw;
  }
  kill_vm_process(vm_paths, std::chrono::seconds(10));
  cleanup_locked(vmid);
  set_lock("suspended", volid);
}

void VmService::resume(std::int64_t vmid, tasks::TaskContext& task) { resume(vmid, task, false); }

void VmService::resume(std::int64_t vmid, tasks::TaskContext& task, bool skiplock) {
  auto guard = lock_vm(store_, vmid);
  const auto vm_paths = paths(vmid);
  auto loaded = load_or_throw(vmid);
  // A VM suspended to disk resumes by starting from its saved state.
  if (loaded.config.main.get_or("lock", "") == "suspended" && !find_vm_process(vm_paths)) {
    start_locked(vmid, task, {.skiplock = skiplock});
    return;
  }
  check_not_locked(loaded.config, skiplock);
  running_pid_or_throw(vm_paths);
  QmpClient(vm_paths.qmp(), vmid).execute("cont");
  std::lock_guard lock(impl_->mutex);
  impl_->paused.erase(vmid);
}

}  // namespace pvx::guest::qemu
