#pragma once
// A guest's config file (`nodes/<node>/qemu-server/<vmid>.conf`, `.../lxc/<vmid>.conf`) as text
// <-> model, by PVE's rules: `#` lines are the section's description (encoded as config/text_codec),
// `key: value` lines, then `[PENDING]` (with `delete:`), `[special:cloudinit]` and snapshot sections.
// Keys are kept in a std::map: byte order is PVE's write order (`net10` before `net2`); raw
// `lxc.*` lines of container configs keep their order in a list.
// Shared by VMs and containers; what the keys mean lives in guest/qemu and guest/lxc.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pvx::guest {

struct ConfigSection {
  // nullopt: no description. In [PENDING] an empty string is a pending empty description
  // (written as a lone "#").
  std::optional<std::string> description;
  std::map<std::string, std::string> values;
  // Container configs only: raw `lxc.*` lines in file order. They may repeat (several
  // lxc.cgroup2.devices.allow) and are written after the other keys, as pve-container does.
  std::vector<std::pair<std::string, std::string>> raw_lxc;

  bool has(const std::string& key) const { return values.count(key) != 0; }
  std::optional<std::string> get(const std::string& key) const;
  std::string get_or(const std::string& key, const std::string& fallback) const;
};

struct GuestConfig {
  ConfigSection main;
  ConfigSection pending;                       // [PENDING]; empty values = none
  std::map<std::string, bool> pending_delete;  // key -> forced ("!key" in `delete:`)
  std::map<std::string, ConfigSection> special;    // "cloudinit", "fleecing"
  std::map<std::string, ConfigSection> snapshots;  // by name

  bool has_pending() const { return !pending.values.empty() || !pending_delete.empty() || pending.description; }
};

// Lenient as PVE's reader: unknown sections and malformed lines are skipped with a warning
// ("vm 100 - unable to parse config: <line>"); `cdrom:` is read as `ide2:`. `vmid` only words warnings.
GuestConfig parse_guest_config(std::string_view text, std::int64_t vmid = 0,
                               std::vector<std::string>* warnings = nullptr);
// PVE's writer: main section, then [PENDING], [special:*], snapshots sorted by name, each after
// an empty line; `unusedN` entries naming a volume a drive key also names are dropped.
std::string print_guest_config(const GuestConfig& config);

// Store paths: "nodes/<node>/qemu-server/<vmid>.conf", "nodes/<node>/lxc/<vmid>.conf".
std::string qemu_config_path(const std::string& node, std::int64_t vmid);
std::string lxc_config_path(const std::string& node, std::int64_t vmid);

// The `lock:` values PVE knows, and the message a locked guest answers: "VM is locked (backup)".
bool is_known_lock(std::string_view lock);
// Throws Error 500 "VM is locked (<lock>)" when the main section has a `lock` (unless skiplock).
void check_not_locked(const GuestConfig& config, bool skiplock = false);

// The next free `unusedN` key of the main section.
std::string next_unused_key(const ConfigSection& section);
// Adds `volid` as `unusedN` unless some key (drive or unused) of the section already names it.
// Returns the key used, or "" when it was already referenced.
std::string add_unused_volume(ConfigSection& section, const std::string& volid);

}  // namespace pvx::guest
