#pragma once
// The node's network configuration as pvxd manages it: the interfaces file pvx owns, the staged
// changes beside it (`<file>.new`, as PVE stages them), applying them with netlink, and the NAT
// side (masquerade, supervised dnsmasq) of bridges marked `pvx-nat yes`.
//
// Ownership: with `manage_host` pvx owns /etc/network/interfaces as PVE does (every stanza).
// Otherwise it owns only the stanzas of its own file under the data directory, plus the ports
// and slaves those stanzas name; the host's other devices are listed read-only and never changed.
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "network/apply.h"
#include "network/interfaces.h"
#include "network/netlink.h"

namespace pvx::network {

class DnsmasqSupervisor;

struct NetworkOptions {
  std::filesystem::path data_dir;   // own file: <data_dir>/network/interfaces
  std::filesystem::path run_dir;    // dnsmasq pid and lease files
  bool manage_host = false;         // --manage-host-network
  std::filesystem::path host_file = "/etc/network/interfaces";
  bool default_bridge = true;       // --no-default-bridge turns it off
};

// The option that marks a NAT bridge in the interfaces file (pvx's own; ifupdown2 ignores it).
inline constexpr const char* kNatOption = "pvx-nat";

// One interface as the API lists it: from the staged file, or a host device pvx does not own.
struct ListedInterface {
  Interface config;
  bool owned = true;      // false: the host's, read-only
  bool exists = false;    // the kernel has the device
  bool active = false;    // the device is up
  std::vector<AddrState> addresses;  // host devices: what the kernel has
  std::string gateway, gateway6;     // host devices: default routes through them
};

class NetworkService {
 public:
  explicit NetworkService(NetworkOptions options);
  ~NetworkService();

  // At daemon start: on the first start create the default NAT bridge (unless disabled or the
  // host has vmbr0), bring up what the owned file configures (not with manage_host: the host's
  // ifupdown did that at boot), and start NAT and dnsmasq for NAT bridges. Failures are logged
  // and do not stop pvxd.
  void start();

  const NetworkOptions& options() const { return options_; }
  std::filesystem::path config_path() const;
  std::filesystem::path pending_path() const;  // config_path() + ".new"

  InterfacesFile active() const;  // the applied configuration
  InterfacesFile staged() const;  // the pending one, or the active one when nothing is pending
  // `diff -u` of active and pending file; empty when nothing is pending.
  std::string changes() const;

  // The staged configuration plus (unless manage_host) the host's devices pvx does not own.
  std::vector<ListedInterface> list();
  // Names pvx may change in `file`.
  std::set<std::string> owned(const InterfacesFile& file) const;
  // What an apply from `from` to `to` may touch: the names either file owns.
  std::set<std::string> owned(const InterfacesFile& from, const InterfacesFile& to) const;

  // Read-modify-write of the staged file under the service's lock; `change` may throw to abort.
  void edit(const std::function<void(InterfacesFile&)>& change);
  void revert();  // drops the pending changes

  // Applies the staged configuration (all or nothing), then makes it the active one and
  // updates NAT and dnsmasq. Throws Error naming the failed step; the pending file is kept then.
  ApplyResult apply(const std::function<void(const std::string&)>& log);

  // pid of the dnsmasq serving `bridge`, 0 if none.
  int dnsmasq_pid(const std::string& bridge) const;

 private:
  void create_default_bridge(Netlink& nl);
  void update_nat();
  void bring_up(const InterfacesFile& file);
  InterfacesFile staged(const InterfacesFile& applied) const;  // staged() when active() is at hand
  std::filesystem::path marker_path() const;  // exists while an apply runs
  void recover_interrupted_apply();

  NetworkOptions options_;
  mutable std::mutex mutex_;
  std::unique_ptr<DnsmasqSupervisor> dnsmasq_;
  bool nat_active_ = false;  // table ip pvx_nat was written by this process
};

}  // namespace pvx::network
