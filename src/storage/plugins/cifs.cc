// CIFS/SMB: a directory storage on a mounted SMB share (PVE's CIFSPlugin). The password is a
// sensitive key: mount.cifs reads it from a private credentials file, never from the argv.
#include <algorithm>
#include <cctype>

#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/netfs_mount.h"
#include "storage/plugins/plugins.h"

namespace pvx::storage {
namespace {

constexpr int kSmbPort = 445;

std::string cifs_subdir(const StorageDef& def) {
  std::string subdir = def.str("subdir");
  if (!subdir.empty() && subdir.front() != '/') subdir.insert(subdir.begin(), '/');
  while (subdir.size() > 1 && subdir.back() == '/') subdir.pop_back();
  return subdir == "/" ? "" : subdir;
}

std::string cifs_source(const StorageDef& def) {
  return "//" + bracket_ipv6(def.str("server")) + "/" + def.str("share") + cifs_subdir(def);
}

// Values joined into a comma-separated -o list must not carry their own commas.
void check_option_value(const std::string& key, const std::string& value) {
  if (value.find_first_of(",\n") != std::string::npos)
    throw Error::param(key, "must not contain ',' or newlines");
}

class CifsStorage final : public MountedFileStorage {
 public:
  CifsStorage() {
    using O = PluginInfo::Option;
    set_network_info("cifs", {},
                     {{"path", O::FixedRequired},
                      {"server", O::FixedRequired},
                      {"share", O::FixedRequired},
                      {"subdir", O::Optional},
                      {"username", O::Optional},
                      {"password", O::Optional},
                      {"domain", O::Optional},
                      {"smbversion", O::Optional},
                      {"options", O::Optional},
                      {"snapshot-as-volume-chain", O::Fixed}});
    info_.sensitive = {"password"};
  }

 protected:
  bool is_our_mount(const StorageDef& def, const std::vector<MountEntry>& mounts) const override {
    const std::string source = cifs_source(def);
    for (const auto& m : mounts) {
      if (!m.fstype.starts_with("cifs") && !m.fstype.starts_with("smb3")) continue;
      if (m.source != source && m.source != source + "/") continue;
      if (same_path(m.target, def.path())) return true;
    }
    return false;
  }

  std::vector<Endpoint> endpoints(const StorageDef& def) const override { return cifs_endpoints(def); }

  void mount(const StorageDef& def, const Endpoint&) const override {
    auto pw = def.secrets.find("password");
    bool with_password = pw != def.secrets.end() && !pw->second.empty() && !def.str("username").empty() &&
                         !cifs_uses_kerberos(def.str("options"));
    if (!with_password) {
      run_command(cifs_mount_argv(def, {}), {.timeout = mount_timeout(def)});
      return;
    }
    SecretFile credentials(cifs_credentials(pw->second));
    run_command(cifs_mount_argv(def, credentials.path().string()), {.timeout = mount_timeout(def)});
  }

};

}  // namespace

bool cifs_uses_kerberos(std::string_view options) {
  std::string opts;
  for (char c : options)
    if (!std::isspace(static_cast<unsigned char>(c))) opts += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::size_t pos = 0;
  while (pos <= opts.size()) {
    std::size_t end = opts.find(',', pos);
    if (end == std::string::npos) end = opts.size();
    std::string_view opt(opts.data() + pos, end - pos);
    if (opt == "sec=krb5" || opt == "sec=krb5i" || opt == "sec=krb5p") return true;
    pos = end + 1;
  }
  return false;
}

std::string cifs_credentials(const std::string& password) {
  if (password.find_first_of("\n\r") != std::string::npos)
    throw Error::param("password", "must not contain newlines");
  return "password=" + password + "\n";
}

std::vector<std::string> cifs_mount_argv(const StorageDef& def, const std::string& credentials_file) {
  check_server("server", def.str("server"));
  const std::string share = def.str("share");
  if (share.empty() || share.find_first_of("/\\\n") != std::string::npos)
    throw Error::param("share", "invalid share name '" + share + "'");
  std::vector<std::string> argv{"mount", "-t", "cifs", cifs_source(def), mount_point(def).string(), "-o", "soft"};
  const std::string options = def.str("options");
  if (cifs_uses_kerberos(options)) {
    // The Kerberos ticket names the user; username/domain would be informational only.
  } else if (!credentials_file.empty()) {
    const std::string user = def.str("username");
    check_option_value("username", user);
    argv.insert(argv.end(), {"-o", "username=" + user, "-o", "credentials=" + credentials_file});
    if (auto domain = def.str("domain"); !domain.empty()) {
      check_option_value("domain", domain);
      argv.insert(argv.end(), {"-o", "domain=" + domain});
    }
  } else {
    argv.insert(argv.end(), {"-o", "guest,username=guest"});
  }
  const std::string version = def.str("smbversion", "default");
  check_option_value("smbversion", version);
  argv.insert(argv.end(), {"-o", "vers=" + version});
  if (!options.empty()) argv.insert(argv.end(), {"-o", options});
  return argv;
}

std::vector<Endpoint> cifs_endpoints(const StorageDef& def) {
  int port = port_option(def.str("options"));
  return {{def.str("server"), port > 0 ? port : kSmbPort}};
}

namespace plugins {
std::unique_ptr<StoragePlugin> make_cifs() { return std::make_unique<CifsStorage>(); }
}  // namespace plugins

}  // namespace pvx::storage
