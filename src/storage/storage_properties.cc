#include "storage/storage_properties.h"

#include <algorithm>
#include <map>

#include "storage/plugin_registry.h"

namespace pvx::storage {
namespace {

using namespace schema;

Schema bwlimit_schema() {
  auto limit = [](const char* what) {
    return number(std::string("bandwidth limit in KiB/s for ") + what).min(0).opt().fmt_desc("LIMIT");
  };
  return property_string({{"clone", limit("cloning disks")},
                          {"default", number("default bandwidth limit in KiB/s").min(0).opt().fmt_desc("LIMIT")},
                          {"migration", limit("migrating guests (including moving local disks)")},
                          {"move", limit("moving disks")},
                          {"restore", limit("restoring guests from backups")}},
                         {}, "Set I/O bandwidth limit for various operations (in KiB/s).");
}

std::vector<std::string> type_names() {
  std::vector<std::string> names;
  for (const auto* p : all_plugins()) names.push_back(p->info().type);
  return names;
}

std::vector<std::pair<std::string, Schema>> build_properties() {
  std::vector<std::pair<std::string, Schema>> p = {
      {"base", string("Base volume. This volume is automatically activated.").fmt("pve-volume-id")},
      {"blocksize", string("block size")},
      {"bwlimit", bwlimit_schema()},
      {"content", string("Allowed content types.\n\nNOTE: the value 'rootdir' is used for Containers, and value "
                         "'images' for VMs.\n")
                      .fmt("pve-storage-content-list")},
      {"content-dirs", string("Overrides for default content type directories.").fmt("pve-dir-override-list")},
      {"create-base-path", boolean("Create the base directory if it doesn't exist.").def("yes")},
      {"create-subdirs", boolean("Populate the directory with the default structure.").def("yes")},
      {"data-pool", string("Data Pool (for erasure coding only)")},
      {"datastore", string("Proxmox Backup Server datastore name.")},
      {"disable", boolean("Flag to disable the storage.")},
      {"domain", string("CIFS domain.").max_len(256)},
      {"encryption-key", string("Encryption key. Use 'autogen' to generate one automatically without passphrase.")},
      {"export", string("NFS export path.").fmt("pve-storage-path")},
      {"fingerprint", string("Certificate SHA 256 fingerprint.").pat("([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}")},
      {"format", enumeration({"raw", "qcow2", "subvol", "vmdk"}, "Default image format.")},
      {"fs-name", string("The Ceph filesystem name.").fmt("pve-configid")},
      {"fuse", boolean("Mount CephFS through FUSE.")},
      {"is_mountpoint",
       string("Assume the given path is an externally managed mountpoint and consider the storage offline if it is "
              "not mounted. Using a boolean (yes/no) value serves as a shortcut to using the target path in this "
              "field.")
           .def("no")},
      {"keyring", string("Client keyring contents (for external clusters).")},
      {"krbd", boolean("Always access rbd through krbd kernel module.").def(0)},
      {"master-pubkey", string("Base64-encoded, PEM-formatted public RSA key. Used to encrypt a copy of the "
                               "encryption-key which will be added to each encrypted backup.")},
      {"max-protected-backups",
       integer("Maximal number of protected backups per guest. Use '-1' for unlimited.")
           .min(-1)
           .def("Unlimited for users with Datastore.Allocate privilege, 5 for other users")},
      {"mkdir", boolean("Create the directory if it doesn't exist and populate it with default sub-dirs. NOTE: "
                        "Deprecated, use the 'create-base-path' and 'create-subdirs' options instead.")
                    .def("yes")},
      {"monhost", string("IP addresses of monitors (for external clusters).").fmt("pve-storage-portal-dns-list")},
      {"mountpoint", string("mount point").fmt("pve-storage-path")},
      {"namespace", string("Namespace.")},
      {"nocow", boolean("Set the NOCOW flag on files. Disables data checksumming and causes data errors to be "
                        "unrecoverable from while allowing direct I/O. Only use this if data does not need to be any "
                        "more safe than on a single ext4 formatted disk with no underlying raid system.")
                    .def(0)},
      {"nodes", string("List of nodes for which the storage configuration applies.").fmt("pve-node-list")},
      {"options", string("NFS/CIFS mount options (see 'man nfs' or 'man mount.cifs')").fmt("pve-storage-options")},
      {"password", string("Password for accessing the share/datastore.").max_len(256)},
      {"path", string("File system path.").fmt("pve-storage-path")},
      {"pool", string("Pool.")},
      {"port", integer("Use this port to connect to the storage instead of the default one (for example, with "
                       "PBS or ESXi). For NFS and CIFS, use the 'options' option to configure the port via the "
                       "mount options.")
                   .min(1)
                   .max(65535)},
      {"portal", string("iSCSI portal (IP or DNS name with optional port).").fmt("pve-storage-portal-dns")},
      {"preallocation", enumeration({"off", "metadata", "falloc", "full"},
                                    "Preallocation mode for raw and qcow2 images. Using 'metadata' on raw images "
                                    "results in preallocation=off.")
                            .def("metadata")},
      {"prune-backups", prune_backups_schema()},
      {"saferemove", boolean("Zero-out data when removing LVs.")},
      {"saferemove-stepsize", integer("Wipe step size in MiB. It will be capped to the maximum step size supported "
                                      "by the storage.")
                                  .def(32)},
      {"saferemove_throughput", string("Wipe throughput (cstream -t parameter value).")},
      {"server", string("Server IP or DNS name.").fmt("pve-storage-server")},
      {"server2", string("Backup volfile server IP or DNS name (glusterfs).").fmt("pve-storage-server").req("server")},
      {"share", string("CIFS share.")},
      {"shared", boolean("Indicate that this is a single storage with the same contents on all nodes (or all "
                         "listed in the 'nodes' option). It will not make the contents of a local storage "
                         "automatically accessible to other nodes, it just marks an already shared storage as such!")},
      {"smbversion", enumeration({"default", "2.0", "2.1", "3", "3.0", "3.11"},
                                 "SMB protocol version. 'default' if not set, negotiates the highest SMB2+ version "
                                 "supported by both the client and server.")
                         .def("default")},
      {"snapshot-as-volume-chain", boolean("Enable support for creating storage-vendor agnostic snapshot through "
                                           "volume backing-chains.")
                                       .def(0)},
      {"sparse", boolean("use sparse volumes")},
      {"subdir", string("Subdir to mount.").fmt("pve-storage-path")},
      {"tagged_only", boolean("Only use logical volumes tagged with 'pve-vm-ID'.")},
      {"target", string("iSCSI target.")},
      {"thinpool", string("LVM thin pool LV name.").fmt("pve-storage-vgname")},
      {"transport", enumeration({"tcp", "rdma", "unix"}, "Gluster transport: tcp or rdma")},
      {"username", string("RBD Id.")},
      {"vgname", string("Volume group name.").fmt("pve-storage-vgname")},
      {"volume", string("Glusterfs Volume.")},
      {"zfs-base-path", string("Base path where to look for the created ZFS block devices. Set automatically "
                               "during creation if not specified. Usually '/dev/zvol'.")
                            .fmt("pve-storage-path")},
  };
  for (auto& [name, s] : p) s.optional = true;
  std::sort(p.begin(), p.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return p;
}

const std::map<std::string, std::string>& secret_suffixes() {
  static const std::map<std::string, std::string> m = {
      {"password", ".pw"}, {"keyring", ".keyring"}, {"encryption-key", ".enc"}, {"master-pubkey", ".master.pem"}};
  return m;
}

}  // namespace

Schema prune_backups_schema() {
  auto keep = [](const char* what) { return integer(std::string("Keep the ") + what).min(1).opt().fmt_desc("N"); };
  return property_string({{"keep-all", boolean("Keep all backups. Conflicts with the other options when true.").opt()},
                          {"keep-daily", keep("backups of the last <N> different days. If there is morethan one backup for a single day, only the latest one is kept.")},
                          {"keep-hourly", keep("backups of the last <N> different hours.")},
                          {"keep-last", keep("last <N> backups.")},
                          {"keep-monthly", keep("backups of the last <N> different months.")},
                          {"keep-weekly", keep("backups of the last <N> different weeks.")},
                          {"keep-yearly", keep("backups of the last <N> different years.")}},
                         {}, "The retention options with shorter intervals are processed first with --keep-last "
                             "being the very first one. Each option covers a specific period of time. We say that "
                             "backups within this period are covered by this option. The next option does not take "
                             "care of already covered backups and only considers older backups.")
      ;
}

const std::vector<std::pair<std::string, Schema>>& storage_properties() {
  static const auto props = build_properties();
  return props;
}

const Schema* storage_property(const std::string& name) {
  const auto& props = storage_properties();
  auto it = std::lower_bound(props.begin(), props.end(), name, [](const auto& p, const std::string& n) { return p.first < n; });
  return it != props.end() && it->first == name ? &it->second : nullptr;
}

const config::SectionConfig& storage_section_config() {
  static const config::SectionConfig cfg = [] {
    std::vector<config::SectionType> types;
    for (const auto* plugin : all_plugins()) {
      std::vector<std::pair<std::string, Schema>> keys;
      for (const auto& [name, mode] : plugin->info().options) {
        const Schema* s = storage_property(name);
        if (!s) throw std::logic_error("storage type " + plugin->info().type + " declares unknown key " + name);
        if (secret_suffixes().count(name)) continue;  // secrets never live in storage.cfg
        keys.emplace_back(name, Schema(*s));
      }
      types.push_back({plugin->info().type, ref(object(std::move(keys))), "pve-storage-id"});
    }
    return config::SectionConfig(std::move(types));
  }();
  return cfg;
}

Schema storage_create_parameters() {
  std::vector<std::pair<std::string, Schema>> p;
  p.emplace_back("storage", std_opt::storage_id().desc("The storage identifier."));
  p.emplace_back("type", enumeration(type_names(), "Storage type."));
  for (const auto& [name, s] : storage_properties()) p.emplace_back(name, Schema(s));
  return object(std::move(p));
}

Schema storage_update_parameters() {
  std::map<std::string, bool> fixed_everywhere;
  for (const auto& [name, s] : storage_properties()) fixed_everywhere[name] = true;
  for (const auto* plugin : all_plugins()) {
    for (const auto& [name, mode] : plugin->info().options) {
      if (mode == PluginInfo::Option::Optional || mode == PluginInfo::Option::Required) fixed_everywhere[name] = false;
    }
  }
  std::vector<std::pair<std::string, Schema>> p;
  p.emplace_back("storage", std_opt::storage_id().desc("The storage identifier."));
  p.emplace_back("delete", string("A list of settings you want to delete.").fmt("pve-configid-list").max_len(4096).opt());
  p.emplace_back("digest", std_opt::digest());
  for (const auto& [name, s] : storage_properties()) {
    if (!fixed_everywhere[name]) p.emplace_back(name, Schema(s));
  }
  return object(std::move(p));
}

std::string secret_file(const std::string& storage, const std::string& key) {
  auto it = secret_suffixes().find(key);
  if (it == secret_suffixes().end()) return {};
  return "priv/storage/" + storage + it->second;
}

}  // namespace pvx::storage
