#include "storage/plugins/iscsi_commands.h"

#include <algorithm>
#include <fstream>
#include <regex>

#include "base/error.h"
#include "base/strings.h"
#include "storage/plugins/block_util.h"

namespace pvx::storage::iscsi {
namespace fs = std::filesystem;

std::vector<Node> parse_nodes(std::string_view output) {
  static const std::regex kLine(R"((\S+:\d+),\S+\s+(\S+))");
  std::vector<Node> out;
  for (const auto& line : block::lines(output)) {
    std::smatch m;
    if (std::regex_match(line, m, kLine)) out.push_back({m[1].str(), m[2].str()});
  }
  return out;
}

std::vector<Session> parse_sessions(std::string_view output) {
  static const std::regex kLine(R"(tcp:\s+\[(\S+)\]\s+(\S+:\d+),\S+\s+(\S+)(\s+\S+)?)");
  std::vector<Session> out;
  for (const auto& line : block::lines(output)) {
    std::smatch m;
    if (std::regex_match(line, m, kLine)) out.push_back({m[1].str(), m[2].str(), m[3].str()});
  }
  return out;
}

std::vector<std::string> discovery_argv(const std::string& portal) {
  return {"iscsiadm", "--mode", "discovery", "--type", "sendtargets", "--portal", portal};
}
std::vector<std::string> nodes_argv() { return {"iscsiadm", "--mode", "node"}; }
std::vector<std::string> sessions_argv() { return {"iscsiadm", "--mode", "session"}; }
std::vector<std::string> login_argv(const std::string& target) {
  return {"iscsiadm", "--mode", "node", "--targetname", target, "--login"};
}
std::vector<std::string> rescan_argv(const std::string& session_id) {
  return {"iscsiadm", "--mode", "session", "--sid", session_id, "--rescan"};
}

bool is_portal(std::string_view portal) {
  static const std::regex kPortal(
      R"((\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9\-.]*[A-Za-z0-9])?)(:\d{1,5})?)");
  return !portal.empty() && portal.size() < 256 && std::regex_match(portal.begin(), portal.end(), kPortal);
}

namespace {

std::string first_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return std::string(trim(line));
}

// Entries of `dir` whose names match `re`, sorted; empty when the directory is missing.
std::vector<std::pair<std::string, std::smatch>> matching(const fs::path& dir, const std::regex& re,
                                                          std::vector<std::string>& storage) {
  std::error_code ec;
  storage.clear();
  for (const auto& e : fs::directory_iterator(dir, ec)) storage.push_back(e.path().filename().string());
  std::sort(storage.begin(), storage.end());
  std::vector<std::pair<std::string, std::smatch>> out;
  for (const auto& name : storage) {
    std::smatch m;
    if (std::regex_match(name, m, re)) out.emplace_back(name, m);
  }
  return out;
}

// Block device name -> stable name under by-id (whole disks only).
std::map<std::string, std::string> stable_names(const fs::path& by_id_dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(by_id_dir, ec)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  static const std::regex kPart(R"(.*-part\d+)");
  for (const auto& name : names) {
    if (std::regex_match(name, kPart)) continue;
    if (!name.starts_with("scsi-") && !name.starts_with("dm-uuid-mpath-")) continue;
    auto target = fs::read_symlink(by_id_dir / name, ec);
    if (ec) continue;
    auto t = target.string();
    if (!t.starts_with("../../")) continue;
    auto dev = t.substr(6);
    if (dev.empty() || dev.find('/') != std::string::npos) continue;
    out[dev] = name;
  }
  return out;
}

}  // namespace

