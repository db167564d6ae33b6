// Scans for block storage: iSCSI targets of a portal, ZFS pools, LVM volume groups and thin
// pools. Parsing reuses the plugins' command helpers so both read the tools the same way.
#include <map>
#include <regex>

#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/block_util.h"
#include "storage/plugins/iscsi_commands.h"
#include "storage/plugins/lvm_commands.h"
#include "storage/scan.h"

namespace pvx::storage::scan {

std::vector<IscsiTarget> parse_iscsi_discovery(std::string_view output) {
  // One line per portal of a target; the API lists each target once with its portals joined.
  std::vector<IscsiTarget> out;
  std::map<std::string, std::size_t> index;
  for (const auto& node : iscsi::parse_nodes(output)) {
    auto it = index.find(node.target);
    if (it == index.end()) {
      index[node.target] = out.size();
      out.push_back({node.target, node.portal});
    } else {
      out[it->second].portal += "," + node.portal;
    }
  }
  return out;
}

std::vector<ZfsPool> parse_zfs_pools(std::string_view output) {
  // Datasets the zfspool type creates for containers are volumes, not pools to add.
  static const std::regex kGuestVolume(R"(.*/(subvol|basevol)-\d+-[^/]+)");
  std::vector<ZfsPool> out;
  for (const auto& line : block::lines(output)) {
    auto name = block::fields(line, '\t')[0];
    if (name.empty() || std::regex_match(name, kGuestVolume)) continue;
    out.push_back({name});
  }
  return out;
}

std::vector<LvmVg> parse_vgs(std::string_view output) {
  std::vector<LvmVg> out;
  for (const auto& vg : lvm::parse_vgs(output)) out.push_back({vg.name, vg.size, vg.free});
  return out;
}

std::vector<LvmThinPool> parse_thinpools(std::string_view output, std::string_view vg) {
  std::vector<LvmThinPool> out;
  for (const auto& lv : lvm::parse_lvs(output)) {
    if (lv.type() == 't' && lv.vg == vg) out.push_back({lv.name});
  }
  return out;
}

std::vector<IscsiTarget> iscsi(const std::string& portal) {
  if (!iscsi::is_portal(portal)) throw Error::param("portal", "invalid portal address '" + portal + "'");
  if (!command_exists("iscsiadm")) throw Error("no iscsi support - please install open-iscsi (iscsiadm not found)", 500);
  CommandOptions opts;
  opts.timeout = std::chrono::seconds(30);
  return parse_iscsi_discovery(run_command(iscsi::discovery_argv(portal), opts).out);
}

std::vector<ZfsPool> zfs() {
  return parse_zfs_pools(run_command({"zfs", "list", "-t", "filesystem", "-Hp", "-o", "name,avail,used"}).out);
}

std::vector<LvmVg> lvm() {
  std::vector<LvmVg> out;
  for (const auto& vg : lvm::list_vgs()) out.push_back({vg.name, vg.size, vg.free});
  return out;
}

std::vector<LvmThinPool> lvmthin(const std::string& vg) {
  static const std::regex kVgName(R"([a-zA-Z0-9.+_][a-zA-Z0-9.+_\-]+)");
  if (!std::regex_match(vg, kVgName)) throw Error::param("vg", "invalid volume group name '" + vg + "'");
  CommandOptions opts;
  opts.env = {"LVM_SUPPRESS_FD_WARNINGS=1"};
  return parse_thinpools(run_command(lvm::lvs_argv(vg), opts).out, vg);
}

}  // namespace pvx::storage::scan
