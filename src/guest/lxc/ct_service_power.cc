// CtService: start (pending changes applied, volumes mounted, distribution setup, LXC config
// rendered, liblxc start), stop, shutdown, reboot, suspend and resume.
#include <sys/stat.h>

#include <fstream>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/log.h"
#include "base/rollback.h"
#include "guest/lxc/ct_service.h"
#include "guest/lxc/ct_service_impl.h"
#include "guest/lxc/ct_setup.h"
#include "guest/lxc/ct_volumes.h"
#include "guest/lxc/lxc_runtime.h"
#include "tasks/task_runner.h"

namespace pvx::guest::lxc {

namespace fs = std::filesystem;

namespace {

std::string ct_name(std::int64_t vmid) { return std::to_string(vmid); }

void apply_pending(GuestConfig& c) {
  for (const auto& [key, forced] : c.pending_delete) c.main.values.erase(key);
  for (const auto& [key, value] : c.pending.values) c.main.values[key] = value;
  if (c.pending.description) c.main.description = *c.pending.description;
  c.pending = {};
  c.pending_delete.clear();
}

void check_bridges(const ConfigSection& conf) {
  for (const auto& n : ct_nets(conf)) {
    if (n.bridge.empty()) continue;
    if (!fs::exists("/sys/class/net/" + n.bridge + "/bridge")) {
      throw Error(n.key + ": bridge '" + n.bridge + "' does not exist", 500);
    }
  }
}

// An unprivileged container's root (host uid 100000) must traverse every directory above its
// root filesystem, its mount points and its lxcpath entry. Search permission alone (o+x, no
// read) is added where missing: names below stay unlistable and files keep their modes.
void allow_traversal(const fs::path& leaf) {
  for (fs::path p = leaf.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_mode & S_IXOTH)) continue;
    ::chmod(p.c_str(), (st.st_mode & 07777) | S_IXOTH);
  }
}

}  // namespace

SetupParams ct_setup_params(std::int64_t vmid, const ConfigSection& conf, const std::string& ostype) {
  SetupParams p;
  p.ostype = ostype;
  p.hostname = ct_hostname(conf, vmid);
  p.searchdomain = conf.get_or("searchdomain", "");
  p.nameservers = ct_nameservers(conf);
  for (const auto& n : ct_nets(conf)) {
    p.nets.push_back({static_cast<unsigned>(n.index), n.name, n.ip, n.gw, n.ip6, n.gw6});
  }
  if (ct_unprivileged(conf)) p.root_uid = p.root_gid = kUnprivilegedIdBase;
  return p;
}

void CtService::start(std::int64_t vmid, tasks::TaskContext& task, bool skiplock) {
  BusyMark busy(*cache_, vmid);
  auto loaded = configs_.load_or_throw(vmid);
  check_not_locked(loaded.config, skiplock);
  if (loaded.config.main.get_or("template", "0") == "1") throw Error("cannot start a template", 500);
  if (runtime(vmid).running) throw Error("CT " + std::to_string(vmid) + " already running", 500);
  start_locked(vmid, task);
}

