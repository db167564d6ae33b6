#pragma once
// The VMs of this node: their configs in the ConfigStore, their QEMU processes, and the
// operations the API and `qm` run on them. Handlers (api/handlers/qemu_*.cc) stay thin and call
// this; long operations run inside tasks the handlers spawn and get the TaskContext.
//
// Locking, as PVE: every config change holds the store lock "vm-<vmid>" only while it reads,
// checks and writes the file (waits up to 10 s, then "can't lock file '...' - got timeout");
// long operations (clone, snapshot, rollback, create, migrate, backup) set the config's `lock:`
// property instead, so other changes are refused at once with "VM is locked (<lock>)" rather
// than waiting. Reading (list, config GET) takes no lock.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "guest/guest_config.h"
#include "guest/guest_configs.h"
#include "guest/qemu/cfg2cmd.h"
#include "guest/qemu/vm_summary.h"
#include "guest/qemu/qemu_process.h"
#include "guest/qemu/qmp.h"
#include "guest/qemu/vm_paths.h"

namespace pvx::cluster { class ConfigStore; class LockGuard; }
namespace pvx::storage { class StorageService; }
namespace pvx::network { class NetworkService; }
namespace pvx::tasks { class TaskContext; }

namespace pvx::guest::qemu {

struct ConfigChanges;  // config_update.h
class VmEventListener;  // vm_events.h

struct VmServiceOptions {
  std::string node;
  std::filesystem::path run_dir;    // sockets and pid files (VmPaths)
  std::filesystem::path data_dir;   // logs: DATA/qemu-server/<vmid>.log
  std::chrono::milliseconds kvm_probe_timeout{std::chrono::seconds(3)};
  bool force_tcg = false;           // tests and hosts where KVM must not be tried
};

struct LoadedConfig {
  GuestConfig config;
  std::string digest;   // SHA-1 of the text, as GET /config returns
  std::uint64_t version = 0;
  VmFigures figures;    // of the main section, computed once per version (listings)
};

struct VmRuntime {
  bool running = false;
  int pid = 0;
  std::int64_t start_time = 0;   // unix seconds
  std::string qmpstatus;         // "running", "paused", "prelaunch", ... ("stopped" when not running)
};

struct StartOptions {
  bool skiplock = false;
  std::string statefile;          // resume from this vmstate volume (rollback with RAM)
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
};
struct StopOptions {
  bool skiplock = false;
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};  // before SIGKILL
  bool keep_active = false;
};
struct ShutdownOptions {
  bool skiplock = false;
  bool force_stop = true;         // hard stop after the timeout (PVE's forceStop)
  std::chrono::milliseconds timeout{std::chrono::minutes(3)};
};

class VmService {
 public:
  VmService(cluster::ConfigStore& store, storage::StorageService& storage, network::NetworkService* network,
            VmServiceOptions options);
  ~VmService();

  // At daemon start: probes KVM (logs a warning and falls back to TCG), makes the run directory,
  // re-adopts VMs whose QEMU still runs (pid file + cmdline + QMP) and cleans up after ones that died.
  void start_up();

  const VmServiceOptions& options() const { return options_; }
  const HostFacts& host() const { return host_; }
  bool kvm_usable() const { return host_.kvm; }
  const std::string& kvm_reason() const { return kvm_reason_; }  // why TCG, for node status and task logs
  VmPaths paths(std::int64_t vmid) const { return VmPaths(options_.run_dir, vmid); }
  cluster::ConfigStore& store() { return store_; }
  storage::StorageService& storage() { return storage_; }