std::map<std::string, std::vector<Lun>> device_list(const fs::path& sys, const fs::path& by_id_dir) {
  std::map<std::string, std::vector<Lun>> out;
  auto stable = stable_names(by_id_dir);
  static const std::regex kSession(R"(session(\d+))");
  static const std::regex kTarget(R"(target(\d+):.*)");
  static const std::regex kName(R"([A-Za-z]\S*)");
  std::vector<std::string> scratch1, scratch2, scratch3;
  for (const auto& [session, sm] : matching(sys / "class/iscsi_session", kSession, scratch1)) {
    auto target = first_line(sys / "class/iscsi_session" / session / "targetname");
    if (target.empty()) continue;
    auto targets = matching(sys / "class/iscsi_session" / session / "device", kTarget, scratch2);
    if (targets.empty()) continue;
    std::string host = targets.front().second[1].str();
    const std::regex kDevice(host + R"(:(\d+):(\d+):(\d+))");
    std::vector<std::string> scratch_dev;
    for (const auto& [dev, dm] : matching(sys / "bus/scsi/devices", kDevice, scratch_dev)) {
      auto devdir = sys / "bus/scsi/devices" / dev;
      if (first_line(devdir / "type") != "0") continue;  // disks only
      auto blocks = matching(devdir / "block", kName, scratch3);
      if (blocks.empty()) continue;
      std::string bdev = blocks.front().first;
      // With multipath the dm device holding the disk is what by-id names.
      auto holders = matching(sys / "block" / bdev / "holders", kName, scratch3);
      if (!holders.empty()) bdev = holders.front().first;
      auto it = stable.find(bdev);
      if (it == stable.end()) continue;
      auto sectors = block::to_int(first_line(sys / "block" / bdev / "size"));
      if (!sectors || *sectors == 0) continue;
      Lun lun;
      lun.channel = std::stoi(dm[1].str());
      lun.id = std::stoi(dm[2].str());
      lun.lun = std::stoi(dm[3].str());
      lun.by_id = it->second;
      lun.size = *sectors * 512;
      lun.volname = dm[1].str() + "." + dm[2].str() + "." + dm[3].str() + "." + it->second;
      out[target].push_back(std::move(lun));
    }
  }
  return out;
}

std::vector<std::string> iscsi_ls_argv(const std::string& portal) {
  return {"iscsi-ls", "-s", "iscsi://" + portal};
}

std::vector<LsLun> parse_iscsi_ls(std::string_view output) {
  static const std::regex kTarget(R"(Target:(\S+)\s+Portal:\S+)");
  static const std::regex kLun(R"(Lun:(\d+)\s+Type:(\S+)(\s+\(Size:([0-9.]+)([kMGT])\))?)");
  std::vector<LsLun> out;
  std::string target;
  for (const auto& line : block::lines(output)) {
    std::smatch m;
    if (std::regex_match(line, m, kTarget)) {
      target = m[1].str();
    } else if (std::regex_match(line, m, kLun) && !target.empty()) {
      LsLun l;
      l.target = target;
      l.lun = std::stoi(m[1].str());
      l.type = m[2].str();
      if (m[3].matched) {
        double unit = 1024.0;
        switch (m[5].str()[0]) {
          case 'T': unit *= 1024.0; [[fallthrough]];
          case 'G': unit *= 1024.0; [[fallthrough]];
          case 'M': unit *= 1024.0; break;
          default: break;
        }
        l.size = static_cast<std::int64_t>(std::stod(m[4].str()) * unit);
      }
      out.push_back(std::move(l));
    }
  }
  return out;
}

std::string lun_url(const std::string& portal, const std::string& target, int lun) {
  return "iscsi://" + portal + "/" + target + "/" + std::to_string(lun);
}

std::int64_t parse_readcapacity16(std::string_view output) {
  for (const auto& line : block::lines(output)) {
    if (line.starts_with("Total size:")) {
      if (auto v = block::to_int(trim(std::string_view(line).substr(11)))) return *v;
    }
  }
  throw Error("unexpected output of iscsi-readcapacity16: no 'Total size'", 500);
}

LunPlugin::LunPlugin(std::string type) {
  using Opt = PluginInfo::Option;
  info_.type = std::move(type);
  info_.content = {"images"};
  info_.default_content = {"images"};
  info_.formats = {"raw"};
  info_.default_format = "raw";
  info_.shared = true;
  info_.select_existing = true;
  info_.options = {{"portal", Opt::FixedRequired}, {"target", Opt::FixedRequired}, {"nodes", Opt::Optional},
                   {"disable", Opt::Optional},     {"content", Opt::Optional},      {"bwlimit", Opt::Optional}};
}

void LunPlugin::on_add(StorageDef& def) const {
  if (!is_portal(def.str("portal"))) throw Error::param("portal", "invalid portal '" + def.str("portal") + "'");
}

std::string LunPlugin::alloc_image(const StorageDef& def, std::int64_t, const std::string&, const std::string&,
                                   std::int64_t) const {
  unsupported(def, "allocating volumes (iSCSI LUNs are managed on the target)");
}

void LunPlugin::free_image(const StorageDef& def, std::string_view) const {
  unsupported(def, "freeing volumes (iSCSI LUNs are managed on the target)");
}

bool LunPlugin::has_feature(const StorageDef& def, Feature feature, std::string_view volname,
                            std::string_view snapshot) const {
  auto v = parse_volname(def, volname);
  return feature == Feature::Copy && block::volume_state(v, snapshot) == block::VolumeState::Current;
}

}  // namespace pvx::storage::iscsi
