#pragma once
// Cloud-init for VMs as qemu-server does it: the config's ci* keys (ciuser, cipassword, sshkeys,
// ipconfigN, nameserver, searchdomain, citype, ciupgrade, cicustom) become NoCloud (or
// ConfigDrive v2, or OpenNebula) files, written into an ISO 9660 image labelled "cidata"
// ("config-2", "CONTEXT") that a cloud-init drive (`ide2: local:100/vm-100-cloudinit.qcow2`)
// attaches. Generation is pure (the host's DNS comes in as data); only make_cloudinit_iso runs
// a tool. Where the image lives and how it is regenerated at start: cloudinit_volume.h.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guest/guest_config.h"
#include "schema/schema.h"

namespace pvx::guest::qemu {

struct CloudInitFiles {
  std::string citype;  // nocloud | configdrive2 | opennebula
  std::string label;   // ISO volume id: "cidata", "config-2", "CONTEXT"
  // path inside the image -> content ("user-data", "meta-data", "network-config", "vendor-data"
  // for NoCloud; "openstack/latest/user_data", ... for configdrive2).
  std::map<std::string, std::string> files;
};

// Reads a `cicustom` snippet ("local:snippets/user.yaml") for the part it replaces.
using SnippetReader = std::function<std::string(const std::string& volid)>;

// The host's resolver settings, used when the config sets no `nameserver` / `searchdomain`
// (as PVE reads /etc/resolv.conf): up to three name servers.
struct HostDns {
  std::vector<std::string> search;
  std::vector<std::string> nameservers;
};
HostDns parse_resolv_conf(std::string_view text);
HostDns read_host_dns(const std::filesystem::path& resolv_conf = "/etc/resolv.conf");

// `citype`, or by `ostype`: configdrive2 for Windows (cloudbase-init), else nocloud.
std::string cloudinit_format(const ConfigSection& conf);
// PVE's windows_version: 5 (wxp, w2k, w2k3), 6 (w2k8, wvista), N for winN, 0 for others.
int windows_version(std::string_view ostype);

// `conf` is the main section (the applied config). The host DNS is read from /etc/resolv.conf
// when not given. Throws Error 500 "network interface 'net0' has no mac address",
// "Cloud-Init sum of snippets too big (> 3 MiB)", or the snippet reader's error.
CloudInitFiles generate_cloudinit(std::int64_t vmid, const ConfigSection& conf, const SnippetReader& read_snippet,
                                  const std::optional<HostDns>& host_dns = std::nullopt);

// One part as GET /cloudinit/dump?type=user|network|meta returns it: always the generated text
// (PVE's dump ignores `cicustom`); `mask_password` prints the password as "**********" (callers
// without VM.Config.Cloudinit). meta-data is computed from the unmasked user-data.
std::string cloudinit_dump(std::int64_t vmid, const ConfigSection& conf, const std::string& type, bool mask_password,
                           const std::optional<HostDns>& host_dns = std::nullopt);

// Writes the files into an ISO at `iso_path` (genisoimage -iso-level 3, Joliet + Rock Ridge,
// volume id files.label), atomically (temp file + rename). Throws Error 500 with the tool's
// message on failure.
void make_cloudinit_iso(const CloudInitFiles& files, const std::filesystem::path& iso_path);

// The keys that feed the image (the cloud-init options and ipconfigN).
bool is_cloudinit_key(std::string_view key);
// The keys whose changes [special:cloudinit] records (PVE's cloudinit_pending_properties): the
// cloud-init keys plus `name` and netN.
bool is_cloudinit_tracked_key(std::string_view key);

// Records in [special:cloudinit] that `key` changed from `old_value` to `new_value` (nullopt =
// absent) since the image was made, as PVE does when a change is applied: the first old value
// is kept, reverting drops the record, new keys go into `added`. Callers that apply config
// changes (update, pending apply, hotplug) call it for every key they change; untracked keys
// are ignored.
void record_cloudinit_change(GuestConfig& config, const std::string& key, const std::optional<std::string>& old_value,
                             const std::optional<std::string>& new_value);

// GET /cloudinit: [{key, value?, pending?, delete?}] comparing the config with what the current
// image was made from (the [special:cloudinit] section); cipassword masked.
schema::Json cloudinit_pending(const GuestConfig& config);

// cipassword as stored: a SHA-512 crypt hash ("$6$<16 char salt>$...") unless it already is a
// crypt hash ($1$, $5$, $6$, $2a$, $2y$); Windows guests (`ostype` w*) keep the plain text, as
// cloudbase-init needs it.
std::string hash_cipassword(const std::string& password, const std::string& ostype);

}  // namespace pvx::guest::qemu
