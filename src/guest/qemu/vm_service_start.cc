// Starting a VM: pending changes applied, volumes resolved and activated, taps created on their
// bridges, cloud-init image made, QEMU spawned and watched. On any failure nothing stays: the
// QEMU is killed, taps removed, swtpm stopped.
#include <filesystem>
#include <thread>

#include "base/error.h"
#include "base/log.h"
#include "base/rollback.h"
#include "base/strings.h"
#include "guest/qemu/cloudinit_volume.h"
#include "guest/qemu/config_update.h"
#include "guest/qemu/drive.h"
#include "guest/qemu/net.h"
#include "guest/qemu/swtpm.h"
#include "guest/qemu/vm_events.h"
#include "guest/qemu/vm_state.h"
#include "guest/qemu/vm_service.h"
#include "guest/qemu/vm_service_impl.h"
#include "network/guest_port.h"
#include "network/netlink.h"
#include "storage/file_formats.h"
#include "storage/storage_service.h"
#include "tasks/task_runner.h"

namespace pvx::guest::qemu {
namespace {

bool is_volume_id(const std::string& file) {
  return !file.empty() && file.front() != '/' && file.find(':') != std::string::npos;
}

// A path's format by its extension, as PVE guesses for absolute paths.
std::string format_of_path(const std::string& path) {
  for (const char* f : {"qcow2", "vmdk", "raw", "iso"}) {
    if (path.ends_with(std::string(".") + f)) return std::string(f) == "iso" ? "raw" : f;
  }
  return "raw";
}

// Whether the config (or the host) allows KVM: `kvm: 0` forces TCG.
bool config_wants_kvm(const ConfigSection& conf) { return conf.get_or("kvm", "1") != "0"; }

}  // namespace

std::vector<std::string> VmService::command_line(std::int64_t vmid, const GuestConfig& config) {
  Cfg2CmdInput in;
  in.vmid = vmid;
  in.conf = &config.main;
  in.host = host_;
  in.host.kvm = host_.kvm && config_wants_kvm(config.main);
  in.run_dir = options_.run_dir;
  for (const auto& key : all_drive_keys()) {
    auto value = config.main.get(key);
    if (!value) continue;
    auto drive = try_parse_drive(key, *value);
    if (!drive || drive->file.empty() || drive->file == "none" || drive->file == "cdrom") continue;
    if (drive->is_cloudinit()) {
      in.cloudinit_iso = paths(vmid).cloudinit_iso().string();
      continue;
    }
    if (is_volume_id(drive->file)) {
      auto r = storage_.resolve(drive->file, key);
      auto parsed = r.plugin->parse_volname(r.def, r.volname);
      in.volume_paths[drive->file] = r.plugin->path(r.def, r.volname);
      in.volume_formats[drive->file] = drive->opt("format", parsed.format.empty() ? "raw" : parsed.format);
    } else {
      in.volume_paths[drive->file] = drive->file;
      in.volume_formats[drive->file] = drive->opt("format", format_of_path(drive->file));
    }
  }
  return cfg2cmd(in);
}

void VmService::start(std::int64_t vmid, tasks::TaskContext& task, const StartOptions& options) {
  auto guard = lock_vm(store_, vmid);
  start_locked(vmid, task, options);
}

void VmService::start_locked(std::int64_t vmid, tasks::TaskContext& task, const StartOptions& options) {
  const auto vm_paths = paths(vmid);
  auto loaded = load_or_throw(vmid);
  auto& conf = loaded.config;
  std::string statefile = options.statefile;
  const bool resume_suspended = conf.main.get_or("lock", "") == "suspended";
  if (resume_suspended) {
    statefile = conf.main.get_or("vmstate", "");
  } else {
    check_not_locked(conf, options.skiplock);
  }
  if (find_vm_process(vm_paths)) throw Error("VM " + std::to_string(vmid) + " already running", 500);
  if (conf.main.get_or("template", "0") == "1") {
    throw Error("you can't start a vm if it's a template", 500);
  }

  // Leftovers of a QEMU that died while nobody watched (taps, sockets, swtpm).
  cleanup_locked(vmid);

  if (conf.has_pending() && !resume_suspended) {
    ApplyInfo info;
    auto to_free = apply_pending(conf, vmid, &info);
    for (const auto& [key, error] : info.errors) task.log(error);
    store_.write(config_path(vmid), print_guest_config(conf));
    free_volumes(to_free, &task);
  }
  auto cloudinit = apply_cloudinit(storage_, vm_paths, vmid, conf, [&task](const std::string& line) { task.log(line); });
  if (cloudinit && cloudinit->config_changed) store_.write(config_path(vmid), print_guest_config(conf));

  // Volumes: every drive must resolve and exist before anything is created on the host.
  Cfg2CmdInput in;
  in.vmid = vmid;
  in.conf = &conf.main;
  in.host = host_;
  in.run_dir = options_.run_dir;
  const bool want_kvm = config_wants_kvm(conf.main);
  in.host.kvm = host_.kvm && want_kvm;
  if (want_kvm && !host_.kvm) task.log("warning: KVM not available (" + kvm_reason_ + "), using TCG (slow)");
  for (const auto& key : all_drive_keys()) {
    auto value = conf.main.get(key);
    if (!value) continue;
    auto drive = parse_drive(key, *value);
    if (drive.file.empty() || drive.file == "none" || drive.file == "cdrom") continue;
    if (drive.is_cloudinit()) {
      // cfg2cmd opens the cloud-init drive as raw: a qcow2 volume is passed as the plain ISO.
      if (cloudinit && cloudinit->drive_key == key) {
        in.cloudinit_iso = cloudinit->format == "raw" || !std::filesystem::exists(vm_paths.cloudinit_iso())
                               ? cloudinit->path
                               : vm_paths.cloudinit_iso().string();
      }
      continue;
    }
    if (is_volume_id(drive.file)) {
      auto r = storage_.resolve(drive.file, key);
      storage_.activate(r.def);
      auto parsed = r.plugin->parse_volname(r.def, r.volname);
      std::string path = r.plugin->path(r.def, r.volname);
      if (r.plugin->info().file_based && path.starts_with("/") && !std::filesystem::exists(path)) {
        throw Error("volume '" + drive.file + "' does not exist", 500);
      }
      r.plugin->activate_volume(r.def, r.volname);
      in.volume_paths[drive.file] = path;
      in.volume_formats[drive.file] = drive.opt("format", parsed.format.empty() ? "raw" : parsed.format);
    } else {
      if (!std::filesystem::exists(drive.file)) throw Error("volume '" + drive.file + "' does not exist", 500);
      in.volume_paths[drive.file] = drive.file;
      in.volume_formats[drive.file] = drive.opt("format", format_of_path(drive.file));
    }
  }
  // Passed-through PCI functions must be on this host (PVE checks them before it starts QEMU).
  for (const auto& [key, value] : conf.main.values) {
    if (!key.starts_with("hostpci")) continue;
    for (const auto& function : hostpci_functions(key, value)) {
      if (!std::filesystem::exists(std::filesystem::path("/sys/bus/pci/devices") / function)) {
        throw Error(key + ": PCI device '" + function + "' does not exist on this host", 500);
      }
    }
  }
  std::string vmstate_volid;
  if (!statefile.empty()) {
    vmstate_volid = statefile;
    if (is_volume_id(statefile)) {
      auto r = storage_.resolve(statefile, "statefile");
      storage_.activate(r.def);
      in.vmstate_path = r.plugin->path(r.def, r.volname);
    } else {
      in.vmstate_path = statefile;
    }
    task.log("resuming VM from saved state '" + statefile + "'");
  }
  auto argv = cfg2cmd(in);
  // pvxd's qmeventd: ends QEMU when the guest powers off (QEMU runs with -no-shutdown).
  if (events_) {
    auto extra = events_->qemu_args();
    argv.insert(argv.end(), extra.begin(), extra.end());
  }

  Rollback undo;
  undo.add([this, vmid] { cleanup_locked(vmid); });

  // Taps, each plugged into its bridge as the NIC asks (VLAN, trunks, MTU, rate, link state).
  {
    network::Netlink nl;
    for (const auto& [key, value] : conf.main.values) {
      if (!is_net_key(key)) continue;
      auto net = parse_net(key, value);
      const std::string tap = tap_name(vmid, net.index);
      if (net.bridge.empty()) continue;  // user-mode networking has no tap
      if (!nl.link(net.bridge)) throw Error("bridge '" + net.bridge + "' does not exist", 500);
      nl.create_tap(tap);
      network::GuestPort port{.ifname = tap, .bridge = net.bridge, .tag = net.tag};
      if (!net.trunks.empty()) port.trunks = network::parse_trunks(net.trunks);
      if (net.mtu && *net.mtu > 1) port.mtu = static_cast<unsigned>(*net.mtu);
      port.rate_mbps = net.rate;
      port.link_down = net.link_down;
      network::plug_guest_port(nl, port);
    }
  }

  if (auto tpm = conf.main.get("tpmstate0")) {
    auto drive = parse_drive("tpmstate0", *tpm);
    auto it = in.volume_paths.find(drive.file);
    if (it == in.volume_paths.end()) throw Error("tpmstate0: volume '" + drive.file + "' has no path", 500);
    start_swtpm(vm_paths, {.state_path = it->second, .version = drive.opt("version", "v2.0")});
  }

  SpawnOptions so;
  so.qmp_timeout = options.timeout;
  so.log_file = options_.data_dir / "qemu-server" / (std::to_string(vmid) + ".log");
  so.on_exit = exit_callback(vmid);
  task.log("starting VM " + std::to_string(vmid));
  auto proc = spawn_qemu(vm_paths, argv, so);
  task.log("VM " + std::to_string(vmid) + " started with pid " + std::to_string(proc.pid));
  {
    std::lock_guard lock(impl_->mutex);
    impl_->paused.erase(vmid);
    impl_->cpu_samples.erase(vmid);
  }
  undo.commit();

  if (!vmstate_volid.empty()) {
    try {
      load_vm_state(vm_paths.qmp(), vmid, in.vmstate_path);
      QmpClient q(vm_paths.qmp(), vmid);
      if (q.execute("query-status").value("status", "") != "running") q.execute("cont");
    } catch (...) {
      kill_vm_process(vm_paths, std::chrono::seconds(5));
      cleanup_locked(vmid);
      throw;
    }
    auto c = load_or_throw(vmid);
    c.config.main.values.erase("vmstate");
    if (c.config.main.get_or("lock", "") == "suspended") c.config.main.values.erase("lock");
    store_.write(config_path(vmid), print_guest_config(c.config));
    // A suspend's state is spent once resumed; a snapshot's state stays with its snapshot.
    if (resume_suspended) free_volumes({vmstate_volid}, &task);
  }
}

}  // namespace pvx::guest::qemu
