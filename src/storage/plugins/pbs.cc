// Storage type `pbs`: backups on a Proxmox Backup Server datastore, driven through
// proxmox-backup-client. Holds backups only; the password (or API token secret) and the
// encryption key are sensitive and reach the client through its environment. Without the
// client installed every operation fails with an error naming it.
#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/pbs_commands.h"
#include "storage/plugins/plugins.h"

namespace pvx::storage::plugins {
namespace {

using Opt = PluginInfo::Option;

std::string run_client(const StorageDef& def, const std::vector<std::string>& cmd, bool json = true) {
  if (!command_exists(pbs::kClient)) {
    throw Error("storage '" + def.id + "': " + std::string(pbs::kClient) +
                    " is not installed - install the Proxmox Backup client to use PBS storage",
                500);
  }
  auto remote = pbs::remote_of(def);
  CommandOptions opts;
  opts.env = pbs::client_env(remote);
  opts.timeout = std::chrono::minutes(2);
  return run_command(pbs::client_argv(remote, cmd, json), opts).out;
}

class PbsPlugin : public StoragePlugin {
 public:
  const PluginInfo& info() const override {
    static const PluginInfo kInfo{
        .type = "pbs",
        .content = {"backup"},
        .default_content = {"backup"},
        .shared = true,
        .sensitive = {"encryption-key", "master-pubkey", "password"},
        .options = {{"server", Opt::FixedRequired},
                    {"datastore", Opt::FixedRequired},
                    {"namespace", Opt::Optional},
                    {"port", Opt::Optional},
                    {"nodes", Opt::Optional},
                    {"disable", Opt::Optional},
                    {"content", Opt::Optional},
                    {"username", Opt::Optional},
                    {"password", Opt::Optional},
                    {"encryption-key", Opt::Optional},
                    {"master-pubkey", Opt::Optional},
                    {"prune-backups", Opt::Optional},
                    {"max-protected-backups", Opt::Optional},
                    {"fingerprint", Opt::Optional}},
    };
    return kInfo;
  }

  // Reaching the datastore with the given credentials is the check PVE does too.
  void activate(const StorageDef& def) const override { run_client(def, {"status"}); }

  StorageStatus status(const StorageDef& def) const override {
    try {
      return pbs::parse_status(run_client(def, {"status"}));
    } catch (const Error&) {
      return StorageStatus{};
    }
  }

  VolumeName parse_volname(const StorageDef&, std::string_view volname) const override {
    auto s = pbs::parse_volname(volname);
    VolumeName v;
    v.vtype = "backup";
    v.name = s.type + "/" + s.id + "/" + std::string(volname.substr(volname.rfind('/') + 1));
    bool numeric = !s.id.empty() && s.id.find_first_not_of("0123456789") == std::string::npos && s.id.size() < 10;
    v.vmid = numeric ? std::stoll(s.id) : 0;
    v.format = "pbs-" + s.type;
    return v;
  }

  std::string path(const StorageDef& def, std::string_view volname, std::string_view snapshot) const override {
    if (!snapshot.empty()) throw Error::param("snapshot", "volume snapshot is not possible on pbs storage");
    auto v = parse_volname(def, volname);
    std::string p = "pbs://" + pbs::repository(pbs::remote_of(def)) + "/" + v.name;
    auto ns = def.str("namespace");
    if (!ns.empty()) {
      std::string escaped;
      for (char c : ns) escaped += c == '/' ? std::string("%2f") : std::string(1, c);
      p += "?ns=" + escaped;
    }
    return p;
  }

  std::string alloc_image(const StorageDef& def, std::int64_t, const std::string&, const std::string&,
                          std::int64_t) const override {
    unsupported(def, "allocating disk images");
  }

  void free_image(const StorageDef& def, std::string_view volname) const override {
    run_client(def, {"snapshot", "forget", parse_volname(def, volname).name}, false);
  }

  std::vector<VolumeInfo> list_volumes(const StorageDef& def, const ContentSet& content,
                                       std::int64_t vmid) const override {
    if (!content.empty() && !content.count("backup")) return {};
    return pbs::parse_snapshot_list(run_client(def, {"snapshot", "list"}), def.id, vmid);
  }

  VolumeSize volume_size(const StorageDef& def, std::string_view volname) const override {
    auto v = parse_volname(def, volname);
    auto size = pbs::parse_files_size(run_client(def, {"snapshot", "files", v.name}));
    return VolumeSize{.size = size, .used = size, .format = v.format};
  }

  bool has_feature(const StorageDef&, Feature, std::string_view, std::string_view) const override { return false; }

  std::string get_notes(const StorageDef& def, std::string_view volname) const override {
    return pbs::parse_notes(run_client(def, {"snapshot", "notes", "show", parse_volname(def, volname).name}));
  }

  void set_notes(const StorageDef& def, std::string_view volname, const std::string& notes) const override {
    run_client(def, {"snapshot", "notes", "update", parse_volname(def, volname).name, notes}, false);
  }

  bool get_protected(const StorageDef& def, std::string_view volname) const override {
    auto out = run_client(def, {"snapshot", "protected", "show", parse_volname(def, volname).name});
    auto j = Json::parse(out, nullptr, false);
    if (j.is_boolean()) return j.get<bool>();
    if (j.is_object()) return j.value("protected", false);
    return out.find("true") != std::string::npos;
  }

  void set_protected(const StorageDef& def, std::string_view volname, bool on) const override {
    run_client(def, {"snapshot", "protected", "update", parse_volname(def, volname).name, on ? "true" : "false"},
               false);
  }
};

}  // namespace

std::unique_ptr<StoragePlugin> make_pbs() { return std::make_unique<PbsPlugin>(); }

}  // namespace pvx::storage::plugins
