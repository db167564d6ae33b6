#pragma once
// What the parts of cfg2cmd share: the state of one command line being built (machine, buses
// in use, boot order) and the small helpers every part needs. Not a public interface.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "guest/qemu/cfg2cmd.h"
#include "guest/qemu/drive.h"

namespace pvx::guest::qemu::cfg2cmd_detail {

// `k=v,k=v` as the config keys cfg2cmd reads hold them; a part without '=' is the default key's
// value. Values of these keys never contain commas (cpu flags use ';'). The keys were checked
// against the VM schema when they were written, so this only splits.
class Props {
 public:
  Props(std::string_view text, std::string_view default_key);
  std::optional<std::string> get(const std::string& key) const;
  std::string get_or(const std::string& key, const std::string& fallback) const;
  bool flag(const std::string& key, bool fallback) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

bool is_true(std::string_view value);  // 1/on/yes/true
// A value inside a QEMU option list: commas are doubled.
std::string qemu_escape(std::string_view value);
// Whole number of a config value; throws Error 500 naming `key` when it is not one.
long long config_int(std::string_view key, std::string_view value);

struct Build {
  const Cfg2CmdInput& in;
  const ConfigSection& conf;
  VmPaths paths;
  bool kvm = true;
  bool q35 = false;
  std::string machine;     // "pc-i440fx-7.2"
  int machine_major = 0, machine_minor = 0;
  int winversion = 0;      // PVE's windows_version(ostype): 5 xp/2003, 6 vista/2008, 7, 8, 10, 11
  std::set<int> bridges;   // pci.N buses devices were put on
  std::map<std::string, int> bootorder;  // device key -> bootindex
  std::vector<std::string> cmd;      // global options, in PVE's order
  std::vector<std::string> devices;  // devices, appended after the global options

  Build(const Cfg2CmdInput& input, const ConfigSection& section)
      : in(input), conf(section), paths(input.run_dir, input.vmid) {}
  bool machine_at_least(int major, int minor) const {
    return machine_major > major || (machine_major == major && machine_minor >= minor);
  }
  void opt(std::string name, std::string value) {
    cmd.push_back(std::move(name));
    cmd.push_back(std::move(value));
  }
  void dev(std::string name, std::string value) {
    devices.push_back(std::move(name));
    devices.push_back(std::move(value));
  }
  // ",bus=pci.N,addr=0xM" of a device id in PVE's fixed layout ("" for ids without a slot);
  // remembers the bridge.
  std::string pci(const std::string& id);
};

int windows_version(std::string_view ostype);

// The drives of the config in PVE's bus order, parsed (Error 500 for a value that does not parse).
std::vector<Drive> config_drives(const ConfigSection& conf);
// device key -> bootindex, from `boot: order=...` or the legacy `boot: cdn` + `bootdisk`.
std::map<std::string, int> device_bootorder(const ConfigSection& conf, const std::vector<Drive>& drives);
// -drive if=pflash pair of `bios: ovmf`.
void add_ovmf(Build& b, const std::optional<Drive>& efidisk);
// Disk controllers, -drive and -device of every disk, cdrom and cloud-init drive.
void add_disks(Build& b, const std::vector<Drive>& drives);
// -netdev/-device of every netN.
void add_nets(Build& b);

}  // namespace pvx::guest::qemu::cfg2cmd_detail