  // ---- configs
  std::string config_path(std::int64_t vmid) const;
  std::optional<LoadedConfig> load(std::int64_t vmid);
  // Throws Error 500 "Configuration file 'nodes/<node>/qemu-server/<vmid>.conf' does not exist".
  LoadedConfig load_or_throw(std::int64_t vmid);
  // Holds "vm-<vmid>" (10 s, then PVE's "can't lock file" message), reads, runs `change`, writes
  // back if it returned true. `digest` (when not empty) must match the current file (400 otherwise).
  void update(std::int64_t vmid, const std::function<bool(GuestConfig&)>& change, const std::string& digest = {});
  // Creates the file; Error 500 "VM <vmid> already exists" when any guest has the id (cluster-wide).
  void create_config(std::int64_t vmid, const GuestConfig& config);
  void remove_config(std::int64_t vmid);
  // Long operations: sets `lock: <name>` (refused when locked), runs fn, clears the lock, also
  // when fn throws. Returns fn's result.
  void with_config_lock(std::int64_t vmid, const std::string& lock, const std::function<void()>& fn,
                        bool skiplock = false);
  // VMIDs with a config on this node.
  std::vector<std::int64_t> list_vmids();

  // ---- runtime
  VmRuntime runtime(std::int64_t vmid, bool with_qmp_status = false);
  // The runtime of every VM of a listing: one scan of the run directory finds the VMs with a
  // pid file, and only those are looked up in /proc (a listing of 1000 stopped VMs opens nothing).
  std::map<std::int64_t, VmRuntime> runtimes(const std::vector<std::int64_t>& vmids);
  // Connected QMP client; Error 500 "VM <vmid> not running" when it is not.
  std::unique_ptr<QmpClient> qmp(std::int64_t vmid);
  // The command line the VM would start with now (qm showcmd), volumes resolved, nothing started.
  std::vector<std::string> command_line(std::int64_t vmid, const GuestConfig& config);

  // ---- lifecycle (called inside tasks; they log progress and throw on failure)
  // Applies pending changes, resolves and activates volumes, creates taps on the bridges,
  // starts swtpm when needed, regenerates the cloud-init ISO, spawns QEMU and waits for QMP.
  // On failure nothing is left running (taps removed, swtpm stopped).
  void start(std::int64_t vmid, tasks::TaskContext& task, const StartOptions& options = {});
  void stop(std::int64_t vmid, tasks::TaskContext& task, const StopOptions& options = {});
  void shutdown(std::int64_t vmid, tasks::TaskContext& task, const ShutdownOptions& options = {});
  void reboot(std::int64_t vmid, tasks::TaskContext& task);
  void reset(std::int64_t vmid);
  void suspend(std::int64_t vmid, tasks::TaskContext& task, bool todisk, const std::string& statestorage);
  void resume(std::int64_t vmid, tasks::TaskContext& task);
  // Applies pending changes of a running VM that can be hot-plugged (balloon, cpulimit, net
  // link/rate, disk throttles, new disks and NICs when `hotplug` allows); the rest stays pending.
  void hotplug_pending(std::int64_t vmid, tasks::TaskContext* task);

  // Runs after QEMU exited (guest poweroff, crash, stop): taps removed, swtpm stopped, files cleaned.
  void cleanup_after_exit(std::int64_t vmid);

  // ---- additions of the service work (vm_service_*.cc)

  // Every config of this node, parsed once per store version (listings of 1000 VMs read the
  // store only when it changed).
  std::map<std::int64_t, std::shared_ptr<const LoadedConfig>> all_configs();

  // Figures of a VM for the listing and /status/current. Cheap: /proc and /sys reads only,
  // unless `blockstats` (one QMP query-blockstats).
  struct Usage {
    double cpu = 0;             // CPU seconds per second since the previous sample (callers divide by vCPUs)
    std::uint64_t mem = 0;      // resident memory of the QEMU process
    std::uint64_t netin = 0, netout = 0;        // from the guest's view: netin = tap transmit
    std::uint64_t diskread = 0, diskwrite = 0;  // only with blockstats
    std::int64_t uptime = 0;
  };
  Usage usage(std::int64_t vmid, const VmRuntime& runtime, bool blockstats);
  // The qmpstatus pvx knows without asking QEMU ("paused" after a suspend, else "running").
  std::string known_qmpstatus(std::int64_t vmid);

