#pragma once
// The containers of this node: their configs in the ConfigStore, their volumes and LXC runtime,
// and the operations the API and `pct` run on them. Handlers (api/handlers/lxc_*.cc) stay thin
// and call this; long operations run inside tasks the handlers spawn.
//
// Locking is PVE's (see guest_configs.h): short config changes hold the store lock, long
// operations (create, snapshot, rollback, clone, destroy) set `lock:` in the config.
//
// Run-time state lives under <run_dir>/lxc/<vmid>/ (liblxc's lxcpath): `config` (rendered at
// every start), `lxc.log`, `rootfs/` and `mnt/<key>/` (mounted image volumes), `init.pid`
// ("<pid> <starttime>"). Containers are run by liblxc's monitor and outlive pvxd; at start-up
// pvxd watches the running ones again and cleans up after the ones that stopped meanwhile.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "guest/guest_configs.h"
#include "guest/lxc/lxc_config.h"

namespace pvx::cluster { class ConfigStore; }
namespace pvx::storage { class StorageService; }
namespace pvx::tasks { class TaskContext; }

namespace pvx::guest::lxc {

struct CtServiceOptions {
  std::string node;
  std::filesystem::path run_dir;      // lxcpath = run_dir / "lxc"
  std::filesystem::path starter;      // pvx-lxc-start (lxc_runtime.h), beside pvxd
  std::optional<LxcHostFacts> host;   // detected at start_up() when not given
};

struct CtRuntime {
  bool running = false;
  pid_t pid = 0;                      // init, as the host sees it
  std::int64_t start_time = 0;        // unix seconds
};

// What listings show of a config, computed once per config version.
struct CtFigures {
  std::int64_t maxmem = 0, maxswap = 0, maxdisk = 0;
  std::int64_t cpus = 0;         // `cores`, or the host's CPUs
  std::string name;              // hostname, or "CT<vmid>"
};

struct CtLoaded : LoadedGuestConfig {
  CtFigures figures;
};

struct CtCreateParams {
  std::string ostemplate;             // volid of a vztmpl volume (or an absolute path, root only)
  std::map<std::string, std::string> config;  // validated config keys (rootfs "local:8", netN, ...)
  std::optional<std::string> password;
  std::string ssh_public_keys;
  bool unique = false;
  bool ignore_unpack_errors = false;
  std::string storage = "local";      // default storage of rootfs when `rootfs` is not given
};

class CtService {
 public:
  CtService(cluster::ConfigStore& store, storage::StorageService& storage, CtServiceOptions options);
  ~CtService();

  void start_up();
  const CtServiceOptions& options() const { return options_; }
  const LxcHostFacts& host() const { return host_; }
  std::filesystem::path lxcpath() const { return options_.run_dir / "lxc"; }
  std::filesystem::path ct_dir(std::int64_t vmid) const { return lxcpath() / std::to_string(vmid); }
  GuestConfigs& configs() { return configs_; }
  storage::StorageService& storage() { return storage_; }

  // ---- configs
  LoadedGuestConfig load_or_throw(std::int64_t vmid) { return configs_.load_or_throw(vmid); }
  // Every container config of this node, parsed once per store revision (listings).
  std::map<std::int64_t, std::shared_ptr<const CtLoaded>> all_configs();
  CtFigures figures(std::int64_t vmid, const ConfigSection& conf) const;
  // PUT /config: values set (already validated), keys deleted, reverted. Running containers get
  // cgroup limits at once; changes liblxc cannot apply live stay pending until the next start.
  void update_config(std::int64_t vmid, const std::map<std::string, std::string>& set,
                     const std::vector<std::string>& deletes, const std::vector<std::string>& revert,
                     const std::string& digest, tasks::TaskContext* task);

  // ---- runtime
  CtRuntime runtime(std::int64_t vmid);
  std::map<std::int64_t, CtRuntime> runtimes();  // one scan of the lxcpath
  std::string lxc_state(std::int64_t vmid);      // liblxc's state name ("FROZEN"), "STOPPED" if none
  struct Usage {
    std::uint64_t mem = 0, swap = 0;
    double cpu_seconds = 0;
    std::uint64_t netin = 0, netout = 0;
    std::uint64_t disk = 0, maxdisk = 0;
  };
  Usage usage(std::int64_t vmid, const LoadedGuestConfig& loaded, const CtRuntime& rt);

