#pragma once
// LVM tool invocations and report parsing for the lvm and lvmthin types, as pure functions so
// tests check argv and parsing without device-mapper. Reports use ':' separated fields, byte
// units without suffix and no headings (the layout PVE reads too).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pvx::storage::lvm {

struct VgInfo {
  std::string name;
  std::int64_t size = 0, free = 0, lv_count = 0;
};

struct LvInfo {
  std::string vg, name;
  std::int64_t size = 0;
  std::string attr;        // lv_attr, e.g. "-wi-a-----", "twi-aotz--", "Vwi-a-tz--"
  std::string pool_lv;     // thin pool of a thin volume
  std::vector<std::string> tags;
  std::int64_t ctime = 0;
  std::int64_t metadata_size = 0;
  std::int64_t used = 0;   // thin pools: data_percent of size
  std::int64_t metadata_used = 0;

  char type() const { return attr.empty() ? '-' : attr[0]; }     // '-' linear, 't' thin pool, 'V' thin volume
  bool active() const { return attr.size() > 4 && attr[4] == 'a'; }
  bool has_tag(std::string_view tag) const;
};

std::vector<std::string> vgs_argv();
std::vector<VgInfo> parse_vgs(std::string_view output);

// vg empty = every VG.
std::vector<std::string> lvs_argv(const std::string& vg);
std::vector<LvInfo> parse_lvs(std::string_view output);
std::vector<std::string> lv_size_argv(const std::string& device);

// A linear LV of `size_kib` KiB, not auto-activated at boot, tagged pve-vm-<vmid>.
std::vector<std::string> lvcreate_argv(const std::string& vg, const std::string& name, std::int64_t size_kib,
                                       const std::vector<std::string>& tags);
std::vector<std::string> lvremove_argv(const std::string& vg, const std::string& name);
std::vector<std::string> lvrename_argv(const std::string& vg, const std::string& from, const std::string& to);
std::vector<std::string> lvextend_argv(const std::string& device, std::int64_t size_kib);
std::vector<std::string> lvchange_activate_argv(const std::string& target, bool on);

// Thin provisioning.
std::vector<std::string> thin_create_argv(const std::string& vg, const std::string& pool, const std::string& name,
                                          std::int64_t size_kib);
std::vector<std::string> set_autoactivation_argv(const std::string& vg, const std::string& name, bool on);
// Read-only thin snapshot "snap_<volname>_<snap>".
std::vector<std::string> thin_snapshot_argv(const std::string& vg, const std::string& volname, const std::string& snap);
// Writable thin snapshot `name` of `source_lv` ("vg/lv"), activated without skip flag: a clone.
std::vector<std::string> thin_clone_argv(const std::string& source_lv, const std::string& name);
// Re-creates `volname` from its snapshot (after the current LV was removed).
std::vector<std::string> thin_rollback_argv(const std::string& vg, const std::string& volname,
                                            const std::string& snap);
std::string thin_snapshot_lv(std::string_view volname, std::string_view snap);

// "<n>k": LVM rounds up to whole extents itself.
std::string size_arg_kib(std::int64_t size_kib);

// --- running the tools (vgs/lvs with the report options above)
std::vector<VgInfo> list_vgs();
std::vector<LvInfo> list_lvs(const std::string& vg);
std::vector<std::string> run(const std::vector<std::string>& argv);  // output lines

// Shared by lvm and lvmthin: the size of the LV at `device` in bytes (500 naming `volname` when
// lvs reports none), growing it to `size_bytes`, and removing an LV while cleaning up after a
// failure (errors ignored: the first error is the one to report).
std::int64_t lv_bytes(const std::string& device, std::string_view volname);
void lv_grow(const std::string& device, std::int64_t size_bytes);
void remove_quietly(const std::string& vg, const std::string& name);

}  // namespace pvx::storage::lvm