  // Turns allocation requests in the drive keys of `section` ("local:1,format=qcow2",
  // "local:0,import-from=...", efidisk0 "local:0,efitype=4m", tpmstate0 "local:0") into new
  // volumes owned by `vmid`, rewriting the keys ("local:100/vm-100-disk-0.qcow2,size=1G").
  // Appends each new volume id to `allocated` as soon as it exists (the caller frees them on failure).
  void allocate_disks(std::int64_t vmid, ConfigSection& section, tasks::TaskContext* task,
                      std::vector<std::string>& allocated);
  // Frees volumes, logging (not throwing) what fails.
  void free_volumes(const std::vector<std::string>& volids, tasks::TaskContext* task);

  struct CreateOptions {
    bool start = false;
  };
  // POST /nodes/{node}/qemu's work: the config (main section, values already checked) is
  // written at once with `lock: create`, disks are allocated, smbios1/vmgenid/meta/boot/MACs
  // filled in as PVE does, then the lock is dropped. On failure the volumes are freed and the
  // config removed: nothing half made stays.
  void create_vm(std::int64_t vmid, GuestConfig config, tasks::TaskContext& task, const CreateOptions& options);
  // Reserves the id (the config with `lock: create` only); 500 "VM <id> already exists".
  void reserve_vmid(std::int64_t vmid);

  struct DestroyOptions {
    bool skiplock = false;
    bool purge = false;
    bool destroy_unreferenced_disks = false;
  };
  // DELETE /nodes/{node}/qemu/{vmid}: refused while running or protected; frees every volume of
  // the config (snapshots and unused included) and, when asked, volumes named
  // vm-<vmid>-* on every storage of this node; then removes the config.
  void destroy(std::int64_t vmid, tasks::TaskContext& task, const DestroyOptions& options);

  // Writes `config` over the VM's file; the caller holds lock_vm().
  void write_config(std::int64_t vmid, const GuestConfig& config);

  // POST/PUT /config's work (config_update.h's flow): new disks and cloud-init volumes allocated
  // first (freed again on failure), then under the lock the lock/digest checks and the staging
  // into [PENDING]; a stopped VM gets the changes applied at once, a running one what can be
  // hot-plugged. Returns the warnings of staging (PVE prints them, the request still succeeds).
  std::vector<std::string> update_config(std::int64_t vmid, const ConfigChanges& changes, bool skiplock,
                                         tasks::TaskContext* task);

  // The lifecycle calls with the API's options (skiplock, shutdown timeout of a reboot).
  void reboot(std::int64_t vmid, tasks::TaskContext& task, const ShutdownOptions& options);
  void reset(std::int64_t vmid, bool skiplock);
  void suspend(std::int64_t vmid, tasks::TaskContext& task, bool todisk, const std::string& statestorage,
               bool skiplock);
  void resume(std::int64_t vmid, tasks::TaskContext& task, bool skiplock);

 private:
  // Exit callbacks may fire while the service is being destroyed: they reach it through this.
  struct ExitState {
    std::mutex mutex;
    VmService* service = nullptr;
  };
  std::function<void()> exit_callback(std::int64_t vmid);
  void on_qemu_exit(std::int64_t vmid);
  void save_state_and_quit(std::int64_t vmid, tasks::TaskContext& task, const std::string& statestorage,
                           const LoadedConfig& loaded);
  void start_locked(std::int64_t vmid, tasks::TaskContext& task, const StartOptions& options);
  void stop_locked(std::int64_t vmid, tasks::TaskContext* task, const StopOptions& options);
  void shutdown_locked(std::int64_t vmid, tasks::TaskContext& task, const ShutdownOptions& options);
  void cleanup_locked(std::int64_t vmid);

 private:
  struct Impl;
  cluster::ConfigStore& store_;
  storage::StorageService& storage_;
  network::NetworkService* network_;
  VmServiceOptions options_;
  GuestConfigs configs_;
  HostFacts host_;
  std::string kvm_reason_;
  std::unique_ptr<Impl> impl_;
  std::shared_ptr<ExitState> exit_state_;
  std::unique_ptr<VmEventListener> events_;
};

}  // namespace pvx::guest::qemu