  // ---- lifecycle (inside tasks; they log and throw on failure, leaving nothing mounted or running)
  // Writes a config with only `lock: create` (Error 500 "CT <vmid> already exists"); create()
  // then fills it, or removes it again when it fails.
  void reserve(std::int64_t vmid);
  void create(std::int64_t vmid, const CtCreateParams& params, tasks::TaskContext& task);
  void start(std::int64_t vmid, tasks::TaskContext& task, bool skiplock = false);
  void stop(std::int64_t vmid, tasks::TaskContext& task, bool skiplock = false);
  // Clean shutdown; after `timeout` a hard stop when `force`, else an error.
  void shutdown(std::int64_t vmid, tasks::TaskContext& task, std::chrono::seconds timeout, bool force);
  void reboot(std::int64_t vmid, tasks::TaskContext& task, std::chrono::seconds timeout);
  void suspend(std::int64_t vmid);
  void resume(std::int64_t vmid);
  // DELETE: stopped containers only; volumes of the config (and with destroy_unreferenced,
  // unreferenced ones of this vmid on all storages) are freed.
  void destroy(std::int64_t vmid, tasks::TaskContext& task, bool destroy_unreferenced);

  // ---- snapshots, templates, clones, disks (ct_service_snapshot.cc, ct_service_disks.cc)
  void snapshot(std::int64_t vmid, const std::string& name, const std::string& description, tasks::TaskContext& task);
  void rollback(std::int64_t vmid, const std::string& name, bool start, tasks::TaskContext& task);
  void delete_snapshot(std::int64_t vmid, const std::string& name, bool force, tasks::TaskContext& task);
  void make_template(std::int64_t vmid, tasks::TaskContext& task);
  struct CloneParams {
    std::int64_t newid = 0;
    std::string hostname, description, pool, storage, snapname;
    bool full = false;
  };
  void clone(std::int64_t vmid, const CloneParams& params, tasks::TaskContext& task);
  // A stopped container's volume to another storage (a copy through both filesystems); the old
  // one is freed with `delete_source`, else kept as unusedN.
  void move_volume(std::int64_t vmid, const std::string& key, const std::string& storage, bool delete_source,
                   const std::string& digest, tasks::TaskContext& task);
  // `size`: "+1G" or an absolute size; grows only.
  void resize(std::int64_t vmid, const std::string& disk, const std::string& size, const std::string& digest,
              tasks::TaskContext& task);

  // Unmounts what the last run mounted; called when the container's init exits.
  void cleanup_after_exit(std::int64_t vmid);

 public:
  struct Cache;  // ct_service_impl.h

 private:
  void start_locked(std::int64_t vmid, tasks::TaskContext& task);
  void watch_exit(std::int64_t vmid, pid_t pid);
  void write_init_pid(std::int64_t vmid, pid_t pid);
  // After a stop: liblxc's monitor runs in a mount namespace of its own that still holds the
  // container's filesystems until it exits; an image mounted again before that fails (ext4 MMP).
  void wait_monitor_exit(std::int64_t vmid, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // A new volume on `storage` with the files of `mp` (mounted below `work` while copying).
  std::string copy_volume(const MountPoint& mp, const std::string& storage, std::int64_t vmid, uid_t root_id,
                          const std::filesystem::path& work);
  void on_init_exit(std::int64_t vmid);

  cluster::ConfigStore& store_;
  storage::StorageService& storage_;
  CtServiceOptions options_;
  LxcHostFacts host_;
  GuestConfigs configs_;
  std::unique_ptr<Cache> cache_;
  // Exit callbacks may fire while the service is being destroyed: they reach it through this.
  struct ExitState {
    std::mutex mutex;
    CtService* service = nullptr;
  };
  std::shared_ptr<ExitState> exit_state_;
};

}  // namespace pvx::guest::lxc