void CtService::start_locked(std::int64_t vmid, tasks::TaskContext& task) {
  // Pending changes take effect now, as at every PVE container start.
  configs_.update(vmid, [](GuestConfig& c) {
    if (!c.has_pending()) return false;
    apply_pending(c);
    return true;
  });
  auto loaded = configs_.load_or_throw(vmid);
  const auto& conf = loaded.config.main;
  const fs::path dir = ct_dir(vmid);
  fs::create_directories(dir / "mnt");
  wait_monitor_exit(vmid);   // a run that just ended may still hold its filesystems
  cleanup_after_exit(vmid);  // leftovers of a run that ended while pvxd was down

  Rollback undo;
  auto mps = mount_points(conf);
  if (mps.empty() || mps[0].key != "rootfs") throw Error("CT " + std::to_string(vmid) + " has no rootfs", 500);
  check_bridges(conf);

  auto root = attach_ct_volume(storage_, mps[0], dir / "rootfs");
  if (root.mounted) undo.add([p = dir / "rootfs"] { unmount_ct_volume(p); });

  std::string ostype = conf.get_or("ostype", "");
  if (ostype.empty()) ostype = detect_ostype(root.dir);
  auto sp = ct_setup_params(vmid, conf, ostype);
  sp.log = [&task](const std::string& line) { task.warn(line); };
  setup_at_start(root.dir, sp);

  LxcRenderInput in;
  in.vmid = vmid;
  in.conf = &conf;
  in.ostype = ostype;
  in.rootfs = root.dir;
  in.host = host_;
  in.log_file = dir / "lxc.log";
  for (std::size_t i = 1; i < mps.size(); ++i) {
    auto m = attach_ct_volume(storage_, mps[i], dir / "mnt" / mps[i].key);
    if (m.mounted) undo.add([p = dir / "mnt" / mps[i].key] { unmount_ct_volume(p); });
    in.mounts.push_back({mps[i], m.dir.string(), m.is_file});
  }
  if (ct_unprivileged(conf)) {
    check_subid_ranges();
    allow_traversal(root.dir / "x");
    allow_traversal(dir / "x");
    for (const auto& m : in.mounts) allow_traversal(fs::path(m.host_path) / "x");
  }
  write_file_atomic(dir / "config", render_lxc_config(in));

  task.log("starting CT " + std::to_string(vmid));
  pid_t pid = 0;
  try {
    pid = start_container(options_.starter, lxcpath(), ct_name(vmid), in.log_file);
  } catch (...) {
    cleanup_after_exit(vmid);
    throw;
  }
  write_init_pid(vmid, pid);
  undo.commit();
  watch_exit(vmid, pid);
}

void CtService::stop(std::int64_t vmid, tasks::TaskContext& task, bool skiplock) {
  BusyMark busy(*cache_, vmid);
  auto loaded = configs_.load_or_throw(vmid);
  check_not_locked(loaded.config, skiplock);
  if (!runtime(vmid).running) throw Error("CT " + std::to_string(vmid) + " not running", 500);
  LxcHandle h(lxcpath(), ct_name(vmid));
  task.log("stopping CT " + std::to_string(vmid));
  h.stop();
  h.wait_state("STOPPED", std::chrono::seconds(10));
  wait_monitor_exit(vmid);
  cleanup_after_exit(vmid);
}

void CtService::shutdown(std::int64_t vmid, tasks::TaskContext& task, std::chrono::seconds timeout, bool force) {
  BusyMark busy(*cache_, vmid);
  auto loaded = configs_.load_or_throw(vmid);
  check_not_locked(loaded.config);
  if (!runtime(vmid).running) throw Error("CT " + std::to_string(vmid) + " not running", 500);
  LxcHandle h(lxcpath(), ct_name(vmid));
  if (h.state() == "FROZEN") h.unfreeze();  // a frozen init cannot receive the halt signal
  bool done = false;
  // Wait in slices so an abort of the task (or of pvxd) is noticed.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool signalled = false;
  while (!done) {
    auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (!signalled) {
      done = h.shutdown(std::chrono::seconds(std::min<long>(left.count(), 2)));
      signalled = true;
    } else {
      done = h.wait_state("STOPPED", std::chrono::seconds(std::min<long>(left.count(), 2)));
    }
    task.check_abort();
  }
  if (!done) {
    if (!force) throw Error("shutdown of CT " + std::to_string(vmid) + " timed out", 500);
    task.log("shutdown timed out, stopping CT " + std::to_string(vmid));
    h.stop();
    h.wait_state("STOPPED", std::chrono::seconds(10));
  }
  wait_monitor_exit(vmid);
  cleanup_after_exit(vmid);
}

void CtService::reboot(std::int64_t vmid, tasks::TaskContext& task, std::chrono::seconds timeout) {
  shutdown(vmid, task, timeout, true);
  BusyMark busy(*cache_, vmid);
  start_locked(vmid, task);
}

void CtService::suspend(std::int64_t vmid) {
  if (!runtime(vmid).running) throw Error("CT " + std::to_string(vmid) + " not running", 500);
  LxcHandle(lxcpath(), ct_name(vmid)).freeze();
}

void CtService::resume(std::int64_t vmid) {
  if (!runtime(vmid).running) throw Error("CT " + std::to_string(vmid) + " not running", 500);
  LxcHandle(lxcpath(), ct_name(vmid)).unfreeze();
}

}  // namespace pvx::guest::lxc
